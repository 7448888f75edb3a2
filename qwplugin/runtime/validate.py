"""The one checking module of the per-frame contract (:class:`~qwplugin.runtime.frame.Frame`).

Every public boundary that receives a frame calls it exactly once: ``Context.dispatch``
(:func:`check_frame`: values and arrays), ``Bridge.dispatch`` and the GL passes' ``execute`` /
``dispatch`` (:func:`check_values` first, before any texture is read; the arrays read from the textures are
then checked with :func:`check_arrays` only), and every reconstructor of :mod:`qwplugin.runtime.registry`.
Inner layers receive the checked :class:`FrameValues` and assert instead of checking again. The jitter
range has one checker, :func:`check_jitter`, used by the runtime, :mod:`qwplugin.taa` and the GL passes.

The checks only read their inputs and raise :class:`~qwplugin.errors.InvalidArgument` naming the field,
with expected and actual shape, dtype or range; a refused frame leaves every history exactly as it was.
:func:`frame_to_tensors` then converts a checked frame to (1, C, H, W) float32 tensors on a device.

Colour policy: NaN and +-Inf in ``color`` are *sanitised* (replaced by 0) rather than refused, because a
single bad pixel from a shader should not stop a game; their count is returned (``Context.stats`` keeps a
total and the debug checker warns). Finite negative colour is refused: it means the input is not linear
HDR radiance (e.g. a signed buffer bound by mistake).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.runtime.depth import to_linear_view_depth
from qwplugin.runtime.frame import Frame

JITTER_LIMIT_PX = 0.5
"""Largest accepted ``|jitter_px|`` component (render pixels): the sample point stays inside its pixel."""

EXPOSURE_MIN = 1e-6
EXPOSURE_MAX = 1e6
"""Accepted ``Frame.exposure`` range (inclusive): +-20 stops around 1, wider than any pre-exposure a
renderer uses. Outside it ``colour * exposure`` under- or overflows float32 for ordinary radiance and the
output (and the history) would be zeroed."""

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Largest finite float32: finite float64 inputs beyond it would become Inf in the float32 network."""

NUMPY_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
TORCH_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
"""Accepted array dtypes (native byte order for numpy; strided, non-meta tensors for torch)."""


@dataclass(frozen=True)
class FrameValues:
    """The checked, normalised scalar fields of a :class:`Frame` (what :func:`check_values` returns).

    Inner layers take this instead of checking the frame again.

    Attributes:
        jitter_px: (x, y) Python floats, each in [-0.5, 0.5] render pixels.
        reset: a Python bool.
        exposure: a float in [:data:`EXPOSURE_MIN`, :data:`EXPOSURE_MAX`].
        frame_time_ms: a float >= 0 (milliseconds) or None.
        motion_vector_scale: (sx, sy) finite floats, or None (no scale given).
        frame_index: an int >= 0 or None.
    """

    jitter_px: tuple[float, float]
    reset: bool
    exposure: float
    frame_time_ms: float | None
    motion_vector_scale: tuple[float, float] | None
    frame_index: int | None

    def as_fields(self) -> dict:
        """The values as :class:`Frame` keyword arguments."""
        return {"jitter_px": self.jitter_px, "reset": self.reset, "exposure": self.exposure,
                "frame_time_ms": self.frame_time_ms, "motion_vector_scale": self.motion_vector_scale,
                "frame_index": self.frame_index}


@dataclass(frozen=True)
class FrameTensors:
    """A checked frame as tensors on the context's device (internal hand-off, not a public type).

    Attributes:
        color: (1, 3, H, W) float32 linear HDR, non-finite values replaced by 0.
        motion_px: (1, 2, H, W) float32 render pixels (``motion_vector_scale`` applied).
        depth: (1, 1, H, W) float32 linear view depth, or None.
        jitter_px: (x, y) floats.
        reset: drop the history first.
        exposure: > 0.
        frame_time_ms: host frame delta or None.
        nonfinite_color: number of colour values (RGB) that were NaN or Inf and became 0.
        as_numpy: the caller passed colour as a numpy array (the output is returned as numpy too).
    """

    color: torch.Tensor
    motion_px: torch.Tensor
    depth: torch.Tensor | None
    jitter_px: tuple[float, float]
    reset: bool
    exposure: float
    frame_time_ms: float | None
    nonfinite_color: int
    as_numpy: bool


def check_frame_type(frame: object, receiver: str = "dispatch") -> None:
    """Raise unless ``frame`` is a :class:`Frame`.

    Raises:
        InvalidArgument: field ``frame``.
    """
    if not isinstance(frame, Frame):
        raise InvalidArgument(f"{receiver} takes a qwplugin.Frame", field="frame", expected="Frame",
                              actual=type(frame).__name__)


def check_frame(frame: object, render_shape: tuple[int, int], *, needs_depth: bool,
                depth_convention: str = "linear_view") -> FrameValues:
    """Check every field of an array ``frame`` against the contract without modifying anything.

    :func:`check_values`, then :func:`check_arrays`.

    Args:
        frame: the object passed to ``dispatch``; must be a :class:`Frame`.
        render_shape: ``(H, W)`` the arrays must have.
        needs_depth: the method uses depth, so ``frame.depth`` is required.
        depth_convention: ``ContextDesc.depth_convention`` (sets the depth range check).

    Returns:
        the checked :class:`FrameValues`.

    Raises:
        InvalidArgument: the first bad field, with ``.field``, ``.expected`` and ``.actual`` set.
    """
    values = check_values(frame)
    check_arrays(frame, render_shape, needs_depth=needs_depth, depth_convention=depth_convention,
                 motion_vector_scale=values.motion_vector_scale)
    return values


def check_values(frame: object, receiver: str = "dispatch") -> FrameValues:
    """Check the scalar fields of ``frame`` (everything but the images) and return them normalised.

    Args:
        frame: must be a :class:`Frame` (its image fields are not looked at).
        receiver: the method named in the message when ``frame`` is not a Frame.

    Returns:
        :class:`FrameValues` (numpy scalars become Python floats and bools).

    Raises:
        InvalidArgument: field ``frame``, ``jitter_px``, ``reset``, ``exposure``, ``frame_time_ms``,
            ``motion_vector_scale`` or ``frame_index``.
    """
    check_frame_type(frame, receiver)
    jitter = check_jitter(frame.jitter_px)
    check_scalars(frame.reset, frame.exposure, frame.frame_time_ms)
    scale = check_motion_vector_scale(frame.motion_vector_scale)
    index = frame.frame_index
    if index is not None and not (isinstance(index, numbers.Integral) and not isinstance(index, (bool, np.bool_))
                                  and index >= 0):
        raise InvalidArgument("frame_index must be an int >= 0 or None", field="frame_index",
                              expected="int >= 0 or None", actual=_short_repr(index))
    return FrameValues(jitter_px=jitter, reset=bool(frame.reset), exposure=float(frame.exposure),
                       frame_time_ms=None if frame.frame_time_ms is None else float(frame.frame_time_ms),
                       motion_vector_scale=scale, frame_index=None if index is None else int(index))


def check_arrays(frame: Frame, render_shape: tuple[int, int], *, needs_depth: bool,
                 depth_convention: str = "linear_view",
                 motion_vector_scale: tuple[float, float] | None = None) -> None:
    """Check the image fields of an array frame (its values already passed :func:`check_values`).

    Args:
        frame: a :class:`Frame` holding numpy arrays or torch tensors.
        render_shape: ``(H, W)`` the arrays must have.
        needs_depth: the method uses depth, so ``frame.depth`` is required.
        depth_convention: ``ContextDesc.depth_convention`` (sets the depth range check).
        motion_vector_scale: the checked scale (motion times it must stay inside float32).

    Raises:
        InvalidArgument: field ``color``, ``motion_px``, ``depth`` or ``motion_vector_scale``.
    """
    assert isinstance(frame, Frame), type(frame)
    h, w = render_shape
    _check_array(frame.color, "color", (h, w), channels=(3, 4))
    _check_color_range(frame.color)
    _check_float32_range(frame.color, "color")
    _check_array(frame.motion_px, "motion_px", (h, w), channels=(2,))
    _check_finite(frame.motion_px, "motion_px")
    _check_float32_range(frame.motion_px, "motion_px")
    if motion_vector_scale is not None and motion_vector_scale != (1.0, 1.0):
        _check_scaled_motion(frame.motion_px, motion_vector_scale)
    if frame.depth is None:
        if needs_depth:
            raise InvalidArgument("this method uses depth: Frame.depth is missing", field="depth",
                                  expected=f"({h}, {w}) float array", actual="None")
    else:
        _check_array(frame.depth, "depth", (h, w), channels=(1, None))
        _check_depth_range(frame.depth, depth_convention)
        _check_float32_range(frame.depth, "depth")


def check_scalars(reset: object, exposure: object, frame_time_ms: object) -> None:
    """Check the ``reset``, ``exposure`` and ``frame_time_ms`` fields of a frame.

    Args:
        reset: must be a bool (``numpy.bool_`` accepted).
        exposure: a real number in [:data:`EXPOSURE_MIN`, :data:`EXPOSURE_MAX`].
        frame_time_ms: None or a finite real number >= 0 (milliseconds).

    Raises:
        InvalidArgument: field ``reset``, ``exposure`` or ``frame_time_ms``.
    """
    if not isinstance(reset, (bool, np.bool_)):
        raise InvalidArgument("reset must be a bool", field="reset", expected="bool", actual=type(reset).__name__)
    if not (_is_real(exposure) and math.isfinite(exposure) and EXPOSURE_MIN <= exposure <= EXPOSURE_MAX):
        raise InvalidArgument("exposure out of range", field="exposure",
                              expected=f"a finite number in [{EXPOSURE_MIN:g}, {EXPOSURE_MAX:g}]",
                              actual=repr(exposure))
    t = frame_time_ms
    if t is not None and not (_is_real(t) and math.isfinite(t) and t >= 0):
        raise InvalidArgument("frame_time_ms must be a finite number >= 0 (milliseconds) or None",
                              field="frame_time_ms", expected="finite >= 0 or None", actual=repr(t))


def check_jitter(jitter_px: object, field: str = "jitter_px") -> tuple[float, float]:
    """The one jitter check: two finite real numbers, each in [-0.5, 0.5] render pixels.

    Accepts a tuple or list, a 2-element numpy array or torch tensor, numpy scalars.

    Args:
        jitter_px: the value to check.
        field: the name reported in the error (``jitter_px`` unless a caller names its argument otherwise).

    Returns:
        ``(x, y)`` as Python floats.

    Raises:
        InvalidArgument: naming ``field``.

    Examples:
        >>> check_jitter((0.25, -0.5))
        (0.25, -0.5)
        >>> check_jitter((0.0, 0.7))
        Traceback (most recent call last):
        ...
        qwplugin.errors.InvalidArgument: jitter_px out of range (render pixels) (expected each in [-0.5, 0.5], got (0.0, 0.7))
    """
    if jitter_px is None:
        raise InvalidArgument("Frame.jitter_px is missing", field=field,
                              expected="(x, y) in [-0.5, 0.5]", actual="None")
    if isinstance(jitter_px, (str, bytes, dict)) or not hasattr(jitter_px, "__len__"):
        raise InvalidArgument("jitter_px must be two numbers", field=field, expected="(x, y) floats",
                              actual=type(jitter_px).__name__)
    try:
        if isinstance(jitter_px, torch.Tensor):
            jitter_px = jitter_px.detach().cpu().reshape(-1).tolist()
        elif isinstance(jitter_px, np.ndarray):
            jitter_px = jitter_px.reshape(-1).tolist()
        if len(jitter_px) != 2:  # type: ignore[arg-type]
            raise ValueError
        if not all(_is_real(v) for v in jitter_px):  # type: ignore[union-attr]
            raise TypeError  # strings, bools, None, complex: not a coordinate
        values = [float(v) for v in jitter_px]  # type: ignore[union-attr]
    except (TypeError, ValueError, RuntimeError, NotImplementedError, OverflowError):
        raise InvalidArgument("jitter_px must be two numbers", field=field, expected="(x, y) floats",
                              actual=_short_repr(jitter_px)) from None
    if not all(math.isfinite(v) and abs(v) <= JITTER_LIMIT_PX for v in values):
        raise InvalidArgument("jitter_px out of range (render pixels)", field=field,
                              expected="each in [-0.5, 0.5]", actual=repr(tuple(values)))
    return values[0], values[1]


def check_motion_vector_scale(scale: object) -> tuple[float, float] | None:
    """``None``, or two finite real numbers (the per-axis factor from motion values to render pixels).

    Returns:
        None, or ``(sx, sy)`` as Python floats.

    Raises:
        InvalidArgument: field ``motion_vector_scale``.
    """
    if scale is None:
        return None
    try:
        if isinstance(scale, (str, bytes)):
            raise TypeError
        values = tuple(scale)  # type: ignore[arg-type]
        if len(values) != 2 or not all(_is_real(v) for v in values):
            raise TypeError
        sx, sy = float(values[0]), float(values[1])
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgument("motion_vector_scale must be two numbers", field="motion_vector_scale",
                              expected="(sx, sy)", actual=_short_repr(scale)) from None
    if not (math.isfinite(sx) and math.isfinite(sy)):
        raise InvalidArgument("motion_vector_scale must be finite", field="motion_vector_scale",
                              expected="finite (sx, sy)", actual=repr((sx, sy)))
    return sx, sy


def frame_to_tensors(frame: Frame, device: torch.device, values: FrameValues | None = None, *,
                     depth_convention: str = "linear_view", camera_near: float | None = None,
                     camera_far: float | None = None, use_depth: bool = False) -> FrameTensors:
    """Convert a frame that passed :func:`check_frame` to (1, C, H, W) float32 tensors on ``device``.

    Colour NaN/Inf become 0 here (the only place colour enters the runtime), alpha is dropped, the motion
    is multiplied by ``motion_vector_scale`` (a new tensor: the caller's array is never written), and depth
    is converted to linear view depth when ``use_depth`` (otherwise it is not transferred at all).

    Args:
        frame: the checked frame.
        device: where the tensors go.
        values: its :class:`FrameValues` from the check (None: taken from ``frame``, which must then hold
            already-normalised values; used by tests).
    """
    if values is None:
        values = check_values(frame)
    color = _to_nchw(frame.color, device)[:, :3]
    finite = torch.isfinite(color)
    nonfinite = int(color.numel() - int(finite.sum()))
    if nonfinite:
        color = torch.where(finite, color, torch.zeros_like(color))
    motion = _to_nchw(frame.motion_px, device)
    scale = values.motion_vector_scale
    if scale is not None and scale != (1.0, 1.0):
        motion = motion * torch.tensor(scale, dtype=torch.float32, device=motion.device).view(1, 2, 1, 1)
    depth = None
    if use_depth and frame.depth is not None:
        raw = _to_nchw(frame.depth if _ndim(frame.depth) == 3 else _unsqueeze_last(frame.depth), device)
        depth = to_linear_view_depth(raw, depth_convention, camera_near, camera_far)
    return FrameTensors(color=color, motion_px=motion, depth=depth, jitter_px=values.jitter_px,
                        reset=values.reset, exposure=values.exposure, frame_time_ms=values.frame_time_ms,
                        nonfinite_color=nonfinite, as_numpy=isinstance(frame.color, np.ndarray))


# ----------------------------------------------------------------------------------------------------------
# helpers


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _ndim(a) -> int:
    return a.ndim if isinstance(a, np.ndarray) else a.dim()


def _unsqueeze_last(a):
    return a[..., None] if isinstance(a, np.ndarray) else a.unsqueeze(-1)


def _short_repr(x: object, limit: int = 80) -> str:
    try:
        text = repr(x)
    except Exception:  # a hostile __repr__ must not turn a typed error into another exception
        text = f"<{type(x).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"numpy {a.dtype} shape {a.shape}"
    if isinstance(a, torch.Tensor):
        return f"torch {a.dtype} shape {tuple(a.shape)} on {a.device}"
    return type(a).__name__


def _check_array(a: object, name: str, hw: tuple[int, int], channels: tuple[int | None, ...]) -> None:
    """Type, rank, (H, W), channel count (None in ``channels`` allows a missing channel axis) and dtype."""
    h, w = hw
    shapes = " or ".join(f"({h}, {w})" if c is None else f"({h}, {w}, {c})" for c in channels)
    if a is None:
        raise InvalidArgument(f"Frame.{name} is missing", field=name, expected=f"{shapes} float array",
                              actual="None")
    if not isinstance(a, (np.ndarray, torch.Tensor)):
        raise InvalidArgument(f"{name} must be a numpy array or a torch tensor", field=name,
                              expected=f"{shapes} numpy.ndarray or torch.Tensor", actual=_describe(a))
    shape = tuple(a.shape)
    ok = any((c is None and shape == (h, w)) or (c is not None and shape == (h, w, c)) for c in channels)
    if not ok:
        raise InvalidArgument(f"{name} has the wrong shape (top-down (H, W, C) at render size)", field=name,
                              expected=shapes, actual=_describe(a))
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f" and not a.dtype.isnative:
            raise InvalidArgument(f"{name} must be in native byte order", field=name,
                                  expected=f"native-endian float16/32/64 (e.g. {name}.astype('=f4'))",
                                  actual=f"numpy {a.dtype.str} shape {a.shape}")
        if a.dtype not in NUMPY_DTYPES:
            raise InvalidArgument(f"{name} must be floating point", field=name,
                                  expected="float16, float32 or float64", actual=_describe(a))
    else:
        if a.layout != torch.strided or a.is_quantized:
            raise InvalidArgument(f"{name} must be a dense tensor", field=name,
                                  expected="a strided (dense) torch tensor", actual=f"{_describe(a)} {a.layout}")
        if a.device.type == "meta":
            raise InvalidArgument(f"{name} is a meta tensor (no data)", field=name,
                                  expected="a tensor with storage on cpu or cuda", actual=_describe(a))
        if a.dtype not in TORCH_DTYPES:
            raise InvalidArgument(f"{name} must be floating point", field=name,
                                  expected="float16, bfloat16, float32 or float64", actual=_describe(a))


def _check_float32_range(a, name: str) -> None:
    """Finite float64 values beyond float32's range would become Inf inside the float32 network."""
    is64 = a.dtype == np.float64 if isinstance(a, np.ndarray) else a.dtype == torch.float64
    if not is64:
        return
    t = _as_torch(a)
    finite = torch.isfinite(t)
    big = finite & (t.abs() > FLOAT32_MAX)
    if bool(big.any()):
        raise InvalidArgument(f"{name} has finite values that overflow float32", field=name,
                              expected=f"|values| <= {FLOAT32_MAX:.4g} (float32 range)",
                              actual=f"{int(big.sum())} values, max |x| {float(t[big].abs().max()):.4g}")


def _as_torch(a) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))
    return a.detach()


def _check_color_range(color) -> None:
    c = _as_torch(color)[..., :3]
    negative = c < 0  # NaN compares False; -Inf is sanitised, not refused
    if bool(negative.any()):
        negative &= torch.isfinite(c)
        count = int(negative.sum())
        if count:
            low = float(c[negative].min())
            raise InvalidArgument("color must be linear HDR radiance >= 0", field="color",
                                  expected="values >= 0 (NaN/Inf are replaced by 0)",
                                  actual=f"{count} negative values, min {low:g}")


def _check_scaled_motion(motion, scale: tuple[float, float]) -> None:
    """Finite motion times a finite scale must stay finite in float32."""
    peak = float(_as_torch(motion).abs().max()) if _numel(motion) else 0.0
    if peak * max(abs(scale[0]), abs(scale[1])) > FLOAT32_MAX:
        raise InvalidArgument("motion_px times motion_vector_scale overflows float32", field="motion_vector_scale",
                              expected=f"max |motion * scale| <= {FLOAT32_MAX:.4g}",
                              actual=f"max |motion| {peak:.4g} times {scale}")


def _numel(a) -> int:
    return a.size if isinstance(a, np.ndarray) else a.numel()


def _check_finite(a, name: str) -> None:
    t = _as_torch(a)
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        raise InvalidArgument(f"{name} must be finite", field=name, expected="no NaN or Inf",
                              actual=f"{int(t.numel() - int(finite.sum()))} non-finite values")


def _check_depth_range(depth, convention: str) -> None:
    t = _as_torch(depth)
    nan = torch.isnan(t)
    if bool(nan.any()):
        raise InvalidArgument("depth must not be NaN", field="depth", expected="no NaN",
                              actual=f"{int(nan.sum())} NaN values")
    if convention == "linear_view":
        low, high, text = 0.0, math.inf, "linear view depth >= 0 (+inf allowed for the sky)"
    else:
        low, high, text = 0.0, 1.0, "window-space depth in [0, 1]"
    lo, hi = float(t.min()), float(t.max())
    if lo < low or hi > high:
        raise InvalidArgument(f"depth out of range for depth_convention {convention!r}", field="depth",
                              expected=text, actual=f"range [{lo:g}, {hi:g}]")


def _to_nchw(a, device: torch.device) -> torch.Tensor:
    t = _as_torch(a)
    return t.to(device=device, dtype=torch.float32).permute(2, 0, 1).unsqueeze(0).contiguous()
