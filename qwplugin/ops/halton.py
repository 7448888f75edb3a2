"""Halton(2, 3) sub-pixel jitter, shared by the engine (which renders with it) and the plugin.

Convention (the project's input contract): ``jitter_px = (x, y)`` is the offset, in render pixels, of the
point a pixel samples from that pixel's centre; +x right, +y down (top-down image rows). Values lie in
[-0.5, 0.5). Rendering with jitter ``(x, y)`` means pixel ``(row i, column j)`` sees the scene at the
continuous image position ``(j + 0.5 + x, i + 0.5 + y)`` (pixel units, origin at the top-left corner).
"""

from __future__ import annotations

DEFAULT_PHASE_COUNT = 16


def radical_inverse(index: int, base: int) -> float:
    """Van der Corput radical inverse of ``index`` in ``base``: a value in [0, 1).

    Examples:
        >>> radical_inverse(1, 2), radical_inverse(2, 2), radical_inverse(3, 2)
        (0.5, 0.25, 0.75)
        >>> round(radical_inverse(1, 3), 6), round(radical_inverse(2, 3), 6)
        (0.333333, 0.666667)
    """
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    if base < 2:
        raise ValueError(f"base must be >= 2, got {base}")
    result, fraction = 0.0, 1.0 / base
    while index > 0:
        index, digit = divmod(index, base)
        result += digit * fraction
        fraction /= base
    return result


def jitter_offset_px(frame_index: int, phase_count: int = DEFAULT_PHASE_COUNT) -> tuple[float, float]:
    """Jitter of a frame in render pixels, ``(x, y)`` in [-0.5, 0.5), +x right, +y down.

    Uses Halton points 1..phase_count (index 0 is skipped because it is the pixel corner), cycling.

    Args:
        frame_index: frame number, >= 0.
        phase_count: length of the jitter sequence (default 16), >= 1.

    Examples:
        >>> jitter_offset_px(0)
        (0.0, -0.16666666666666669)
        >>> jitter_offset_px(16) == jitter_offset_px(0)
        True
    """
    if phase_count < 1:
        raise ValueError(f"phase_count must be >= 1, got {phase_count}")
    if frame_index < 0:
        raise ValueError(f"frame_index must be >= 0, got {frame_index}")
    index = frame_index % phase_count + 1
    return radical_inverse(index, 2) - 0.5, radical_inverse(index, 3) - 0.5


def jitter_phase(frame_index: int, phase_count: int = DEFAULT_PHASE_COUNT, start_phase: int = 0) -> int:
    """Which Halton phase (0-based position in the ``phase_count``-long cycle) frame ``frame_index`` of a
    sequence uses when the sequence starts at phase ``start_phase``: ``(start_phase + frame_index) %
    phase_count``. Phase ``p`` is the jitter :func:`jitter_offset_px` ``(p, phase_count)`` gives (Halton
    point ``p + 1``). ``start_phase = 0`` is every caller's default (frame i uses phase i mod phase_count).

    Args:
        frame_index: frame number within the sequence, >= 0.
        phase_count: length of the jitter sequence, >= 1.
        start_phase: phase of frame 0, in ``0 .. phase_count - 1``.

    Raises:
        ValueError: a negative frame index, ``phase_count < 1`` or ``start_phase`` outside the cycle.

    Examples:
        >>> jitter_phase(0, 16, 5), jitter_phase(11, 16, 5), jitter_phase(12, 16, 5)
        (5, 0, 1)
        >>> jitter_offset_px(jitter_phase(3, 16, 14)) == jitter_offset_px(14 + 3)
        True
    """
    if phase_count < 1:
        raise ValueError(f"phase_count must be >= 1, got {phase_count}")
    if frame_index < 0:
        raise ValueError(f"frame_index must be >= 0, got {frame_index}")
    if not 0 <= start_phase < phase_count:
        raise ValueError(f"start_phase must be in 0..{phase_count - 1}, got {start_phase}")
    return (start_phase + frame_index) % phase_count


FSR2_BASE_PHASE_COUNT = 8
"""FSR 2's jitter phases at native resolution; upscaling multiplies it by the pixel-count ratio."""


def jitter_phase_count(render_width: int, display_width: int) -> int:
    """The minimum jitter sequence length for an upscaling ratio: ``int(8 * (display_width /
    render_width) ** 2)``, **truncated**, exactly as FSR 2.2's ``ffxFsr2GetJitterPhaseCount`` computes it
    (its header documents ``ceil``; the implementation truncates, so 1.7x gives 23 where DLSS's table says
    24). Every render pixel then sees about 8 samples per display pixel it covers.

    At native resolution this gives 8; the engine's default at native resolution stays
    :data:`DEFAULT_PHASE_COUNT` (16), see :func:`default_phase_count`.

    Args:
        render_width: render width in pixels, >= 1.
        display_width: display width in pixels, >= render_width.

    Raises:
        ValueError: a width below 1 or a display narrower than the render.

    Examples:
        >>> [jitter_phase_count(r, 1920) for r in (1920, 1280, 1129, 960, 640)]
        [8, 18, 23, 32, 72]
    """
    if int(render_width) < 1 or int(display_width) < int(render_width):
        raise ValueError(f"need 1 <= render_width <= display_width, got {render_width}, {display_width}")
    ratio = int(display_width) / int(render_width)
    return int(FSR2_BASE_PHASE_COUNT * ratio * ratio)


def default_phase_count(render_width: int, display_width: int) -> int:
    """The engine's default jitter length: :func:`jitter_phase_count`, never below
    :data:`DEFAULT_PHASE_COUNT` (so native rendering keeps its 16 phases).

    Examples:
        >>> default_phase_count(256, 256), default_phase_count(128, 256), default_phase_count(170, 256)
        (16, 32, 18)
    """
    return max(DEFAULT_PHASE_COUNT, jitter_phase_count(render_width, display_width))
