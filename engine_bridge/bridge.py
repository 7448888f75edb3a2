"""The GL bridge: a host's GL textures in, the reconstructed frame written into the host's output texture.

``Bridge`` wraps a :class:`qwplugin.runtime.Context` for OpenGL hosts (raw PyOpenGL, moderngl's ``.glo``,
the mini engine). Per frame it

1. takes one :class:`qwplugin.runtime.frame.Frame` whose image fields are the host's texture names (or the
   same values as keywords), checks its values once, then maps or reads the colour, motion and (optional)
   depth textures into the same contract with top-down arrays,
2. hands that frame and its checked values to the context (which checks the arrays, not the values again),
3. writes the output (linear HDR RGB) into the host's output texture.

GL textures are stored bottom-up; the contract's arrays are top-down. The transfer flips rows **exactly
once** each way (:mod:`engine_bridge.transfer`). The transfer is CUDA-GL interop when GL runs on the NVIDIA
GPU the context uses, read-back/upload through preallocated arrays otherwise; ``transfer_reason`` says why.

Temporal upscaling: a bridge built on an upscaling reconstructor of the registry (``qwplugin.make("taau" |
"qwnet-int4+lanczos" | ..., render_size, display_size=...)``) reads render-size inputs and writes a
**display-size** output texture; ``Bridge(method, display_size=...)`` states the size it expects (refused
when it is not the method's). A QW-Net :class:`~qwplugin.runtime.Context` itself has no display-size weights
yet, so its output is the render size.

Host textures (see ``docs/integration.md``; the full list of accepted internal formats is
:data:`engine_bridge.transfer.formats.ACCEPTED_FORMATS`), all ``GL_TEXTURE_2D``; the inputs of the render
size, the output of the display size (= the render size unless upscaling):

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
                                            format_name, inspect_texture)
from engine_bridge.transfer.select import TRANSFERS, select_transfer
from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.validate import FrameValues, check_motion_vector_scale, check_values

_GL_VERSION = 0x1F02

BRIDGE_STAGES = ("gl_input", "dispatch", "gl_output", "total")
"""Bridge timing stages (ms): GL->arrays, ``Context.dispatch``, array->GL, and the whole call."""


def _check_scale(value) -> tuple[float, float]:
    scale = check_motion_vector_scale(value)
    if scale is None:
        raise InvalidArgument("motion_vector_scale must be two numbers", field="motion_vector_scale",
                              expected="(sx, sy)", actual="None")
    return scale


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
        context: a :class:`qwplugin.runtime.Context` (its ``desc.render_size`` is the texture size and its
            ``desc.depth_convention`` how a depth texture is read), or another array reconstructor of the
            registry, e.g. an upscaler (``qwplugin.make("taau", render_size, display_size=...)``; linear
            view depth).
        display_size: ``(width, height)`` the output texture must have; None: the method's (the render
            size for a Context). Refused when it is not the method's display size.
        transfer: ``"auto"`` (CUDA-GL interop when possible, else read-back), ``"readback"`` or
            ``"cuda_interop"`` (raises :class:`~qwplugin.errors.UnsupportedHardware` when impossible).
        motion_vector_scale: default per-axis factor from motion texels to render pixels (FSR 2's
            ``motionVectorScale``): ``(1, 1)`` when the host already writes ``motion_px``; for GL UV-space
            motion (+y up, units of the image) use ``(width, -height)``.
        timing_window: frames the timing medians cover.

    Raises:
        InvalidArgument: ``context`` is not a Context or array reconstructor (``field="context"``), a
            ``display_size`` that is not the method's (``field="display_size"``), bad transfer name, scale
            or timing window.
        InvalidOperation: the context is closed.
        UnsupportedHardware: ``transfer="cuda_interop"`` where interop cannot run.

    Example:
        >>> bridge = Bridge(ctx)                                            # doctest: +SKIP
        >>> bridge.dispatch(Frame(color=color_tex, motion_px=motion_tex,    # doctest: +SKIP
        ...                       jitter_px=(0.25, -0.1), reset=first), out_tex)
    """

    def __init__(self, context, *, transfer: str = "auto", motion_vector_scale=(1.0, 1.0),
                 timing_window: int = 60, display_size: tuple[int, int] | None = None):
        _check_method(context)
        if getattr(context, "_closed", False):
            raise InvalidOperation("Bridge(context): the context is closed")
        if not isinstance(transfer, str) or transfer not in TRANSFERS:
            raise InvalidArgument("unknown transfer", field="transfer", expected=" | ".join(TRANSFERS),
                                  actual=repr(transfer))
        if not isinstance(timing_window, numbers.Integral) or isinstance(timing_window, bool) or timing_window < 1:
            raise InvalidArgument("timing_window must be an int >= 1", field="timing_window",
                                  expected="int >= 1", actual=repr(timing_window))
        self.context = context
        self.motion_vector_scale = _check_scale(motion_vector_scale)
        self._preference = transfer
        self._timing = {s: deque(maxlen=int(timing_window)) for s in BRIDGE_STAGES}
        self._last: dict[str, float] = {}
        self._closed = False
        self.last_output = None
        width, height = _render_size(context)
        own = _display_size(context)
        if display_size is not None:
            from qwplugin.runtime.upscalers import check_sizes

            _, wanted = check_sizes((width, height), display_size)
            if wanted != own:
                raise InvalidArgument("display_size is not the method's output size", field="display_size",
                                      expected=f"{own[0]}x{own[1]} (build the method with "
                                               "qwplugin.make(..., display_size=...))",
                                      actual=f"{wanted[0]}x{wanted[1]}")
        self._transfer, self.transfer_reason = select_transfer(transfer, width, height,
                                                               self._plugin_device())
        self._out_transfer = None  # a second transfer of the display size when it differs
        self._alloc_output_transfer(own)

    def _alloc_output_transfer(self, display: tuple[int, int]) -> None:
        if self._out_transfer is not None:
            self._out_transfer.close()
            self._out_transfer = None
        if display != self.render_size:
            self._out_transfer, _ = select_transfer(self._transfer.name, *display, self._plugin_device())

    def _plugin_device(self) -> str:
        info = getattr(self.context, "backend_info", None)
        device = getattr(info, "device", None) or getattr(self.context, "device", None)
        if device is None and not _is_context(self.context):
            device = self.context.info.details.get("device")  # e.g. an upscaler around a Context
        return str(device or "cpu")

    @property
    def transfer_name(self) -> str:
        """``"readback"`` or ``"cuda_interop"``: the path in use (:attr:`transfer_reason` says why)."""
        return self._transfer.name

    @property
    def render_size(self) -> tuple[int, int]:
        """``(width, height)`` of the input textures, from the context."""
        return _render_size(self.context)

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` of the output texture (the render size unless the method upscales)."""
        return _display_size(self.context)

    def dispatch(self, *args, **kwargs):
        """Reconstruct one frame from GL textures into ``output_tex``.

        Two spellings of the same call::

            bridge.dispatch(Frame(color=color_tex, motion_px=motion_tex, depth=depth_tex, jitter_px=j,
                                  reset=r, exposure=e, frame_time_ms=t, motion_vector_scale=s), output_tex)
            bridge.dispatch(color_tex, motion_tex, output_tex, depth_tex=None, jitter_px=(0.0, 0.0),
                            reset=False, exposure=1.0, frame_time_ms=None, motion_vector_scale=None)

        The first is the one per-frame contract (:class:`qwplugin.runtime.frame.Frame`, its image fields
        holding GL texture names); the second, with keywords, builds that frame (``jitter_px`` then defaults
        to (0, 0)).

        Order: the frame's values are checked (:func:`qwplugin.runtime.validate.check_values`), GL errors
        the host left pending are cleared (and reported with a
        :class:`~engine_bridge.gl.state.HostGLErrorWarning`), every texture is checked (name,
        ``GL_TEXTURE_2D`` target, render size, internal format), and only then are the inputs read and
        the context dispatched (the arrays read back are checked once more by the context, the values
        are not). The GL state in :data:`engine_bridge.gl.state.TOUCHED_STATE` is restored before
        returning, also when an error is raised.

        Textures:
            color: see :data:`~engine_bridge.transfer.formats.ACCEPTED_FORMATS` (e.g. RGBA16F, render
                size): linear HDR RGB with this frame's jitter.
            motion_px: RG16F/RG32F, or the first two channels of an RGB/RGBA float texture; times
                ``motion_vector_scale`` (the frame's, else the constructor's) = motion in render pixels.
            output_tex: the host's output texture (RGBA16F/RGBA32F/RGB16F/RGB32F/R11F_G11F_B10F, the
                **display size** (:attr:`display_size`; the render size unless upscaling), distinct from the
                inputs); receives RGB, A = 1.
            depth: optional depth texture in the context's declared convention (R32F/R16F, or a
                hardware ``GL_DEPTH_COMPONENT*`` texture with ``depth_convention="ndc"`` or
                ``"ndc_inverted"``). Always checked; read back only when the model uses depth
                (``context.uses_depth``).

        Returns:
            the context's output for this frame ((H, W, 3) top-down at the display size, numpy on read-back, a torch CUDA
            tensor with interop); also kept as :attr:`last_output` until the next call.

        Raises:
            InvalidArgument: a bad texture (name, target, size, format; field ``color``, ``motion``,
                ``depth`` or ``output``) or a bad per-frame value (``jitter_px``, ``reset``, ``exposure``,
                ``frame_time_ms``, ``motion_vector_scale``, ``frame_index``, or a ``Frame`` field the
                context refuses, such as ``motion_px`` holding NaN); nothing is dispatched and the
                context's history is untouched.
            InvalidOperation: after :meth:`close`, or with no current GL context.
        """
        frame, output_tex = _frame_and_output(args, kwargs)
        if self._closed:
            raise InvalidOperation("Bridge.dispatch() after close()")
        values = check_values(frame, "Bridge.dispatch")
        return self._dispatch_checked(frame, values, output_tex)

    def _dispatch_checked(self, frame: Frame, values: FrameValues, output_tex: int):
        """:meth:`dispatch` for a frame whose values are already checked (``values``, e.g. by a GL pass's
        ``execute``): the textures and the arrays read from them are still checked here."""
        if self._closed:
            raise InvalidOperation("Bridge.dispatch() after close()")
        assert isinstance(values, FrameValues), type(values)
        if values.motion_vector_scale is None:
            values = FrameValues(**{**values.__dict__, "motion_vector_scale": self.motion_vector_scale})
        color_tex, motion_tex, depth_tex = frame.color, frame.motion_px, frame.depth
        drain_host_errors("Bridge.dispatch")  # first: any other GL call would raise for the host's error
        if not _raw_get_string(_GL_VERSION):
            raise InvalidOperation("Bridge.dispatch() needs the host's GL context current on this thread")
        with GuestState():
            use_depth = self._check_textures(color_tex, motion_tex, output_tex, depth_tex)
            inputs = [color_tex, motion_tex] + ([depth_tex] if use_depth else [])
            t0 = time.perf_counter()
            out_transfer = self._out_transfer or self._transfer
            self._transfer.begin_frame(inputs, [] if self._out_transfer else [output_tex])
            try:
                color = self._transfer.read(color_tex, 3, "color")
                motion = self._transfer.read(motion_tex, 2, "motion")
                depth = self._transfer.read(depth_tex, 1, "depth") if use_depth else None
                t1 = time.perf_counter()
                arrays = Frame(color=color, motion_px=motion, depth=depth, **values.as_fields())
                checked = getattr(self.context, "_dispatch_checked", None)
                output = checked(arrays, values) if checked is not None else self.context.dispatch(arrays)
                t2 = time.perf_counter()
                if self._out_transfer is not None:
                    self._out_transfer.begin_frame([], [output_tex])
                try:
                    out_transfer.write(output_tex, output, "output")
                finally:
                    if self._out_transfer is not None:
                        self._out_transfer.end_frame()
            finally:
                self._transfer.end_frame()
        t3 = time.perf_counter()
        self._record({"gl_input": t1 - t0, "dispatch": t2 - t1, "gl_output": t3 - t2, "total": t3 - t0})
        self.last_output = output
        return output

    def _check_textures(self, color_tex, motion_tex, output_tex, depth_tex) -> bool:
        """Every texture before anything is read or dispatched; returns whether depth is read back."""
        width, height = self.render_size
        display = self.display_size
        slots = [("color", color_tex), ("motion", motion_tex)] + (
            [("depth", depth_tex)] if depth_tex is not None else []) + [("output", output_tex)]
        infos = {}
        for slot, tex in slots:
            if slot == "output" and display != (width, height):
                info = inspect_texture(tex, slot)
                if (info.width, info.height) != display:
                    raise InvalidArgument("output_tex must be the display size (the method upscales)", field=slot,
                                          expected=f"{display[0]}x{display[1]} (display; inputs {width}x{height})",
                                          actual=f"{info.width}x{info.height}")
                infos[slot] = check_texture(tex, slot, *display, ACCEPTED_FORMATS[slot])
                continue
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
        if infos["depth"].internal_format in DEPTH_INTERNAL_FORMATS and _depth_convention(self.context) == "linear_view":
            raise InvalidArgument("a hardware depth texture holds window depth in [0, 1], but the context "
                                  "declares linear view depth", field="depth",
                                  expected="an R32F linear-depth texture, or ContextDesc.depth_convention "
                                           "'ndc'/'ndc_inverted' with camera_near/far",
                                  actual=format_name(infos["depth"].internal_format))
        return _uses_depth(self.context)

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

    def resize(self, width: int, height: int, display_size: tuple[int, int] | None = None) -> None:
        """Resize the context and the transfer buffers to a new render size (drops the history).

        Args:
            width, height: the new render size.
            display_size: the new output size for an upscaling method; None: the render size for a
                Context, the current display size for an upscaler.

        Raises:
            InvalidArgument: bad size (from the context).
        """
        if self._closed:
            raise InvalidOperation("Bridge.resize() after close()")
        width, height = _check_size(width, height)
        if _is_context(self.context):
            self.context.resize((width, height), display_size)
        else:
            self.context.resize((width, height), display_size if display_size is not None else self.display_size)
        self._transfer.resize(width, height)
        self._alloc_output_transfer(self.display_size)
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
        if self._out_transfer is not None:
            self._out_transfer.close()
        if close_context:
            self.context.close()
        self.last_output = None

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_context(method) -> bool:
    from qwplugin.runtime.context import Context

    return isinstance(method, Context)


def _check_method(method) -> None:
    """A Context, or an array reconstructor with ``info``, ``dispatch``, ``reset``, ``resize``, ``close`` and
    the sizes (GL passes take textures: they are not wrapped by a bridge)."""
    from qwplugin.runtime.reconstructor import Reconstructor

    if _is_context(method):
        return
    is_pass = type(method).__module__.startswith("engine_bridge.passes")
    if is_pass or not isinstance(method, Reconstructor) or getattr(method, "render_size", None) is None:
        raise InvalidArgument("Bridge wraps a qwplugin Context or an array reconstructor of the registry",
                              field="context", expected="qwplugin.runtime.Context or qwplugin.make(name, size[, "
                              "display_size=...])", actual=type(method).__name__)


def _render_size(method) -> tuple[int, int]:
    return tuple(method.desc.render_size) if _is_context(method) else tuple(method.render_size)


def _display_size(method) -> tuple[int, int]:
    if _is_context(method):
        return tuple(method.desc.display_size)
    return tuple(getattr(method, "display_size", None) or method.render_size)


def _depth_convention(method) -> str:
    return method.desc.depth_convention if _is_context(method) else "linear_view"


def _uses_depth(method) -> bool:
    return bool(method.uses_depth) if _is_context(method) else bool(method.info.uses_depth)


def _legacy_call(color_tex, motion_tex, output_tex, *, depth_tex=None, jitter_px=(0.0, 0.0), reset=False,
                 exposure=1.0, frame_time_ms=None, motion_vector_scale=None) -> tuple[Frame, object]:
    """The keyword spelling of :meth:`Bridge.dispatch` as the one contract."""
    return Frame(color=color_tex, motion_px=motion_tex, depth=depth_tex, jitter_px=jitter_px, reset=reset,
                 exposure=exposure, frame_time_ms=frame_time_ms, motion_vector_scale=motion_vector_scale), output_tex


def _frame_and_output(args: tuple, kwargs: dict) -> tuple[Frame, object]:
    """``(frame, output_tex)`` from either spelling of :meth:`Bridge.dispatch` (TypeError on a bad call)."""
    first = args[0] if args else kwargs.get("frame")
    if isinstance(first, Frame):
        rest = dict(kwargs)
        rest.pop("frame", None)
        positional = list(args[1:])
        if "output_tex" in rest:
            positional.append(rest.pop("output_tex"))
        if rest or len(positional) != 1:
            raise TypeError("Bridge.dispatch(frame, output_tex) takes the frame and the output texture only")
        return first, positional[0]
    return _legacy_call(*args, **kwargs)
