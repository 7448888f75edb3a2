"""The float front end of temporal upscaling: render samples placed on the display grid.

Conventions (the input contract, :mod:`qwplugin.ops.halton`): with jitter ``(jx, jy)`` render pixel
``(row i, column j)`` sees the scene at render position ``(j + 0.5 + jx, i + 0.5 + jy)``; on a display of
``W x H`` pixels over a render of ``w x h`` the effective per-axis scale is ``sx = W / w``, ``sy = H / h``
(:func:`qwplugin.upscale.scale_of`), so that sample lies at the continuous **display** position
``((j + 0.5 + jx) sx, (i + 0.5 + jy) sy)``.

- :func:`zero_upsample` (NSRR, Xiao et al. 2020, "zero-upsampling"): each render sample is written into the
  display pixel that contains its position, every other display pixel is 0, plus a coverage mask and the
  sample's offset from that display pixel's centre. For ``s >= 1`` two samples of one frame are at least
  one display pixel apart, so no two land in the same display pixel (no collisions, nothing averaged).
- :func:`jittered_bilinear`: the render samples interpolated bilinearly at every display pixel centre,
  *at their true positions* (the jitter is taken into account, unlike a plain bilinear upscale).
- :func:`filled_current`: the zero-upsampled frame where a sample landed, the jittered bilinear value
  elsewhere. It is what QW-Net's filter taps and the U-Net read: exact samples where there are samples,
  a convex combination of the nearest ones in between (a dense image, so reset frames and disocclusions
  have no holes), while the mask tells the network which is which.
- :func:`display_motion`: render-resolution motion (render pixels) as display-resolution motion (display
  pixels): each display pixel takes the vector of the render texel under its centre (the TAAU's exact
  integer texel map, :func:`render_texel_index`), scaled by ``(sx, sy)``.
"""

from __future__ import annotations

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.ops._checks import check_tensor


def render_texel_index(display: int, render: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Render texel under each display pixel centre along one axis: ``floor((X + 0.5) * render / display)``
    computed exactly in integers, ``((2X + 1) render) // (2 display)`` (as :mod:`qwplugin.taau`).

    Returns:
        (display,) int64 in ``0 .. render - 1``.

    Examples:
        >>> render_texel_index(6, 4).tolist()
        [0, 1, 1, 2, 3, 3]
    """
    x = torch.arange(display, device=device, dtype=torch.int64)
    return ((2 * x + 1) * render) // (2 * display)


def check_jitter(jitter_px: object, n: int, field: str = "jitter_px") -> torch.Tensor:
    """Validate ``jitter_px`` as an (N, 2) float tensor (render pixels) and return it.

    Raises:
        InvalidArgument: not a float tensor of shape (n, 2).
    """
    if not isinstance(jitter_px, torch.Tensor) or not jitter_px.is_floating_point() \
            or tuple(jitter_px.shape) != (n, 2):
        raise InvalidArgument("jitter_px must be an (N, 2) float tensor of render-pixel offsets", field=field,
                              expected=f"({n}, 2) float tensor",
                              actual=f"{getattr(jitter_px, 'shape', type(jitter_px).__name__)}")
    return jitter_px


def sample_positions(render_hw: tuple[int, int], display_hw: tuple[int, int], jitter_px: torch.Tensor):
    """Where the render samples lie on the display grid.

    Args:
        render_hw: (h, w); display_hw: (H, W), at least the render size per axis.
        jitter_px: (N, 2) float jitter, render pixels.

    Returns:
        ``(col, row, off_x, off_y)``: (N, w) and (N, h) int64 display pixel column / row of each render column /
        row, and (N, w), (N, h) float64 offsets of the sample from that display pixel's centre, display pixels,
        in [-0.5, 0.5).
    """
    (h, w), (hd, wd) = render_hw, display_hw
    j = jitter_px.detach().to(torch.float64)
    px = (torch.arange(w, dtype=torch.float64, device=j.device) + 0.5 + j[:, :1]) * (wd / w)
    py = (torch.arange(h, dtype=torch.float64, device=j.device) + 0.5 + j[:, 1:]) * (hd / h)
    col = torch.floor(px).clamp(0, wd - 1)
    row = torch.floor(py).clamp(0, hd - 1)
    return col.long(), row.long(), (px - col - 0.5).clamp(-0.5, 0.5), (py - row - 0.5).clamp(-0.5, 0.5)


def zero_upsample(color: torch.Tensor, jitter_px: torch.Tensor, display_hw: tuple[int, int]):
    """NSRR zero-upsampling of one jittered frame onto the display grid (see the module docstring).

    Args:
        color: (N, C, h, w) render-resolution samples (any domain).
        jitter_px: (N, 2) jitter of this frame, render pixels.
        display_hw: (H, W) display size, ``H >= h``, ``W >= w``.

    Returns:
        ``(values, mask, offset)``: (N, C, H, W) the samples in the display pixels they fell in, 0 elsewhere
        (differentiable w.r.t. ``color``); (N, 1, H, W) 1.0 where a sample landed; (N, 2, H, W) the sample's
        offset from the pixel centre plus 0.5, in [0, 1] (0 where no sample landed).

    Raises:
        InvalidArgument: wrong shapes, or a display smaller than the render.
    """
    check_tensor(color, "color", 4)
    n, c, h, w = color.shape
    check_jitter(jitter_px, n)
    hd, wd = int(display_hw[0]), int(display_hw[1])
    if hd < h or wd < w:
        raise InvalidArgument("the display must be at least the render size", field="display_size",
                              expected=f">= {w}x{h}", actual=f"{wd}x{hd}")
    col, row, ox, oy = sample_positions((h, w), (hd, wd), jitter_px)
    index = (row[:, :, None] * wd + col[:, None, :]).view(n, 1, h * w)  # (N, 1, h*w) flat display index
    values = color.new_zeros(n, c, hd * wd).scatter(2, index.expand(n, c, h * w), color.reshape(n, c, h * w))
    mask = color.new_zeros(n, 1, hd * wd).scatter(2, index, color.new_ones(n, 1, h * w))
    off = torch.stack([ox[:, None, :].expand(n, h, w), oy[:, :, None].expand(n, h, w)], dim=1) + 0.5
    offset = color.new_zeros(n, 2, hd * wd).scatter(2, index.expand(n, 2, h * w),
                                                    off.to(color.dtype).reshape(n, 2, h * w))
    return values.view(n, c, hd, wd), mask.view(n, 1, hd, wd), offset.view(n, 2, hd, wd)


def _lerp_axis(x: torch.Tensor, coord: torch.Tensor, dim: int) -> torch.Tensor:
    """Linear interpolation of ``x`` along ``dim`` (3 = width, 2 = height) at per-batch continuous texel
    indices ``coord`` (N, L) (texel k at index k), clamped to the edge texels."""
    size = x.shape[dim]
    c = coord.clamp(0, size - 1)
    i0 = torch.floor(c)
    t = (c - i0).to(x.dtype)
    i0 = i0.long()
    i1 = (i0 + 1).clamp(max=size - 1)
    n, ch = x.shape[:2]
    if dim == 3:
        shape, tv = (n, ch, x.shape[2], coord.shape[1]), t[:, None, None, :]
        idx0, idx1 = i0[:, None, None, :].expand(shape), i1[:, None, None, :].expand(shape)
    else:
        shape, tv = (n, ch, coord.shape[1], x.shape[3]), t[:, None, :, None]
        idx0, idx1 = i0[:, None, :, None].expand(shape), i1[:, None, :, None].expand(shape)
    return torch.gather(x, dim, idx0) * (1 - tv) + torch.gather(x, dim, idx1) * tv


def jittered_bilinear(color: torch.Tensor, jitter_px: torch.Tensor, display_hw: tuple[int, int]) -> torch.Tensor:
    """The render samples interpolated bilinearly at the display pixel centres, at their true (jittered)
    positions: display centre ``X + 0.5`` lies at texel index ``u = (X + 0.5) / sx - 0.5 - jx`` of the sample
    grid (``u = j`` exactly on sample ``j``); edges clamp. Each output is a convex combination of <= 4 samples.

    Args:
        color: (N, C, h, w); jitter_px: (N, 2) render pixels; display_hw: (H, W).

    Returns:
        (N, C, H, W).
    """
    n, _, h, w = color.shape
    hd, wd = int(display_hw[0]), int(display_hw[1])
    j = jitter_px.detach().to(torch.float64)
    u = (torch.arange(wd, dtype=torch.float64, device=color.device) + 0.5) * (w / wd) - 0.5 - j[:, :1]
    v = (torch.arange(hd, dtype=torch.float64, device=color.device) + 0.5) * (h / hd) - 0.5 - j[:, 1:]
    return _lerp_axis(_lerp_axis(color, u, 3), v, 2)


def filled_current(color: torch.Tensor, jitter_px: torch.Tensor, display_hw: tuple[int, int]):
    """The current frame on the display grid: samples where they landed, :func:`jittered_bilinear` elsewhere.

    Returns:
        ``(filled (N, C, H, W), mask (N, 1, H, W), offset (N, 2, H, W))`` (mask and offset as
        :func:`zero_upsample`).
    """
    values, mask, offset = zero_upsample(color, jitter_px, display_hw)
    filled = values + (1.0 - mask) * jittered_bilinear(color, jitter_px, display_hw)
    return filled, mask, offset


def nearest_to_display(x: torch.Tensor, display_hw: tuple[int, int]) -> torch.Tensor:
    """(N, C, h, w) render-resolution planes at the display size, each display pixel taking the render texel
    under its centre (:func:`render_texel_index`)."""
    h, w = x.shape[-2:]
    rows = render_texel_index(int(display_hw[0]), h, x.device)
    cols = render_texel_index(int(display_hw[1]), w, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def display_motion(motion_px: torch.Tensor, display_hw: tuple[int, int]) -> torch.Tensor:
    """Render-resolution motion as display-resolution motion (see the module docstring).

    Args:
        motion_px: (..., 2, h, w) render pixels, previous = current + motion.
        display_hw: (H, W).

    Returns:
        (..., 2, H, W) display pixels. The input itself when the sizes are equal (native: nothing changes).
    """
    h, w = motion_px.shape[-2:]
    hd, wd = int(display_hw[0]), int(display_hw[1])
    if (hd, wd) == (h, w):
        return motion_px
    scale = torch.tensor([wd / w, hd / h], dtype=motion_px.dtype, device=motion_px.device).view(2, 1, 1)
    return nearest_to_display(motion_px, (hd, wd)) * scale
