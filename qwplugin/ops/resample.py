"""Spatial upscaling baselines: bilinear, bicubic and Lanczos-3 resampling of a frame to the display size.

These are the simple baselines of the upscaling table (a no-AA or TAA frame at the render size, upscaled with
no temporal information). Pixel-centre convention (as the rest of the project and ``align_corners=False``):
display pixel ``X`` samples the source at ``u = (X + 0.5) * w / W - 0.5`` source texels (centre of texel
``j`` at ``j``), clamp-to-edge outside the image.

Kernels (separable; the tap weights are normalised to sum to 1 per output pixel, so constants stay constant):

=============  ===================================================================  =====
``bilinear``   tent ``max(0, 1 - |t|)``                                             2 taps
``bicubic``    Keys cubic convolution, ``a = -0.5`` (the Catmull-Rom spline)          4 taps
``lanczos``    Lanczos-3: ``sinc(t) sinc(t / 3)`` for ``|t| < 3``                     6 taps
=============  ===================================================================  =====

When upscaling, the kernel is not widened (it interpolates the source), as PIL and OpenCV do for
magnification. Downscaling (display smaller than the source) is refused: these are upscalers.

**Deringing** (``dering=True``, what the upscaling methods use for bicubic and Lanczos): the negative lobes
overshoot at edges (halos, and on HDR highlights bright rings); the output is clamped per channel to the
min / max of the 2x2 source texels around the sample position (``floor(u)`` and ``floor(u) + 1`` per axis,
clamp-to-edge), the anti-ringing clamp of FSR 1's EASU. It leaves smooth regions untouched and is a no-op
for bilinear (a convex blend of those same four texels).
"""

from __future__ import annotations

import numpy as np
import torch

from qwplugin.errors import InvalidArgument

METHODS = ("bilinear", "bicubic", "lanczos")
"""Spatial upscaling kernels."""

_SUPPORT = {"bilinear": 1, "bicubic": 2, "lanczos": 3}


def kernel(method: str, t: np.ndarray) -> np.ndarray:
    """The 1D kernel of ``method`` at offsets ``t`` (source texels), float64.

    Raises:
        InvalidArgument: unknown method.

    Examples:
        >>> kernel("bilinear", np.array([0.0, 0.5, 1.0])).tolist()
        [1.0, 0.5, 0.0]
        >>> kernel("bicubic", np.array([0.0, 1.0, 0.5])).round(6).tolist()
        [1.0, 0.0, 0.5625]
    """
    if method not in METHODS:
        raise InvalidArgument("unknown upscaling method", field="method", expected=", ".join(METHODS),
                              actual=repr(method))
    a = np.abs(np.asarray(t, np.float64))
    if method == "bilinear":
        return np.maximum(0.0, 1.0 - a)
    if method == "bicubic":  # Keys 1981, a = -0.5
        return np.where(a <= 1.0, (1.5 * a - 2.5) * a * a + 1.0,
                        np.where(a < 2.0, ((-0.5 * a + 2.5) * a - 4.0) * a + 2.0, 0.0))
    return np.where(a < 3.0, np.sinc(a) * np.sinc(a / 3.0), 0.0)


def resample_matrix(source_len: int, target_len: int, method: str) -> np.ndarray:
    """The (target_len, source_len) float64 matrix that resamples one axis (clamp-to-edge, normalised rows).

    Raises:
        InvalidArgument: unknown method, a length below 1, or ``target_len < source_len``.
    """
    if method not in METHODS:
        raise InvalidArgument("unknown upscaling method", field="method", expected=", ".join(METHODS),
                              actual=repr(method))
    if source_len < 1 or target_len < source_len:
        raise InvalidArgument("upscaling needs target >= source >= 1", field="size",
                              expected=f"target >= {source_len}", actual=str(target_len))
    support = _SUPPORT[method]
    u = (np.arange(target_len) + 0.5) * (source_len / target_len) - 0.5
    base = np.floor(u).astype(np.int64)
    matrix = np.zeros((target_len, source_len))
    rows = np.arange(target_len)
    for offset in range(-support + 1, support + 1):
        j = base + offset
        wgt = kernel(method, u - j)
        np.add.at(matrix, (rows, np.clip(j, 0, source_len - 1)), wgt)
    return matrix / matrix.sum(axis=1, keepdims=True)


def nearest_texels(source_len: int, target_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output index, the two source indices around its sample position: ``floor(u)`` and
    ``floor(u) + 1``, clamped to the image (the deringing footprint). Two (target_len,) int64 arrays."""
    u = (np.arange(target_len) + 0.5) * (source_len / target_len) - 0.5
    base = np.floor(u).astype(np.int64)
    return np.clip(base, 0, source_len - 1), np.clip(base + 1, 0, source_len - 1)


def dering_bounds(image: torch.Tensor, display_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per display pixel and channel, the min and max of the 2x2 source texels around its sample position.

    Args:
        image: (N,C,h,w) source; display_size: ``(W, H)``.

    Returns:
        ``(lo, hi)``, each (N,C,H,W).
    """
    big_w, big_h = display_size
    h, w = image.shape[-2:]
    y0, y1 = (torch.from_numpy(a).to(image.device) for a in nearest_texels(h, big_h))
    x0, x1 = (torch.from_numpy(a).to(image.device) for a in nearest_texels(w, big_w))
    a, b = image.index_select(-2, y0), image.index_select(-2, y1)
    row_lo, row_hi = torch.minimum(a, b), torch.maximum(a, b)
    lo = torch.minimum(row_lo.index_select(-1, x0), row_lo.index_select(-1, x1))
    hi = torch.maximum(row_hi.index_select(-1, x0), row_hi.index_select(-1, x1))
    return lo, hi


def upscale(image: torch.Tensor, display_size: tuple[int, int], method: str = "bicubic",
            dering: bool = False) -> torch.Tensor:
    """Upscale a frame to the display size with a separable spatial kernel (no temporal information).

    Args:
        image: (N,C,h,w) floating tensor, e.g. linear HDR colour at the render size.
        display_size: ``(W, H)``, each at least the source size (and any ratio; the modes use 1 to 3).
        method: one of :data:`METHODS`.
        dering: clamp to the 2x2 nearest source texels (:func:`dering_bounds`; see the module docstring).

    Returns:
        (N,C,H,W) tensor of ``image``'s dtype. Without ``dering``, negative lobes of bicubic / Lanczos can
        produce values outside the input range (ringing); they are not clamped.

    Raises:
        InvalidArgument: a non-4D or non-floating image (field ``image``), a display size smaller than the
            image (field ``display_size``), an unknown method (field ``method``).

    Examples:
        >>> x = torch.ones(1, 3, 4, 6)
        >>> y = upscale(x, (12, 8), "lanczos")
        >>> tuple(y.shape), bool(torch.allclose(y, torch.ones_like(y)))
        ((1, 3, 8, 12), True)
    """
    from qwplugin.upscale import check_size

    if not isinstance(image, torch.Tensor) or image.ndim != 4 or not image.is_floating_point():
        raise InvalidArgument("image must be a floating (N,C,h,w) tensor", field="image",
                              expected="(N,C,h,w) float", actual=_describe(image))
    big_w, big_h = check_size(display_size, "display_size")
    h, w = image.shape[-2:]
    if big_w < w or big_h < h:
        raise InvalidArgument("display size smaller than the image (these are upscalers)",
                              field="display_size",
                              expected=f">= {w}x{h}", actual=f"{big_w}x{big_h}")
    if method not in METHODS:
        raise InvalidArgument("unknown upscaling method", field="method", expected=", ".join(METHODS),
                              actual=repr(method))
    ry = torch.from_numpy(resample_matrix(h, big_h, method)).to(image.device, image.dtype)
    rx = torch.from_numpy(resample_matrix(w, big_w, method)).to(image.device, image.dtype)
    out = torch.einsum("Yy,ncyx,Xx->ncYX", ry, image, rx)
    if dering:
        lo, hi = dering_bounds(image, (big_w, big_h))
        out = torch.minimum(torch.maximum(out, lo), hi)
    return out


def _describe(x) -> str:
    return f"shape {tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__

