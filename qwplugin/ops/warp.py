"""Backward bilinear warp of the previous frame by per-pixel motion vectors (the paper's W).

Convention (the project's input contract): ``motion_px[:, 0]`` (x, +right) and ``motion_px[:, 1]``
(y, +down) are in render pixels and point from the current pixel to where it was in the previous frame:
``previous = current + motion``. Pixel ``(i, j)`` has its centre at the continuous position
``(j + 0.5, i + 0.5)``; the warped value is the previous image bilinearly interpolated at
``(j + 0.5 + mx, i + 0.5 + my)``, i.e. at fractional pixel index ``(j + mx, i + my)``.

Why not ``grid_sample``: its normalised coordinates cost a round trip ``(2x + 1) / W - 1`` that makes an
integer shift inexact by an ulp; this gather formulation computes the fractional weights from
``floor`` directly, so integer motion copies pixels bit-exactly. It is differentiable in both the image
and the motion (gradients of the fractional weights), and costs 4 gathers per channel.
"""

from __future__ import annotations

import torch

from qwplugin.ops._checks import check_same_spatial, check_tensor


def warp_backward(image: torch.Tensor, motion_px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``image`` (the previous frame) at ``current + motion_px`` with bilinear filtering.

    Samples whose 2x2 footprint pokes outside the frame use the nearest edge pixels (clamp to edge).
    ``valid`` is 1 where the sample point ``(j + 0.5 + mx, i + 0.5 + my)`` lies inside the frame
    rectangle ``[0, W] x [0, H]`` (closed), else 0; NaN motion is invalid too. The caller decides what
    replaces invalid pixels (the recurrent runner uses the current frame).

    Args:
        image: (N, C, H, W) float, the previous frame.
        motion_px: (N, 2, H, W) float, same dtype; channel 0 = x (+right), 1 = y (+down), render pixels.

    Returns:
        ``(warped, valid)``: (N, C, H, W) and (N, 1, H, W) with ``valid`` 0.0 or 1.0 in the image dtype.

    Raises:
        InvalidArgument: wrong rank, channel count, dtype or mismatched batch/spatial sizes.

    Examples:
        >>> img = torch.arange(6.0).view(1, 1, 2, 3)
        >>> mv = torch.zeros(1, 2, 2, 3); mv[:, 0] = 1.0  # each pixel was one pixel to the right
        >>> out, valid = warp_backward(img, mv)
        >>> out[0, 0]
        tensor([[1., 2., 2.],
                [4., 5., 5.]])
        >>> valid[0, 0]
        tensor([[1., 1., 0.],
                [1., 1., 0.]])
    """
    xs, ys, valid = _sample_points(image, motion_px)
    top_left, top_right, bottom_left, bottom_right, fx, fy = _bilinear_taps(image, xs, ys)
    top = top_left * (1.0 - fx) + top_right * fx
    bottom = bottom_left * (1.0 - fx) + bottom_right * fx
    return top * (1.0 - fy) + bottom * fy, valid


def warp_backward_catmull_rom(image: torch.Tensor, motion_px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``image`` at ``current + motion_px`` with the 16-tap Catmull-Rom of the TAA and TAAU
    (:func:`qwplugin.taa.sample_catmull_rom`; when the image needs a gradient, the same weights applied to
    one gather of the 16 taps, summed in another order: the two agree to float rounding), clamped per
    channel to the min / max of the 2x2 texels the bilinear warp would blend (the anti-ringing clamp of
    FSR 1's EASU), so the sharper kernel never overshoots an edge, a recurrence cannot build up ringing, and
    the result stays inside the image's range.

    Same conventions, addressing and ``valid`` rule as :func:`warp_backward`; integer motion copies pixels
    exactly here too (the Catmull-Rom weights at fraction 0 are 0, 1, 0, 0).

    Args:
        image: (N, C, H, W) float, the previous frame.
        motion_px: (N, 2, H, W) float, pixels of ``image``.

    Returns:
        ``(warped, valid)`` as :func:`warp_backward`.

    Raises:
        InvalidArgument: as :func:`warp_backward`.
    """
    from qwplugin.taa import catmull_rom_weights, sample_catmull_rom  # taa imports the ops package

    xs, ys, valid = _sample_points(image, motion_px)
    t00, t01, t10, t11, _, _ = _bilinear_taps(image, xs, ys)  # the 2x2 texels the bilinear warp blends
    lo = torch.minimum(torch.minimum(t00, t01), torch.minimum(t10, t11))
    hi = torch.maximum(torch.maximum(t00, t01), torch.maximum(t10, t11))
    if not (image.requires_grad and torch.is_grad_enabled()):
        # Inference: the TAA's 16 accumulated fetches (no 16-tap tensor: 400 MB at 1080p, and faster).
        sample = sample_catmull_rom(image, torch.stack((xs, ys), 1) + 0.5)
        return torch.maximum(torch.minimum(sample, hi), lo), valid
    # Training: one torch.gather of all 16 taps, whose backward is one scatter_add (the 16 advanced-indexing
    # fetches cost 16 index_put accumulations: the warp's fwd + bwd 1.8x slower at a training batch).
    n, c, h, w = image.shape
    x0, y0 = torch.floor(xs), torch.floor(ys)
    wx = torch.stack(catmull_rom_weights(xs - x0), -1)  # (N, H, W, 4): taps at -1, 0, 1, 2
    wy = torch.stack(catmull_rom_weights(ys - y0), -1)
    offsets = torch.arange(-1, 3, device=image.device)
    cols = (x0.long().unsqueeze(-1) + offsets).clamp_(0, w - 1)  # (N, H, W, 4), clamp to edge
    rows = (y0.long().unsqueeze(-1) + offsets).clamp_(0, h - 1)
    index = (rows.unsqueeze(-1) * w + cols.unsqueeze(-2)).view(n, 1, h * w * 16)  # (y, x) taps, row-major
    taps = torch.gather(image.reshape(n, c, h * w), 2, index.expand(n, c, h * w * 16)).view(n, c, h, w, 16)
    weights = (wy.unsqueeze(-1) * wx.unsqueeze(-2)).view(n, 1, h, w, 16)
    sample = (taps * weights).sum(dim=-1)
    return torch.maximum(torch.minimum(sample, hi), lo), valid


def _sample_points(image: torch.Tensor, motion_px: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Checked inputs -> ``(xs, ys, valid)``: (N, H, W) fractional pixel indices of the sample points (NaN
    motion replaced by pixel (0, 0)) and the (N, 1, H, W) validity of :func:`warp_backward`."""
    check_tensor(image, "image", 4)
    check_tensor(motion_px, "motion_px", 4, channels=2)
    check_same_spatial(image, motion_px, "image", "motion_px")
    h, w = image.shape[-2:]
    dtype, device = image.dtype, image.device
    motion = motion_px.to(dtype)

    cols = torch.arange(w, dtype=dtype, device=device).view(1, 1, w)
    rows = torch.arange(h, dtype=dtype, device=device).view(1, h, 1)
    xs = cols + motion[:, 0]  # (N, H, W) fractional column index of the sample point
    ys = rows + motion[:, 1]
    valid = (xs >= -0.5) & (xs <= w - 0.5) & (ys >= -0.5) & (ys <= h - 0.5)

    # NaN motion would poison floor/long; sample pixel (0, 0) instead and mark it invalid.
    finite = torch.isfinite(xs) & torch.isfinite(ys)
    xs = torch.where(finite, xs, torch.zeros_like(xs))
    ys = torch.where(finite, ys, torch.zeros_like(ys))
    return xs, ys, (valid & finite).unsqueeze(1).to(dtype)


def _bilinear_taps(image: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The 2x2 clamp-to-edge texels around each sample point, (N, C, H, W) each (top-left, top-right,
    bottom-left, bottom-right), and the fractions ``fx``, ``fy`` (N, 1, H, W) in [0, 1)."""
    n, c, h, w = image.shape
    x0f, y0f = torch.floor(xs), torch.floor(ys)
    fx, fy = (xs - x0f).unsqueeze(1), (ys - y0f).unsqueeze(1)  # (N, 1, H, W) in [0, 1)
    x0 = x0f.long().clamp_(0, w - 1)
    x1 = (x0f.long() + 1).clamp_(0, w - 1)
    y0 = y0f.long().clamp_(0, h - 1)
    y1 = (y0f.long() + 1).clamp_(0, h - 1)

    flat = image.reshape(n, c, h * w)

    def tap(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        index = (yi * w + xi).view(n, 1, h * w).expand(n, c, h * w)
        return torch.gather(flat, 2, index).view(n, c, h, w)

    return tap(y0, x0), tap(y0, x1), tap(y1, x0), tap(y1, x1), fx, fy
