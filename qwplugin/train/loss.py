"""The QW-Net training loss: spatial L1 plus temporal L1 on frame differences (Thomas et al. 2020).

After the released ``RecurrentTrain`` (see ``reference/qwnet.md`` section 5)::

    L = s * mean_t L1(out_t, ref_t) + (1 - s) * mean_{t>=1} L1(out_t - W(out_{t-1}), ref_t - W(ref_{t-1}))

with ``s = 0.3`` and ``W`` the backward bilinear warp by frame t's motion vectors
(:func:`qwplugin.ops.warp.warp_backward`). Every tensor is in the network's tonemapped domain
(:func:`qwplugin.ops.colour.to_network`), so highlights do not dominate the loss. Frames flagged as a
reset (camera cut) have no meaningful previous frame and are left out of the temporal term.

Truncated backpropagation through time cuts a long sequence into blocks; the first frame of a later
block still has a previous frame (the last of the block before, detached): pass it as ``prev_out_nw`` /
``prev_ref_nw`` and that frame's temporal term is included, so the loss over the blocks is the loss of
the whole sequence (up to the per-block means).
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
               resets: torch.Tensor | None = None, spatial_weight: float = SPATIAL_WEIGHT,
               prev_out_nw: torch.Tensor | None = None, prev_ref_nw: torch.Tensor | None = None) -> LossTerms:
    """Spatial + temporal L1 loss of a recurrent block, in the network domain.

    Args:
        out_nw: (N, T, 3, H, W) network outputs, tonemapped domain.
        ref_nw: (N, T, 3, H, W) references, same domain.
        motion_px: (N, T, 2, H, W) motion vectors of the input contract (previous = current + motion).
        resets: optional (N, T) bool; frame t with ``resets[n, t]`` is left out of the temporal term.
            Frame 0 has a temporal term only with ``prev_out_nw`` / ``prev_ref_nw``.
        spatial_weight: weight ``s`` of the spatial term; the temporal term gets ``1 - s``.
        prev_out_nw, prev_ref_nw: (N, 3, H, W) output and reference of the frame before frame 0 (both or
            neither); when given, frame 0's temporal term (warped by ``motion_px[:, 0]``) is included
            unless ``resets[:, 0]``.

    Returns:
        :class:`LossTerms`; ``spatial`` is the mean absolute error over all elements of the T frames,
        ``temporal`` the mean absolute error of frame differences over all non-reset frames t >= 1 (and
        frame 0 with a previous frame; 0 when there is no pair).

    Raises:
        InvalidArgument: mismatched shapes, only one of ``prev_out_nw`` / ``prev_ref_nw``, or
            ``spatial_weight`` outside [0, 1].
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
    if (prev_out_nw is None) != (prev_ref_nw is None):
        raise InvalidArgument("prev_out_nw and prev_ref_nw go together", field="prev_ref_nw",
                              expected="both or neither", actual="only one given")
    if resets is not None and resets.shape != (n, t):
        raise InvalidArgument("resets must be (N, T)", field="resets", expected=str((n, t)),
                              actual=str(tuple(resets.shape)))
    spatial = torch.mean(torch.abs(out_nw - ref_nw))
    if prev_out_nw is not None:
        for name, prev in (("prev_out_nw", prev_out_nw), ("prev_ref_nw", prev_ref_nw)):
            if prev.shape != out_nw[:, 0].shape:
                raise InvalidArgument(f"{name} must be one frame of out_nw", field=name,
                                      expected=str(tuple(out_nw[:, 0].shape)), actual=str(tuple(prev.shape)))
        # Prepend the previous frame (its own temporal pair is dropped by marking it a reset).
        first = torch.ones(n, 1, dtype=torch.bool, device=out_nw.device)
        resets = torch.cat([first, torch.zeros(n, t, dtype=torch.bool, device=out_nw.device)
                            if resets is None else resets.bool()], dim=1)
        out_nw = torch.cat([prev_out_nw[:, None], out_nw], dim=1)
        ref_nw = torch.cat([prev_ref_nw[:, None], ref_nw], dim=1)
        motion_px = torch.cat([torch.zeros_like(motion_px[:, :1]), motion_px], dim=1)
        t += 1
    if t < 2:
        temporal = torch.zeros((), dtype=out_nw.dtype, device=out_nw.device)
    else:
        err = torch.abs(temporal_differences(out_nw, motion_px) - temporal_differences(ref_nw, motion_px))
        if resets is None:
            temporal = torch.mean(err)
        else:
            keep = (~resets[:, 1:].bool()).to(err.dtype).view(n, t - 1, 1, 1, 1)
            count = keep.sum() * err[0, 0].numel()
            temporal = (err * keep).sum() / torch.clamp(count, min=1.0)
    total = spatial_weight * spatial + (1.0 - spatial_weight) * temporal
    return LossTerms(total=total, spatial=spatial, temporal=temporal)
