"""Training augmentations: one random crop, flips and exposure shared by every frame of a block.

A block is a dict of top-down numpy arrays with a leading time axis::

    color      (T, H, W, 3) linear HDR, aliased
    reference  (T, H, W, 3) linear HDR
    motion_px  (T, H, W, 2) contract motion (previous = current + motion), render pixels
    depth      (T, H, W, 1) linear view depth

Flips keep the motion contract true: with pixel centres at ``x + 0.5``, mirroring maps a continuous
position ``x`` to ``W - x``, so a pixel whose content came from ``x + m`` now comes from ``W - x - m``:
the mirrored motion is ``-m`` on the flipped axis. Exposure scales colour and reference alike (both
linear HDR) and leaves motion and depth alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qwplugin.errors import InvalidArgument

IMAGE_KEYS = ("color", "reference")
"""Keys scaled by the exposure."""


@dataclass(frozen=True)
class AugmentParams:
    """One draw of augmentation parameters (pixels of the uncropped frame, top-down).

    Attributes:
        top, left: crop origin, rows / columns.
        height, width: crop size.
        flip_x: mirror left-right (motion x negated); flip_y: mirror top-bottom (motion y negated).
        exposure: multiplier of colour and reference.
    """

    top: int
    left: int
    height: int
    width: int
    flip_x: bool
    flip_y: bool
    exposure: float


def draw_params(rng: np.random.Generator, height: int, width: int, crop: int | None = None, flips: bool = False,
                exposure_log2_range: float = 0.0) -> AugmentParams:
    """Draw a square ``crop`` (None: the whole frame), flips (each with probability 1/2 when ``flips``)
    and an exposure ``2 ** U(-r, r)`` for an ``height`` x ``width`` frame.

    The draws happen in a fixed order (crop top, crop left, flip x, flip y, exposure) whatever the
    options, so the same generator state gives the same crop with or without flips.

    Raises:
        InvalidArgument: ``crop`` below 1 or larger than the frame, or a negative exposure range.
    """
    if crop is None:
        ch, cw = height, width
    else:
        if not 1 <= crop <= min(height, width):
            raise InvalidArgument("crop must fit in the frame", field="crop", expected=f"1..{min(height, width)}",
                                  actual=str(crop))
        ch = cw = int(crop)
    if exposure_log2_range < 0:
        raise InvalidArgument("exposure range must be >= 0", field="exposure_log2_range", expected=">= 0",
                              actual=str(exposure_log2_range))
    top = int(rng.integers(0, height - ch + 1))
    left = int(rng.integers(0, width - cw + 1))
    fx, fy = (bool(v) for v in rng.integers(0, 2, size=2))
    e = float(rng.uniform(-1.0, 1.0))
    return AugmentParams(top, left, ch, cw, fx and flips, fy and flips, float(2.0 ** (e * exposure_log2_range)))


def apply_params(block: dict[str, np.ndarray], p: AugmentParams) -> dict[str, np.ndarray]:
    """Apply ``p`` to every array of ``block`` (see the module docstring); returns a new dict of
    contiguous float32 arrays. Keys other than the four known ones are cropped and flipped only.

    Raises:
        InvalidArgument: the crop does not fit the block's frames.
    """
    t, h, w = block["color"].shape[:3]
    if p.top < 0 or p.left < 0 or p.top + p.height > h or p.left + p.width > w:
        raise InvalidArgument("crop outside the frame", field="params", expected=f"inside {w}x{h}",
                              actual=f"{p.width}x{p.height} at ({p.left}, {p.top})")
    out = {}
    for key, array in block.items():
        a = array[:, p.top:p.top + p.height, p.left:p.left + p.width]
        if p.flip_x:
            a = a[:, :, ::-1]
        if p.flip_y:
            a = a[:, ::-1]
        a = np.array(a, dtype=np.float32)  # copy: never alias the cached block
        if key in IMAGE_KEYS and p.exposure != 1.0:
            a *= np.float32(p.exposure)
        if key == "motion_px":
            if p.flip_x:
                a[..., 0] *= -1.0
            if p.flip_y:
                a[..., 1] *= -1.0
        out[key] = a
    return out


def crop_period(render_size: int, display_size: int) -> int:
    """Smallest render-pixel step ``q`` whose display image ``q * display / render`` is a whole number of
    display pixels: the denominator of ``display / render`` in lowest terms (1 at integer scales).

    Examples:
        >>> crop_period(128, 256), crop_period(192, 288), crop_period(170, 256)
        (1, 2, 85)
    """
    from fractions import Fraction

    return Fraction(int(display_size), int(render_size)).denominator


def display_params(p: AugmentParams, render_hw: tuple[int, int],
                   display_hw: tuple[int, int]) -> tuple[AugmentParams, AugmentParams]:
    """``p`` (drawn for the render grid) snapped to the crop period of each axis (:func:`crop_period`) and
    its twin on the display grid: the same window of the scene, ``display / render`` times larger.

    Returns:
        ``(render_params, display_params)``.

    Raises:
        InvalidArgument: the crop is not a multiple of the crop period (it could not be aligned).
    """
    (h, w), (hd, wd) = render_hw, display_hw
    qy, qx = crop_period(h, hd), crop_period(w, wd)
    if p.height % qy or p.width % qx:
        raise InvalidArgument("an upscaling crop must cover whole display pixels", field="crop",
                              expected=f"a multiple of {qy} (rows) and {qx} (columns) for {w}x{h} -> {wd}x{hd}",
                              actual=f"{p.width}x{p.height}")
    top, left = p.top // qy * qy, p.left // qx * qx
    render = AugmentParams(top, left, p.height, p.width, p.flip_x, p.flip_y, p.exposure)
    display = AugmentParams(top * hd // h, left * wd // w, p.height * hd // h, p.width * wd // w, p.flip_x,
                            p.flip_y, p.exposure)
    return render, display


def apply_upscale_params(block: dict[str, np.ndarray], p: AugmentParams) -> dict[str, np.ndarray]:
    """:func:`apply_params` for an upscaling block, whose ``reference`` is at the display size: the render
    planes get ``p`` snapped to the crop period, the reference the aligned display crop
    (:func:`display_params`); flips and exposure alike.

    Raises:
        InvalidArgument: a crop that cannot be aligned, or outside the frame.
    """
    render_hw = block["color"].shape[1:3]
    display_hw = block["reference"].shape[1:3]
    pr, pd = display_params(p, render_hw, display_hw)
    out = apply_params({k: v for k, v in block.items() if k != "reference"}, pr)
    out["reference"] = apply_params({"color": block["reference"]}, pd)["color"]
    return out
