"""The GL bridge: a host's GL textures in, the reconstructed frame written into the host's output texture.

``Bridge`` wraps a :class:`qwplugin.runtime.Context` for OpenGL hosts (raw PyOpenGL, moderngl's ``.glo``,
the mini engine). Per frame it

1. maps or reads the host's colour, motion and (optional) depth textures into the plugin's input contract
   (:class:`qwplugin.runtime.frame.Frame`: top-down arrays, motion in render pixels),
2. calls ``context.dispatch``,
3. writes the output (linear HDR RGB) into the host's output texture.

GL textures are stored bottom-up; the contract's arrays are top-down. The transfer flips rows **exactly
once** each way (:mod:`engine_bridge.transfer`). The transfer is CUDA-GL interop when GL runs on the NVIDIA
GPU the context uses, read-back/upload through preallocated arrays otherwise; ``transfer_reason`` says why.

Host textures (see ``docs/integration.md``; the full list of accepted internal formats is
:data:`engine_bridge.transfer.formats.ACCEPTED_FORMATS`), all ``GL_TEXTURE_2D`` of the render size:

============  ======================================  =============================================
input         format                                  contents
============  ======================================  =============================================
colour        RGBA16F/32F, RGB16F/32F,                linear HDR, this frame's jitter
              R11F_G11F_B10F, RGB9_E5 (RGB used)
motion        RG16F/32F (or RGB/RGBA 16F/32F, the     ``motion_vector_scale * texel`` = motion_px:
              first two channels used)                previous = current + motion, +x right, +y down
depth         R32F / R16F, or a                       as declared by ``ContextDesc.depth_convention``;
(optional)    ``GL_DEPTH_COMPONENT*`` texture         hardware depth needs ``"ndc"``/``"ndc_inverted"``
output        RGBA16F/32F, RGB16F/32F,                written with RGB = reconstruction, A = 1
              R11F_G11F_B10F
============  ======================================  =============================================

sRGB, 8-bit and integer textures, one-channel motion, multisample/array/cube textures are refused.

GL state: the bridge changes only :data:`engine_bridge.gl.state.TOUCHED_STATE` (the active unit's 2D
texture binding, the pixel pack/unpack buffer bindings and the pixel-store parameters) and restores all
of it before returning, also when it raises; GL errors the host left pending are cleared and reported
with a :class:`~engine_bridge.gl.state.HostGLErrorWarning`. Every check (values, then every texture's
name, target, size and format) runs before ``context.dispatch``: a refused call leaves the history as
it was.
"""

from __future__ import annotations

import math
import numbers
import statistics
import time
from collections import deque

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)

from OpenGL.raw.GL.VERSION.GL_1_1 import glGetString as _raw_get_string

from engine_bridge.gl.state import GuestState, drain_host_errors
from engine_bridge.transfer.formats import (ACCEPTED_FORMATS, DEPTH_INTERNAL_FORMATS, check_texture, format_list,
                                            format_name)
from engine_bridge.transfer.select import TRANSFERS, select_transfer
from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.runtime.validate import check_jitter, check_scalars

_GL_VERSION = 0x1F02

BRIDGE_STAGES = ("gl_input", "dispatch", "gl_output", "total")
"""Bridge timing stages (ms): GL->arrays, ``Context.dispatch``, array->GL, and the whole call."""


def _check_pair(value, name: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be two numbers", field=name, expected="(x, y)",
                              actual=repr(value)) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidArgument(f"{name} must be finite", field=name, expected="finite (x, y)",
                              actual=repr(value))
    return x, y


def _check_size(width: object, height: object) -> tuple[int, int]:
    for v in (width, height):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise InvalidArgument("size must be two ints >= 1", field="width/height", expected="ints >= 1",
                                  actual=f"{width!r}x{height!r}")
    return int(width), int(height)


class Bridge:
    """Feed a qwplugin context from GL textures and write its output into a GL texture.

    The host's GL context must be current for construction and every call (the bridge creates no context,
    window or texture of its own).

    Args:
        context: a :class:`qwplugin.runtime.Context`; its ``desc.render_size`` is the texture size and its
            ``desc.depth_convention`` how a depth texture is read.
        transfer: ``"auto"`` (CUDA-GL interop when possible, else read-back), ``"readback"`` or
            ``"cuda_interop"`` (raises :class:`~qwplugin.errors.UnsupportedHardware` when impossible).
        motion_vector_scale: default per-axis factor from motion texels to render pixels (FSR 2's
            ``motionVectorScale``): ``(1, 1)`` when the host already writes ``motion_px``; for GL UV-space
            motion (+y up, units of the image) use ``(width, -height)``.
        timing_window: frames the timing medians cover.

    Raises:
        InvalidArgument: ``context`` is not a Context (``field="context"``), bad transfer name, scale or
            timing window.
        InvalidOperation: the context is closed.
        UnsupportedHardware: ``transfer="cuda_interop"`` where interop cannot run.

    Example:
        >>> bridge = Bridge(ctx)                                            # doctest: +SKIP
        >>> bridge.dispatch(color_tex, motion_tex, out_tex,                 # doctest: +SKIP
        ...                 jitter_px=(0.25, -0.1), reset=first)
    """

    def __init__(self, context, *, transfer: str = "auto", motion_vector_scale=(1.0, 1.0),
                 timing_window: int = 60):
        from qwplugin.runtime.context import Context

        if not isinstance(context, Context):
            raise InvalidArgument("Bridge wraps a qwplugin Context", field="context",
                                  expected="qwplugin.runtime.Context", actual=type(context).__name__)
        if getattr(context, "_closed", False):
            raise InvalidOperation("Bridge(context): the context is closed")
        if not isinstance(transfer, str) or transfer not in TRANSFERS:
            raise InvalidArgument("unknown transfer", field="transfer", expected=" | ".join(TRANSFERS),
                                  actual=repr(transfer))
        if not isinstance(timing_window, numbers.Integral) or isinstance(timing_window, bool) or timing_window < 1:
            raise InvalidArgument("timing_window must be an int >= 1", field="timing_window",
                                  expected="int >= 1", actual=repr(timing_window))
        self.context = context
        self.motion_vector_scale = _check_pair(motion_vector_scale, "motion_vector_scale")
        self._preference = transfer
        self._timing = {s: deque(maxlen=int(timing_window)) for s in BRIDGE_STAGES}
        self._last: dict[str, float] = {}
        self._closed = False
        self.last_output = None
        width, height = context.desc.render_size
        self._transfer, self.transfer_reason = select_transfer(transfer, width, height,
                                                               self._plugin_device())

    def _plugin_device(self) -> str:
        info = getattr(self.context, "backend_info", None)
        device = getattr(info, "device", None) or getattr(self.context, "device", "cpu")
        return str(device)

    @property
    def transfer_name(self) -> str:
        """``"readback"`` or ``"cuda_interop"``: the path in use (:attr:`transfer_reason` says why)."""
        return self._transfer.name

    @property
    def render_size(self) -> tuple[int, int]:
        """``(width, height)`` of the textures, from the context."""
        return tuple(self.context.desc.render_size)

    def dispatch(self, color_tex: int, motion_tex: int, output_tex: int, *, depth_tex: int | None = None,
                 jitter_px=(0.0, 0.0), reset: bool = False, exposure: float = 1.0,
                 frame_time_ms: float | None = None, motion_vector_scale=None):
        """Reconstruct one frame from GL textures into ``output_tex``.

        Order: the per-frame values are checked, GL errors the host left pending are cleared (and
        reported with a :class:`~engine_bridge.gl.state.HostGLErrorWarning`), every texture is checked
        (name, ``GL_TEXTURE_2D`` target, render size, internal format), and only then are the inputs
        read and ``context.dispatch`` called. The GL state in :data:`engine_bridge.gl.state.TOUCHED_STATE`
        is restored before returning, also when an error is raised.

        Args:
            color_tex: colour texture (see :data:`~engine_bridge.transfer.formats.ACCEPTED_FORMATS`,
                e.g. RGBA16F, render size): linear HDR RGB with this frame's jitter.
            motion_tex: motion texture (RG16F/RG32F, or the first two channels of an RGB/RGBA float
                texture); times ``motion_vector_scale`` = motion_px.
            output_tex: the host's output texture (RGBA16F/RGBA32F/RGB16F/RGB32F/R11F_G11F_B10F, render
                size, distinct from the inputs); receives RGB, A = 1.
            depth_tex: optional depth texture in the context's declared convention (R32F/R16F, or a
                hardware ``GL_DEPTH_COMPONENT*`` texture with ``depth_convention="ndc"`` or
                ``"ndc_inverted"``). Always checked; read back only when the model uses depth
                (``context.backend_info.uses_depth``).
            jitter_px: this frame's jitter (x, y) in render pixels, each in [-0.5, 0.5], +y down.
            reset: drop the history first (first frame, camera cut).
            exposure: pre-exposure multiplier in
                [:data:`~qwplugin.runtime.validate.EXPOSURE_MIN`, :data:`~qwplugin.runtime.validate.EXPOSURE_MAX`].
            frame_time_ms: host frame delta in milliseconds (statistics, debug checks).
            motion_vector_scale: override of the constructor's scale for this frame.

        Returns:
            the context's output for this frame ((H, W, 3) top-down, numpy on read-back, a torch CUDA
            tensor with interop); also kept as :attr:`last_output` until the next call.

        Raises:
            InvalidArgument: a bad texture (name, target, size, format) or a bad per-frame value, naming
                the field (``color``, ``motion``, ``depth``, ``output``, ``jitter_px``, ``reset``,
                ``exposure``, ``frame_time_ms``, ``motion_vector_scale``, or a ``Frame`` field the
                context refuses, such as ``motion_px`` holding NaN); nothing is dispatched and the
                context's history is untouched.
            InvalidOperation: after :meth:`close`, or with no current GL context.
        """
        from qwplugin.runtime.frame import Frame

        if self._closed:
            raise InvalidOperation("Bridge.dispatch() after close()")
        scale = self.motion_vector_scale if motion_vector_scale is None else _check_pair(
            motion_vector_scale, "motion_vector_scale")
        jitter = check_jitter(jitter_px)
        check_scalars(reset, exposure, frame_time_ms)
        drain_host_errors("Bridge.dispatch")  # first: any other GL call would raise for the host's error
        if not _raw_get_string(_GL_VERSION):
            raise InvalidOperation("Bridge.dispatch() needs the host's GL context current on this thread")
        with GuestState():
            use_depth = self._check_textures(color_tex, motion_tex, output_tex, depth_tex)
            inputs = [color_tex, motion_tex] + ([depth_tex] if use_depth else [])
            t0 = time.perf_counter()
            self._transfer.begin_frame(inputs, [output_tex])
            try:
                color = self._transfer.read(color_tex, 3, "color")
                motion = self._transfer.read(motion_tex, 2, "motion")
                if scale != (1.0, 1.0):
                    motion[..., 0] *= scale[0]
                    motion[..., 1] *= scale[1]
                depth = self._transfer.read(depth_tex, 1, "depth") if use_depth else None
                t1 = time.perf_counter()
                frame = Frame(color=color, motion_px=motion, jitter_px=jitter, depth=depth, reset=reset,
                              exposure=exposure, frame_time_ms=frame_time_ms)
                output = self.context.dispatch(frame)
                t2 = time.perf_counter()
                self._transfer.write(output_tex, output, "output")
            finally:
                self._transfer.end_frame()
        t3 = time.perf_counter()
        self._record({"gl_input": t1 - t0, "dispatch": t2 - t1, "gl_output": t3 - t2, "total": t3 - t0})
        self.last_output = output
        return output

    def _check_textures(self, color_tex, motion_tex, output_tex, depth_tex) -> bool:
        """Every texture before anything is read or dispatched; returns whether depth is read back."""
        width, height = self.context.desc.render_size
        slots = [("color", color_tex), ("motion", motion_tex)] + (
            [("depth", depth_tex)] if depth_tex is not None else []) + [("output", output_tex)]
        infos = {}
        for slot, tex in slots:
            infos[slot] = check_texture(tex, slot, width, height, ACCEPTED_FORMATS[slot])
        seen: dict[int, str] = {}
        for slot, _ in slots:
            name = infos[slot].name
            if name in seen:
                raise InvalidArgument(f"{slot} must be a different texture from {seen[name]}", field=slot,
                                      expected=f"a texture other than {seen[name]}'s", actual=f"texture {name}")
            seen[name] = slot
        if self._transfer.name == "cuda_interop":
            from engine_bridge.transfer.cuda_interop import REGISTRABLE_FORMATS

            for slot, info in infos.items():
                if info.internal_format not in REGISTRABLE_FORMATS:
                    raise InvalidArgument(f"{slot}: CUDA-GL interop cannot register this format", field=slot,
                                          expected=format_list(REGISTRABLE_FORMATS),
                                          actual=format_name(info.internal_format))
        if depth_tex is None:
            return False
        if infos["depth"].internal_format in DEPTH_INTERNAL_FORMATS and \
                self.context.desc.depth_convention == "linear_view":
            raise InvalidArgument("a hardware depth texture holds window depth in [0, 1], but the context "
                                  "declares linear view depth", field="depth",
                                  expected="an R32F linear-depth texture, or ContextDesc.depth_convention "
                                           "'ndc'/'ndc_inverted' with camera_near/far",
                                  actual=format_name(infos["depth"].internal_format))
        return bool(getattr(self.context.backend_info, "uses_depth", True))

    def _record(self, seconds: dict[str, float]) -> None:
        self._last = {k: v * 1e3 for k, v in seconds.items()}
        for k, v in self._last.items():
            self._timing[k].append(v)

    def timings_ms(self) -> dict[str, float]:
        """Median milliseconds per bridge stage (:data:`BRIDGE_STAGES`) over the recent window."""
        return {k: statistics.median(v) for k, v in self._timing.items() if v}

    def last_timings_ms(self) -> dict[str, float]:
        """The last frame's milliseconds per bridge stage."""
        return dict(self._last)

    def reset(self) -> None:
        """Drop the context's history (the next frame is a first frame)."""
        self.context.reset()

    def resize(self, width: int, height: int) -> None:
        """Resize the context and the transfer buffers to a new render size (drops the history).

        Raises:
            InvalidArgument: bad size (from the context).
        """
        if self._closed:
            raise InvalidOperation("Bridge.resize() after close()")
        width, height = _check_size(width, height)
        self.context.resize((width, height))
        self._transfer.resize(width, height)
        for samples in self._timing.values():
            samples.clear()

    def close(self, close_context: bool = False) -> None:
        """Release the transfer (unregisters interop resources: call with the GL context current).

        Args:
            close_context: also close the qwplugin context.
        """
        if self._closed:
            return
        self._closed = True
        self._transfer.close()
        if close_context:
            self.context.close()
        self.last_output = None

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
