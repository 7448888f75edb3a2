"""Temporal-upscaling modes: named scale factors and the render size for a display size (no GL).

Scale factors are **per axis**: ``display / render`` along x and along y (FSR 2, DLSS and XeSS all count
them this way, so "performance 2x" renders a quarter of the display's pixels).

=====================  =====  ===============================================================
mode                   scale  also called
=====================  =====  ===============================================================
``native``             1.0    DLAA / FSR NativeAA: anti-aliasing only, render = display
``quality``            1.5    FSR 2 / DLSS Quality
``balanced``           1.7    FSR 2 Balanced (DLSS: 1.724)
``performance``        2.0    FSR 2 / DLSS Performance
``ultra_performance``  3.0    FSR 2 / DLSS Ultra Performance
=====================  =====  ===============================================================

Any ratio in ``[MIN_SCALE, MAX_SCALE] = [1, 3]`` is accepted as well.

Rounding: :func:`render_size_for` **floors** each axis, ``render = floor(display / scale)`` (at least 1),
exactly as FSR 2's ``ffxFsr2GetRenderResolutionFromQualityMode`` does (``(uint32_t)(displayWidth / ratio)``),
so 1920x1080 in balanced mode renders 1129x635. The effective per-axis scale of a pair of sizes is then
``display / render`` (:func:`scale_of`), slightly above the nominal one; the jitter length, mip bias and the
upscalers use the effective scale, never the nominal one.
"""

from __future__ import annotations

import math
import numbers

from qwplugin.errors import InvalidArgument

MODES: dict[str, float] = {
    "native": 1.0,
    "quality": 1.5,
    "balanced": 1.7,
    "performance": 2.0,
    "ultra_performance": 3.0,
}
"""Named per-axis scale factors (display / render)."""

MIN_SCALE = 1.0
MAX_SCALE = 3.0


def scale_factor(mode: str | float, field: str = "mode") -> float:
    """The per-axis scale factor of a mode name or a number.

    Args:
        mode: a key of :data:`MODES` (case-insensitive, ``-`` or ``_``), a number in [1, 3], or a string
            holding one (``"1.5"``, ``"2x"``).
        field: the argument name used in the error.

    Returns:
        the scale factor as a float in [1, 3].

    Raises:
        InvalidArgument: an unknown name, a non-finite number or one outside [1, 3] (naming ``field``).

    Examples:
        >>> scale_factor("performance"), scale_factor("Ultra-Performance"), scale_factor(1.25)
        (2.0, 3.0, 1.25)
        >>> scale_factor("2x")
        2.0
    """
    expected = f"one of {', '.join(MODES)} or a number in [{MIN_SCALE:g}, {MAX_SCALE:g}]"
    value = None
    if isinstance(mode, str):
        key = mode.strip().lower().replace("-", "_")
        if key in MODES:
            return MODES[key]
        try:
            value = float(key[:-1] if key.endswith("x") else key)
        except ValueError:
            raise InvalidArgument("unknown upscaling mode", field=field, expected=expected,
                                  actual=repr(mode)) from None
    elif isinstance(mode, numbers.Real) and not isinstance(mode, bool):
        value = float(mode)
    if value is None or not math.isfinite(value) or not MIN_SCALE <= value <= MAX_SCALE:
        raise InvalidArgument("upscaling scale factor out of range", field=field, expected=expected,
                              actual=repr(mode))
    return value


def check_size(size, field: str) -> tuple[int, int]:
    """``(width, height)`` as two positive ints.

    Raises:
        InvalidArgument: not a pair of integers >= 1 (naming ``field``).
    """
    try:
        w, h = size
    except (TypeError, ValueError):
        raise InvalidArgument("size must be (width, height)", field=field, expected="(W, H) integers >= 1",
                              actual=repr(size)) from None
    ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= 1 for v in (w, h))
    if not ok:
        raise InvalidArgument("size must be positive integers", field=field, expected="(W, H) integers >= 1",
                              actual=repr(size))
    return int(w), int(h)


def render_size_for(display_size: tuple[int, int], mode: str | float) -> tuple[int, int]:
    """The render size for a display size and a mode: ``floor(display / scale)`` per axis, at least 1 (the
    FSR 2 rounding; see the module docstring).

    Args:
        display_size: ``(width, height)`` of the output in pixels.
        mode: a mode name of :data:`MODES` or a scale factor in [1, 3].

    Returns:
        ``(width, height)`` of the render in pixels.

    Raises:
        InvalidArgument: a bad display size (field ``display_size``) or mode (field ``mode``).

    Examples:
        >>> render_size_for((1920, 1080), "quality"), render_size_for((1920, 1080), "balanced")
        ((1280, 720), (1129, 635))
        >>> render_size_for((1920, 1080), "performance"), render_size_for((1920, 1080), 3.0)
        ((960, 540), (640, 360))
    """
    dw, dh = check_size(display_size, "display_size")
    scale = scale_factor(mode)
    # floor(d / s) computed in float64; d / s is never within float64 rounding of an integer it is not
    # (d < 2^24, s has few digits), so this is the exact floor.
    return max(1, math.floor(dw / scale)), max(1, math.floor(dh / scale))


def scale_of(render_size: tuple[int, int], display_size: tuple[int, int]) -> tuple[float, float]:
    """The effective per-axis scale ``(display_w / render_w, display_h / render_h)`` of two sizes.

    Raises:
        InvalidArgument: bad sizes, or a display size smaller than the render size or more than
            :data:`MAX_SCALE` times it on an axis (field ``display_size``).

    Examples:
        >>> scale_of((960, 540), (1920, 1080))
        (2.0, 2.0)
    """
    rw, rh = check_size(render_size, "render_size")
    dw, dh = check_size(display_size, "display_size")
    sx, sy = dw / rw, dh / rh
    if not (MIN_SCALE <= sx <= MAX_SCALE and MIN_SCALE <= sy <= MAX_SCALE):
        raise InvalidArgument("display size must be 1 to 3 times the render size on each axis",
                              field="display_size",
                              expected=f"between {rw}x{rh} and {int(rw * MAX_SCALE)}x{int(rh * MAX_SCALE)}",
                              actual=f"{dw}x{dh}")
    return sx, sy
