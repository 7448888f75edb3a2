"""The routing classifier and its nearly-free inputs.

Inputs (all available before either path runs; seeds.md section 4 "Free classifier inputs"), stacked by
:func:`routing_features` as (N, 4, H, W):

0. disocclusion in [0, 1] (1 = no valid history, e.g. from depth reprojection);
1. ``log1p(|motion|)``, motion length in render pixels;
2. the TAA clip distance (how far the reprojected history lay outside the neighbourhood box; 0 = inside),
   as ``log1p``;
3. local contrast: 3x3 standard deviation of luminance over its mean, as ``log1p``.

The classifier is a per-pixel MLP (1x1 convs) giving (light, heavy) probabilities, PCSR's classifier with
M = 2. With ``tile > 1`` it decides per tile: the features are pooled over each tile (mean and max, so
one disoccluded pixel still counts) and the MLP runs once per tile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.ops._checks import check_same_spatial, check_tensor

FEATURES = 4
LUMA = (0.2126, 0.7152, 0.0722)
CONTRAST_EPS = 1e-3
"""Added to the local mean luminance before dividing (keeps black regions finite)."""


def local_contrast(color: torch.Tensor) -> torch.Tensor:
    """3x3 std of luminance divided by (3x3 mean + CONTRAST_EPS): (N, 3, H, W) -> (N, 1, H, W), >= 0."""
    y = (color * color.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    mean = F.avg_pool2d(y, 3, stride=1, padding=1, count_include_pad=False)
    sq = F.avg_pool2d(y * y, 3, stride=1, padding=1, count_include_pad=False)
    return (sq - mean * mean).clamp_min(0.0).sqrt() / (mean.abs() + CONTRAST_EPS)


def routing_features(disocclusion: torch.Tensor, motion_px: torch.Tensor, clip_distance: torch.Tensor,
                     color: torch.Tensor) -> torch.Tensor:
    """Stack the classifier inputs (module docstring).

    Args:
        disocclusion: (N, 1, H, W) in [0, 1].
        motion_px: (N, 2, H, W) render pixels.
        clip_distance: (N, 1, H, W) >= 0.
        color: (N, 3, H, W) linear colour.

    Returns:
        (N, 4, H, W).

    Raises:
        InvalidArgument: wrong shapes, types or sizes.
    """
    check_tensor(disocclusion, "disocclusion", 4, 1)
    check_tensor(motion_px, "motion_px", 4, 2)
    check_tensor(clip_distance, "clip_distance", 4, 1)
    check_tensor(color, "color", 4, 3)
    for name, t in (("motion_px", motion_px), ("clip_distance", clip_distance), ("color", color)):
        check_same_spatial(disocclusion, t, "disocclusion", name)
    motion = torch.log1p(motion_px.square().sum(1, keepdim=True).sqrt())
    return torch.cat([disocclusion.clamp(0.0, 1.0), motion, torch.log1p(clip_distance.clamp_min(0.0)),
                      torch.log1p(local_contrast(color))], dim=1)


class RoutingClassifier(nn.Module):
    """Per-pixel or per-tile (light, heavy) probabilities from routing features.

    Args:
        in_features: feature channels (4 for :func:`routing_features`).
        hidden: MLP width (per-pixel cost ``in * hidden + hidden * hidden + hidden * 2`` MACs, ~400 for
            the default).
        tile: 1 for per-pixel decisions, else the tile size (frames padded by replication to a multiple).

    Shape:
        (N, in_features, H, W) -> (N, 2, ceil(H / tile), ceil(W / tile)), summing to 1 over dim 1.

    Raises:
        InvalidArgument: tile < 1; from forward, a feature tensor of the wrong shape.
    """

    def __init__(self, in_features: int = FEATURES, hidden: int = 16, tile: int = 1):
        super().__init__()
        if tile < 1:
            raise InvalidArgument("tile must be >= 1", field="tile", expected=">= 1", actual=str(tile))
        self.tile, self.in_features = tile, in_features
        cin = in_features * (2 if tile > 1 else 1)
        self.net = nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                 nn.Conv2d(hidden, 2, 1))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """(N, 2, h, w) logits (light, heavy)."""
        check_tensor(features, "features", 4, self.in_features)
        if self.tile > 1:
            h, w = features.shape[2:]
            pad = (0, (-w) % self.tile, 0, (-h) % self.tile)
            f = F.pad(features, pad, mode="replicate") if any(pad) else features
            features = torch.cat([F.avg_pool2d(f, self.tile), F.max_pool2d(f, self.tile)], dim=1)
        return self.net(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(features), dim=1)
