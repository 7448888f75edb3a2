"""Sub-pixel sample positions: the per-frame jitter in NDC, and the reference's stratified pattern.

No GL here: pure functions, shared by the renderer and the tests.
"""

from __future__ import annotations

import math

import numpy as np

from qwplugin.errors import InvalidArgument


def jitter_to_ndc(jitter_px: tuple[float, float], width: int, height: int) -> tuple[float, float]:
    """The NDC translation that makes pixel (row i, column j) sample the image at
    ``(j + 0.5 + jx, i + 0.5 + jy)`` (pixel units, origin top-left, +y down).

    Moving the sample point by +jx pixels is the same as moving the image by -jx pixels under fixed
    pixel centres, so x gets ``-2 jx / W``. Image +y is down but NDC +y is up, so the sign flips once
    more: y gets ``+2 jy / H``. The renderer applies it as ``P' = T(x, y, 0) @ P``.

    Examples:
        >>> jitter_to_ndc((0.25, 0.25), 100, 50)
        (-0.005, 0.01)
    """
    jx, jy = jitter_px
    return -2.0 * jx / width, 2.0 * jy / height


def reference_sample_offsets(spp: int) -> np.ndarray:
    """Sub-pixel positions of the supersampled reference, ``(spp, 2)`` float64 in [0, 1)^2 (x right,
    y down, relative to the pixel's top-left corner).

    ``spp = k * k`` samples, one per cell of a k x k grid of strata (box filter over the pixel), placed
    deterministically in the canonical multi-jittered arrangement of Chiu, Shirley and Wang ("Multi-
    Jittered Sampling", Graphics Gems IV, 1994) at sub-cell centres: sample (a, b) sits at
    ``x = (a + (b + 0.5) / k) / k``, ``y = (b + (a + 0.5) / k) / k``. Every sample is in its own 2D
    stratum AND its own 1/spp column and row, so axis-aligned edges are resolved to 1/spp (plain stratum
    centres would only give 1/k). ``spp = 1`` is the pixel centre.

    Raises:
        InvalidArgument: ``spp`` is not a positive perfect square.

    Examples:
        >>> reference_sample_offsets(1).tolist()
        [[0.5, 0.5]]
        >>> sorted(reference_sample_offsets(4)[:, 0].tolist())
        [0.125, 0.375, 0.625, 0.875]
    """
    k = math.isqrt(spp) if isinstance(spp, (int, np.integer)) and spp > 0 else 0
    if k < 1 or k * k != spp:
        raise InvalidArgument("spp must be a positive perfect square (k x k strata)", field="spp",
                              expected="1, 4, 9, 16, ..., 64, ..., 256", actual=repr(spp))
    a, b = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    x = (a + (b + 0.5) / k) / k
    y = (b + (a + 0.5) / k) / k
    return np.stack([x.ravel(), y.ravel()], axis=1)


DEFAULT_INPUT_MIP_BIAS = -1.0
"""Texture LOD bias of the aliased (jittered, 1 sample per pixel) input at native resolution: the FSR 2 rule
:func:`fsr2_input_mip_bias` with render size = display size."""

DEFAULT_REFERENCE_MIP_BIAS = 0.0
"""Base texture LOD bias of the reference: 0 = the display pixel's footprint; each of its k x k sub-samples
adds ``-log2(k)`` on top (:func:`reference_sample_mip_bias`)."""


def fsr2_input_mip_bias(render_width: int, display_width: int) -> float:
    """The FSR 2 texture LOD bias for the jittered input: ``log2(render_width / display_width) - 1``
    (AMD FidelityFX Super Resolution 2 integration guide, "Mipmap biasing"): -1 at native resolution
    (anti-aliasing only), -1.585 for 1.5x upscaling, -2 for 2x.

    Raises:
        InvalidArgument: a width below 1.

    Examples:
        >>> fsr2_input_mip_bias(1920, 1920)
        -1.0
        >>> fsr2_input_mip_bias(960, 1920)
        -2.0
    """
    if int(render_width) < 1 or int(display_width) < 1:
        raise InvalidArgument("widths must be positive", field="render_width/display_width", expected=">= 1",
                              actual=f"{render_width}/{display_width}")
    return math.log2(int(render_width) / int(display_width)) - 1.0


def reference_sample_mip_bias(spp: int, base_mip_bias: float = DEFAULT_REFERENCE_MIP_BIAS) -> float:
    """Texture LOD bias of each sub-sample of a ``spp = k * k`` reference: ``base_mip_bias - log2(k)``.

    A sub-sample stands for a 1/k x 1/k cell of the pixel, so its texture footprint is 1/k of the pixel's
    along each screen axis and its LOD (log2 of the footprint in texels) is the pixel's minus ``log2(k)``.
    The box average of the k x k sub-samples then filters the texture over the pixel with little extra
    blur, instead of blurring every sub-sample by a whole pixel's footprint (which ``base_mip_bias`` alone
    would do). ``spp = 1`` gives ``base_mip_bias``.

    Raises:
        InvalidArgument: ``spp`` is not a positive perfect square.

    Examples:
        >>> reference_sample_mip_bias(64), reference_sample_mip_bias(16, 0.5), reference_sample_mip_bias(1)
        (-3.0, -1.5, 0.0)
    """
    k = math.isqrt(spp) if isinstance(spp, (int, np.integer)) and spp > 0 else 0
    if k < 1 or k * k != spp:
        raise InvalidArgument("spp must be a positive perfect square (k x k strata)", field="spp",
                              expected="1, 4, 9, 16, ..., 64, ..., 256", actual=repr(spp))
    return float(base_mip_bias) - math.log2(k)
