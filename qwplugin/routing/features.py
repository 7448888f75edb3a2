"""The nearly free per-pixel inputs of the QW-Net / TAA router, computed from what a frame already has.

All four come from buffers that exist before either path runs (seeds.md section 4):

- **disocclusion**: 1 where the motion points outside the previous frame, or where the previous frame's
  depth, fetched at the reprojected position, is nearer than this pixel's depth by more than
  ``DISOCCLUSION_TOLERANCE`` (relative): the surface was hidden last frame. 1 everywhere on a first
  frame or after a reset (no history at all);
- **motion length** in render pixels;
- **TAA clip distance**: the light path's history, bilinearly reprojected, measured against this frame's
  3x3 YCoCg neighbourhood box ``mu +- gamma sigma`` (the same box as the TAA's variance clip):
  ``max(ratio - 1, 0)`` with ``ratio`` of :func:`qwplugin.taa.clip_ratio`; 0 inside the box;
- **local contrast** (:func:`~qwplugin.routing.classifier.local_contrast`).

Cost: one bilinear warp of colour and of depth, one 3x3 moment pass, one 3x3 contrast pass: a few
dozen operations per pixel, next to about 10^5 MACs per pixel for QW-Net.
"""

from __future__ import annotations

import torch

from qwplugin.ops.warp import warp_backward
from qwplugin.routing.classifier import routing_features
from qwplugin.taa import clip_ratio, neighbourhood_moments, rgb_to_ycocg

DISOCCLUSION_TOLERANCE = 0.1
"""Relative depth difference above which a reprojected pixel counts as newly visible."""


def disocclusion(motion_px: torch.Tensor, depth: torch.Tensor | None, prev_depth: torch.Tensor | None,
                 has_history: bool) -> torch.Tensor:
    """(N, 1, H, W) in {0, 1}: 1 = no usable history at this pixel (module docstring).

    Args:
        motion_px: (N, 2, H, W) render pixels, previous = current + motion.
        depth, prev_depth: (N, 1, H, W) linear view depth of this and the previous frame, or None (then only
            the out-of-frame test is made).
        has_history: False on a first frame / reset (everything disoccluded).
    """
    n, _, h, w = motion_px.shape
    if not has_history:
        return motion_px.new_ones(n, 1, h, w)
    if depth is None or prev_depth is None:
        _, valid = warp_backward(motion_px.new_zeros(n, 1, h, w), motion_px)
        return 1.0 - valid
    warped, valid = warp_backward(prev_depth, motion_px)
    hidden = warped < depth * (1.0 - DISOCCLUSION_TOLERANCE)
    return torch.where(hidden | (valid <= 0), 1.0, 0.0).to(motion_px.dtype)


def taa_clip_distance(color: torch.Tensor, motion_px: torch.Tensor, taa_history: torch.Tensor | None,
                      gamma: float) -> torch.Tensor:
    """(N, 1, H, W) >= 0: how far the reprojected TAA history lies outside this frame's neighbourhood box
    (module docstring); 0 without a history."""
    if taa_history is None:
        return color.new_zeros(color.shape[0], 1, *color.shape[2:])
    hist, _ = warp_backward(taa_history, motion_px)
    mean, sigma = neighbourhood_moments(rgb_to_ycocg(color.clamp_min(0.0)))
    ratio = clip_ratio(rgb_to_ycocg(hist.clamp_min(0.0)), mean, gamma * sigma)
    return (ratio - 1.0).clamp_min(0.0)


def frame_features(color: torch.Tensor, motion_px: torch.Tensor, depth: torch.Tensor | None,
                   prev_depth: torch.Tensor | None, taa_history: torch.Tensor | None, gamma: float,
                   has_history: bool) -> torch.Tensor:
    """The (N, 4, H, W) classifier input of :func:`~qwplugin.routing.classifier.routing_features` for one
    frame, from the frame's own buffers and the light path's history (shapes as above)."""
    return routing_features(disocclusion(motion_px, depth, prev_depth, has_history), motion_px,
                            taa_clip_distance(color, motion_px, taa_history, gamma), color)
