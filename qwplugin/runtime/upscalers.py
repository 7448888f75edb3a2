"""Temporal upscaling on arrays: the TAAU reconstructor and the "reconstruct, then upscale" baselines.

Both follow the reconstructor protocol (:class:`~qwplugin.runtime.reconstructor.Reconstructor`) and take a
:class:`~qwplugin.runtime.frame.Frame` of top-down arrays **at the render size** ``(w, h)`` (colour, motion
in render pixels, depth); they return ``(H, W, 3)`` float32 linear HDR **at the display size** ``(W, H)``,
1x to 3x the render size per axis (:func:`qwplugin.upscale.scale_of`). A frame whose colour, motion or depth
is not the render size is refused naming the field (:func:`~qwplugin.runtime.validate.check_frame`).

==========================  ==========================================================================
reconstructor               what runs
==========================  ==========================================================================
:class:`TAAU`               :class:`qwplugin.taau.TemporalUpscaler` (history at display size, jitter-aware
                            reconstruction kernel), registry name ``taau``
:class:`SpatialUpscale`     any render-size method of the registry (``noaa``, ``taa``, ``qwnet-int4``, ...)
                            followed by a spatial upscaler of :mod:`qwplugin.ops.resample` (bilinear,
                            bicubic, Lanczos-3): registry names ``noaa+bilinear``, ``taa+lanczos``,
                            ``qwnet-int4+lanczos``, ...; honest names: the network does **not** see the
                            display grid
==========================  ==========================================================================

Build them by name: ``qwplugin.make("taau", render_size, display_size=display_size)``.

:func:`qwnet_upscaling_error` and :func:`not_an_upscaler_error` build the refusal of a method asked to upscale
that cannot (QW-Net: no display-size weights exist yet; no-AA, TAA): an
:class:`~qwplugin.errors.InvalidArgument` with ``field="display_size"`` naming the alternatives.
"""

from __future__ import annotations

import numpy as np
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.runtime.desc import _check_size
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.reconstructor import MethodInfo
from qwplugin.runtime.validate import FrameValues, check_arrays, check_frame

SPATIAL_LABELS = {"bilinear": "bilinear", "bicubic": "bicubic", "lanczos": "Lanczos-3", "asconvsr": "AsConvSR x2"}
"""Labels of the spatial upscalers of :mod:`qwplugin.ops.resample`."""


def qwnet_upscaling_error(method: str, render_size, display_size) -> InvalidArgument:
    """The error for an anti-aliasing QW-Net / U-Net asked to upscale (it reconstructs at its input size):
    an :class:`~qwplugin.errors.InvalidArgument` with ``field="display_size"`` whose message names the
    upscaling model (``qwnet-fast-up2``), the ``+lanczos`` alternative and ``taau``."""
    from qwplugin.runtime import registry

    alternative = f"{method}+lanczos"
    if not registry.upscales(alternative):
        alternative = "qwnet-fp32+lanczos" if method.endswith("-fp32") else "qwnet-int4+lanczos"
    precision = "fp32" if method.endswith("-fp32") else "int4"
    return InvalidArgument(
        f"{method} is an anti-aliasing model: it reconstructs at its input size; to upscale use the upscaling "
        f"model ('qwnet-fast-up2-{precision}', model='qwnet-fast-up2' in a ContextDesc, 2x per axis), "
        f"{alternative!r} (reconstruct at the render size, then Lanczos-3 upscale) or 'taau'",
        field="display_size", expected=f"display_size == render_size {tuple(render_size)} for {method}",
        actual=str(tuple(display_size)))


def not_an_upscaler_error(method: str, render_size, display_size, spatial: tuple[str, ...]) -> InvalidArgument:
    """The error for an anti-aliasing-only method (no-AA, TAA) asked to upscale: an InvalidArgument with
    ``field="display_size"`` naming the upscaling alternatives (``spatial`` and ``taau``)."""
    alternatives = tuple(spatial) + ("taau",)
    return InvalidArgument(
        f"{method} does not upscale; use {' or '.join(repr(a) for a in alternatives)}", field="display_size",
        expected=f"display_size == render_size {tuple(render_size)} for {method}",
        actual=str(tuple(display_size)))


def check_sizes(render_size, display_size) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(render, display)`` as int pairs; display None means the render size; 1x to 3x per axis.

    Raises:
        InvalidArgument: bad sizes (fields ``render_size`` / ``display_size``).
    """
    from qwplugin.upscale import scale_of

    render = _check_size(render_size, "render_size")
    display = render if display_size is None else _check_size(display_size, "display_size")
    scale_of(render, display)  # 1x..3x per axis (field display_size)
    return render, display


def size_details(render_size, display_size) -> dict:
    """The ``MethodInfo.details`` entries of two sizes (JSON-able)."""
    (rw, rh), (dw, dh) = render_size, display_size
    return {"render_size": [rw, rh], "display_size": [dw, dh], "scale": [dw / rw, dh / rh]}


def _hwc(t: torch.Tensor, as_numpy: bool):
    out = t[0].permute(1, 2, 0)
    return out.contiguous().numpy() if as_numpy else out.contiguous()


def _nchw(a, channels: int) -> torch.Tensor:
    from qwplugin.runtime.methods import _nchw as nchw

    return nchw(a, channels)


class _Sized:
    """Shared lifecycle: render and display size, closed state."""

    def __init__(self, render_size, display_size):
        self._render, self._display = check_sizes(render_size, display_size)
        self._closed = False

    @property
    def render_size(self) -> tuple[int, int]:
        """``(width, height)`` of the input frames."""
        return self._render

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` of the output."""
        return self._display

    def _require_open(self, verb: str) -> None:
        if self._closed:
            raise InvalidOperation(f"{type(self).__name__}.{verb} called after close()")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TAAU(_Sized):
    """Temporal upscaling (:class:`qwplugin.taau.TemporalUpscaler`) on arrays.

    The colour is pre-exposed (``colour * exposure``) before the resolve and divided by the exposure after,
    as :class:`~qwplugin.runtime.methods.TAA` does; motion is multiplied by ``Frame.motion_vector_scale``
    when given. Depth (linear view depth at the render size) is required when ``config.uses_depth``.

    Args:
        render_size: ``(w, h)`` of the input frames.
        display_size: ``(W, H)`` of the output, 1x to 3x ``render_size`` per axis (None: the render size).
        config: a :class:`~qwplugin.taau.TAAUConfig` (default: the tuned defaults).
        name, label, source: what :attr:`info` reports.

    Raises:
        InvalidArgument: bad sizes or config.

    Examples:
        >>> f = Frame(color=np.ones((4, 6, 3), np.float32), motion_px=np.zeros((4, 6, 2), np.float32),
        ...           depth=np.ones((4, 6), np.float32), jitter_px=(0.0, 0.0), reset=True)
        >>> TAAU((6, 4), (12, 8)).dispatch(f).shape
        (8, 12, 3)
    """

    def __init__(self, render_size, display_size=None, config=None, *, name: str = "taau",
                 label: str = "TAAU", source: str = "TAAUConfig() defaults, tuned at 2x on training scenes"):
        from qwplugin.taau import TAAUConfig, TemporalUpscaler

        super().__init__(render_size, display_size)
        config = TAAUConfig() if config is None else config
        self._taau = TemporalUpscaler(self._display, config)  # checks the config's type
        self.config = config
        self._name, self._label, self._source = name, label, source

    @property
    def info(self) -> MethodInfo:
        """What runs, with the render and display sizes."""
        params = ", ".join(f"{k}={v}" for k, v in self.config.to_dict().items())
        (rw, rh), (dw, dh) = self._render, self._display
        return MethodInfo(
            name=self._name, label=self._label, uses_depth=self.config.uses_depth, uses_jitter=True, family="taa",
            description=f"TAAU (PyTorch, {self._source}), render {rw}x{rh} -> display {dw}x{dh}: {params}",
            summary=f"TAAU PyTorch, {rw}x{rh} -> {dw}x{dh}", render_size=self._render,
            display_size=self._display, details=size_details(self._render, self._display))

    def dispatch(self, frame: Frame):
        """Upscale one frame.

        Returns:
            (H, W, 3) float32 linear HDR at the display size (numpy for numpy colour, else a tensor).

        Raises:
            InvalidArgument: a bad frame field (colour / motion / depth not the render size, ...); the
                history is untouched.
            InvalidOperation: after ``close()``.
        """
        self._require_open("dispatch")
        w, h = self._render
        values = check_frame(frame, (h, w), needs_depth=self.config.uses_depth)
        return self._run(frame, values)

    def _dispatch_checked(self, frame: Frame, values: FrameValues):
        """``dispatch`` for a caller that checked the values already (the GL bridge): arrays only."""
        self._require_open("dispatch")
        w, h = self._render
        check_arrays(frame, (h, w), needs_depth=self.config.uses_depth,
                     motion_vector_scale=values.motion_vector_scale)
        return self._run(frame, values)

    def _run(self, frame: Frame, values: FrameValues):
        color, motion = _nchw(frame.color, 3), _nchw(frame.motion_px, 2)
        scale = values.motion_vector_scale
        if scale is not None and scale != (1.0, 1.0):
            motion = motion * torch.tensor(scale, dtype=torch.float32, device=motion.device).view(1, 2, 1, 1)
        depth = None
        if self.config.uses_depth:
            w, h = self._render
            depth = _nchw(frame.depth, 1).to(color.device).reshape(1, 1, h, w)
        with torch.no_grad():
            out = self._taau.step(color * values.exposure, motion.to(color.device), values.reset,
                                  values.jitter_px, depth) / values.exposure
        return _hwc(out, isinstance(frame.color, np.ndarray))

    def reset(self) -> None:
        """Drop the history."""
        self._require_open("reset")
        self._taau.reset()

    def resize(self, render_size, display_size=None) -> None:
        """New sizes (display None: the render size); drops the history.

        Raises:
            InvalidArgument: bad sizes (nothing changes).
            InvalidOperation: after ``close()``.
        """
        from qwplugin.taau import TemporalUpscaler

        self._require_open("resize")
        render, display = check_sizes(render_size, display_size)
        self._taau = TemporalUpscaler(display, self.config)
        self._render, self._display = render, display

    def close(self) -> None:
        """Release the history. Idempotent."""
        self._taau.close()
        self._closed = True


class SpatialUpscale(_Sized):
    """A render-size reconstructor followed by a spatial upscaler: "reconstruct at render size, then upscale".

    ``dispatch`` runs ``inner.dispatch(frame)`` (its history stays at the render size) and resamples its
    output to the display size with :func:`qwplugin.ops.resample.upscale`, deringed (clamped to the 2x2
    nearest source texels, as FSR 1's EASU: no halos from the negative lobes of bicubic / Lanczos, and the
    output stays >= 0 like the linear HDR input).

    Args:
        inner: a reconstructor of ``render_size`` (e.g. ``registry.make("taa", render_size)``); owned: closed
            by :meth:`close`.
        method: ``"bilinear"``, ``"bicubic"`` or ``"lanczos"`` (:data:`qwplugin.ops.resample.METHODS`), or
            ``"asconvsr"``: the shipped AsConvSR x2 network (:mod:`qwplugin.sr.shipped`; display exactly twice
            the render size; control coefficients smoothed from frame to frame, reset with the frame's
            ``reset``), on the inner output in the network domain ``x / (1 + x)``.
        display_size: ``(W, H)``, 1x to 3x the render size per axis.
        name, label: what :attr:`info` reports.

    Raises:
        InvalidArgument: bad method or sizes (``asconvsr``: a display size that is not twice the render size,
            field ``display_size``; no shipped weights, field ``method``).
    """

    def __init__(self, inner, method: str, display_size, *, name: str, label: str):
        from qwplugin.ops.resample import METHODS

        if method not in METHODS + ("asconvsr",):
            raise InvalidArgument("unknown spatial upscaler", field="method", expected=", ".join(METHODS + ("asconvsr",)),
                                  actual=repr(method))
        super().__init__(_inner_size(inner), display_size)
        self._network = None
        if method == "asconvsr":
            self._network = _asconvsr_upscaler(self._render, self._display)
        self.inner = inner
        self.method = method
        self._name, self._label = name, label

    @property
    def info(self) -> MethodInfo:
        """The inner method's info, with the upscaler and the sizes added."""
        i = self.inner.info
        (rw, rh), (dw, dh) = self._render, self._display
        how = f"then {SPATIAL_LABELS[self.method]} upscale {rw}x{rh} -> {dw}x{dh} (spatial, no temporal data)"
        return MethodInfo(name=self._name, label=self._label, description=f"{i.description}; {how}",
                          uses_depth=i.uses_depth, uses_jitter=i.uses_jitter, family=i.family, trained=i.trained,
                          summary=f"{i.summary}; {SPATIAL_LABELS[self.method]} {rw}x{rh} -> {dw}x{dh}",
                          render_size=self._render, display_size=self._display,
                          details={**i.details, **size_details(self._render, self._display),
                                   "spatial_upscaler": self.method, "inner": i.name})

    @property
    def uses_depth(self) -> bool:
        """Whether the inner method reads ``Frame.depth``."""
        return self.inner.info.uses_depth

    def dispatch(self, frame: Frame):
        """Reconstruct at the render size, then upscale.

        Returns:
            (H, W, 3) float32 linear HDR at the display size (numpy for numpy colour, else a tensor).

        Raises:
            InvalidArgument: a bad frame field (from the inner method: colour / motion / depth not the
                render size, ...).
            InvalidOperation: after ``close()``.
        """
        self._require_open("dispatch")
        return self._upscale(self.inner.dispatch(frame), isinstance(frame.color, np.ndarray), bool(frame.reset))

    def _dispatch_checked(self, frame: Frame, values: FrameValues):
        """``dispatch`` for a caller that checked the values already (the GL bridge)."""
        self._require_open("dispatch")
        checked = getattr(self.inner, "_dispatch_checked", None)
        out = checked(frame, values) if checked is not None else self.inner.dispatch(frame)
        return self._upscale(out, isinstance(frame.color, np.ndarray), bool(values.reset))

    def _upscale(self, out, as_numpy: bool, reset: bool = False):
        from qwplugin.ops.resample import upscale

        t = torch.from_numpy(np.ascontiguousarray(out, np.float32)) if isinstance(out, np.ndarray) else out
        t = t.to(torch.float32).permute(2, 0, 1)[None]
        if self._network is not None:
            from qwplugin.ops.colour import from_network, to_network

            net = self._network.net
            if next(net.parameters()).device != t.device:
                net.to(t.device)
            # the network's output is clamped below 1 (x / (1 + x) < 1) so the linear value stays finite
            t = from_network(self._network(to_network(t), reset=reset).clamp(0.0, 1.0 - 1e-4))
        elif self._display != self._render:
            t = upscale(t, self._display, self.method, dering=True)
        return _hwc(t, as_numpy)

    def reset(self) -> None:
        """Drop the inner method's history (and the AsConvSR coefficient smoothing)."""
        self._require_open("reset")
        self.inner.reset()
        if self._network is not None:
            self._network.reset()

    def resize(self, render_size, display_size=None) -> None:
        """New sizes (display None: the render size); the inner method is resized to the render size.

        Raises:
            InvalidArgument: bad sizes (nothing changes).
            InvalidOperation: after ``close()``.
        """
        self._require_open("resize")
        render, display = check_sizes(render_size, display_size)
        if self._network is not None:
            _check_twice(render, display)
        self.inner.resize(render)
        self._render, self._display = render, display
        if self._network is not None:
            self._network.reset()

    def close(self) -> None:
        """Close the inner method. Idempotent."""
        if not self._closed:
            self.inner.close()
        self._closed = True


def _check_twice(render, display) -> None:
    if tuple(display) != (2 * render[0], 2 * render[1]):
        raise InvalidArgument("AsConvSR x2 needs the display exactly twice the render size", field="display_size",
                              expected=f"{2 * render[0]}x{2 * render[1]}", actual=f"{display[0]}x{display[1]}")


def _asconvsr_upscaler(render, display):
    """The shipped AsConvSR x2 behind :class:`~qwplugin.sr.asconvsr.AsConvSRUpscaler` (coefficient smoothing)."""
    from qwplugin.sr.asconvsr import AsConvSRUpscaler
    from qwplugin.sr.shipped import load_shipped_asconvsr

    _check_twice(render, display)
    return AsConvSRUpscaler(load_shipped_asconvsr())


def _inner_size(inner) -> tuple[int, int]:
    size = getattr(inner, "render_size", None)
    if size is None:
        desc = getattr(inner, "desc", None)
        size = getattr(desc, "render_size", None)
    assert size is not None, type(inner)
    return tuple(size)
