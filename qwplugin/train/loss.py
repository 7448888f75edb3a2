"""The QW-Net training loss: spatial L1 plus temporal L1 on frame differences (Thomas et al. 2020).

After the released ``RecurrentTrain`` (see ``reference/qwnet.md`` section 5)::

    L = s * mean_t L1(out_t, ref_t) + (1 - s) * mean_{t>=1} L1(out_t - W(out_{t-1}), ref_t - W(ref_{t-1}))

with ``s = 0.3`` and ``W`` the backward bilinear warp by frame t's motion vectors
(:func:`qwplugin.ops.warp.warp_backward`). Every tensor is in the network's tonemapped domain
(:func:`qwplugin.ops.colour.to_network`), so highlights do not dominate the loss. Frames flagged as a
reset (camera cut) have no meaningful previous frame and are left out of the temporal term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.ops.warp import warp_backward

SPATIAL_WEIGHT = 0.3
"""Weight of the spatial term in the released configuration (``spatial_factor``); temporal gets 0.7."""


@dataclass(frozen=True)
class LossTerms:
    """The total loss and its two (unweighted) terms, each a 0-dim tensor."""

    total: torch.Tensor
    spatial: torch.Tensor
    temporal: torch.Tensor


def temporal_differences(seq: torch.Tensor, motion_px: torch.Tensor) -> torch.Tensor:
    """Frame differences ``x_t - W(x_{t-1})`` for t = 1..T-1.

    Args:
        seq: (N, T, C, H, W) frames.
        motion_px: (N, T, 2, H, W) motion of each frame to its previous frame (render pixels).

    Returns:
        (N, T-1, C, H, W).
    """
    n, t, c, h, w = seq.shape
    assert t >= 2 and motion_px.shape == (n, t, 2, h, w)
    prev = seq[:, :-1].reshape(n * (t - 1), c, h, w)
    mv = motion_px[:, 1:].reshape(n * (t - 1), 2, h, w)
    warped, _ = warp_backward(prev, mv)
    return seq[:, 1:] - warped.view(n, t - 1, c, h, w)


def qwnet_loss(out_nw: torch.Tensor, ref_nw: torch.Tensor, motion_px: torch.Tensor,
               resets: torch.Tensor | None = None, spatial_weight: float = SPATIAL_WEIGHT) -> LossTerms:
    """Spatial + temporal L1 loss of a recurrent block, in the network domain.

    Args:
        out_nw: (N, T, 3, H, W) network outputs, tonemapped domain.
        ref_nw: (N, T, 3, H, W) references, same domain.
        motion_px: (N, T, 2, H, W) motion vectors of the input contract (previous = current + motion).
        resets: optional (N, T) bool; frame t with ``resets[n, t]`` is left out of the temporal term.
            Frame 0 never has a temporal term.
        spatial_weight: weight ``s`` of the spatial term; the temporal term gets ``1 - s``.

    Returns:
        :class:`LossTerms`; ``spatial`` is the mean absolute error over all elements, ``temporal`` the
        mean absolute error of frame differences over all non-reset frames t >= 1 (0 when T == 1).

    Raises:
        InvalidArgument: mismatched shapes or ``spatial_weight`` outside [0, 1].
    """
    if out_nw.dim() != 5 or out_nw.shape != ref_nw.shape:
        raise InvalidArgument("out_nw and ref_nw must be equal (N, T, C, H, W) tensors", field="ref_nw",
                              expected=f"shape {tuple(out_nw.shape)} (5-D)", actual=f"shape {tuple(ref_nw.shape)}")
    n, t, _, h, w = out_nw.shape
    if motion_px.shape != (n, t, 2, h, w):
        raise InvalidArgument("motion_px must be (N, T, 2, H, W)", field="motion_px",
                              expected=str((n, t, 2, h, w)), actual=str(tuple(motion_px.shape)))
    if not 0.0 <= spatial_weight <= 1.0:
        raise InvalidArgument("spatial_weight must lie in [0, 1]", field="spatial_weight",
                              expected="[0, 1]", actual=repr(spatial_weight))
    spatial = torch.mean(torch.abs(out_nw - ref_nw))
    if t < 2:
        temporal = torch.zeros((), dtype=out_nw.dtype, device=out_nw.device)
    else:
        err = torch.abs(temporal_differences(out_nw, motion_px) - temporal_differences(ref_nw, motion_px))
        if resets is None:
            temporal = torch.mean(err)
        else:
            if resets.shape != (n, t):
                raise InvalidArgument("resets must be (N, T)", field="resets", expected=str((n, t)),
                                      actual=str(tuple(resets.shape)))
            keep = (~resets[:, 1:].bool()).to(err.dtype).view(n, t - 1, 1, 1, 1)
            count = keep.sum() * err[0, 0].numel()
            temporal = (err * keep).sum() / torch.clamp(count, min=1.0)
    total = spatial_weight * spatial + (1.0 - spatial_weight) * temporal
    return LossTerms(total=total, spatial=spatial, temporal=temporal)
