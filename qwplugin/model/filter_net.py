"""QW-Net's filter network: per-pixel kernels predicted from the U-Net features at every level.

Per level d (L levels, images in the network colour domain):

- down stage 0 (full resolution): 1x1 conv ``down0`` (level-0 features -> 18 logits), softmax over the
  18, applied jointly to 3x3 of the aliased frame and 3x3 of the warped history -> ``r0`` (27 logits and
  a third 3x3 image, the TAA candidate, when ``config.taa_candidate`` is set:
  :mod:`qwplugin.model.taa_candidate`);
- down stage d >= 1: ``r_d = K(avg_pool_2x2(r_{d-1}))`` with 9 softmax weights from ``down{d}`` on the
  level-d features (the bottleneck at d = L - 1);
- up stage d (from L - 2 down to 0): ``u_d = K10(bilinear_x2(u_{d+1}), r_d)`` with 10 softmax weights
  from ``up{d}``: 9 on 3x3 of the upsampled coarser result, 1 on ``r_d``; ``u_{L-1} = r_{L-1}``.

Output ``u_0``. Every stage is a convex combination, so outputs stay within the inputs' range. The 1x1
convs have 8-bit weights (``filter_bits``) when quantized and read the 4-bit U-Net features; softmax,
kernel application, pooling and upsampling run in float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.model.config import ModelConfig
from qwplugin.ops.kernels import TAPS, _apply3x3
from qwplugin.quant import QuantConv2d


CENTRE_TAP = 4
"""Index of the centre tap in the row-major 3x3 order of :func:`qwplugin.ops.kernels.apply_kernel3x3`."""
TAA_INIT = {"current_centre": 0.2, "current_ring": 0.05, "history_centre": 0.75, "down_centre": 0.9,
            "up_own": 0.95, "weight_scale": 0.01}
"""Starting kernels of ``filter_init="taa"`` (:meth:`FilterNetwork.init_as_taa`): the full-resolution
stage blends 0.25 of the current frame (0.2 on the centre tap, 0.05 spread over its 8 neighbours) with
0.75 of the history's centre tap (a TAA with feedback 0.25); every up stage keeps 0.95 of its own
level's result; coarse down stages are centre-weighted. The 1x1 convs' weights are scaled by
``weight_scale`` so the kernels start (nearly) independent of the features and learn away from there."""
TAA_CANDIDATE_INIT = {"current_centre": 0.01, "current_ring": 0.01, "history_centre": 0.01,
                      "candidate_centre": 0.96, "candidate_ring": 0.01, "down_centre": 0.9, "up_own": 0.99,
                      "weight_scale": 0.01}
"""Starting kernels of ``filter_init="taa"`` with a TAA candidate: 0.96 of the output is the candidate's
centre tap (the TAA itself), 0.01 each the current frame's centre and ring, the history's centre and the
candidate's ring, so every source starts with a gradient; the up stages keep 0.99 of their own level."""


def apply_down0(weights: torch.Tensor, color: torch.Tensor, history: torch.Tensor,
                candidate: torch.Tensor | None) -> torch.Tensor:
    """The full-resolution down stage: softmax ``weights`` (N, 18 or 27, H, W) over 3x3 of ``color``,
    ``history`` and (27 taps) ``candidate``, all (N, 3, H, W). Shared by the float and the integer model."""
    out = _apply3x3(color, weights[:, :TAPS]) + _apply3x3(history, weights[:, TAPS:2 * TAPS])
    if candidate is not None:
        assert weights.shape[1] == 3 * TAPS, weights.shape
        out = out + _apply3x3(candidate, weights[:, 2 * TAPS:])
    else:
        assert weights.shape[1] == 2 * TAPS, weights.shape
    return out


class FilterNetwork(nn.Module):
    """Kernel-predicting multi-scale filter (see the module docstring).

    Args:
        config: levels and channels (the feature widths), ``filter_bits``.

    Shape:
        features: list of L tensors (N, C_d, H / 2**d, W / 2**d); color, history: (N, 3, H, W);
        output: (N, 3, H, W).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        chans, bits, q = config.encoder_channels, config.filter_bits, config.quantized
        self.down = nn.ModuleDict()
        self.up = nn.ModuleDict()
        for d in range(config.levels):
            sources = 3 if config.taa_candidate is not None else 2
            self.down[f"down{d}"] = QuantConv2d(chans[d], sources * TAPS if d == 0 else TAPS, 1, bits, quantized=q)
        for d in range(config.levels - 1):
            self.up[f"up{d}"] = QuantConv2d(chans[d], TAPS + 1, 1, bits, quantized=q)
        if config.filter_init == "taa":
            self.init_as_taa()

    @torch.no_grad()
    def init_as_taa(self) -> None:
        """Start every kernel as a TAA blend (:data:`TAA_INIT`): biases are the log-weights, weights small.

        With rectified history (``history_rectification``) the network then starts as a TAA with a
        variance-clipped history and feedback 0.25, a strong baseline to improve on rather than to reach.
        """
        k = TAA_INIT if self.config.taa_candidate is None else TAA_CANDIDATE_INIT

        def log_weights(weights: list[float]) -> torch.Tensor:
            assert abs(sum(weights) - 1.0) < 1e-9
            return torch.tensor([math.log(w) for w in weights])

        ring = [k["current_ring"] / (TAPS - 1)] * TAPS
        ring[CENTRE_TAP] = k["current_centre"]
        hist = [1e-4 / (TAPS - 1)] * TAPS  # history ring nearly off (log of 0 is not a bias)
        hist[CENTRE_TAP] = k["history_centre"] - 1e-4
        down0 = ring + hist
        if self.config.taa_candidate is not None:
            cand = [k["candidate_ring"] / (TAPS - 1)] * TAPS
            cand[CENTRE_TAP] = k["candidate_centre"]
            down0 = down0 + cand
        coarse = [(1.0 - k["down_centre"]) / (TAPS - 1)] * TAPS
        coarse[CENTRE_TAP] = k["down_centre"]
        up = [(1.0 - k["up_own"]) / TAPS] * TAPS + [k["up_own"]]
        for name, conv in list(self.down.items()) + list(self.up.items()):
            conv.weight.mul_(k["weight_scale"])
            target = down0 if name == "down0" else up if name.startswith("up") else coarse
            conv.bias.copy_(log_weights(target))

    def _weights(self, conv: nn.Module, features: torch.Tensor, scale) -> torch.Tensor:
        """Softmax kernel weights from a 1x1 conv's logits, soft-capped when ``kernel_logit_cap`` is set."""
        logits = conv(features, scale)
        cap = self.config.kernel_logit_cap
        if cap is not None:
            logits = cap * torch.tanh(logits / cap)
        return torch.softmax(logits, dim=1)

    def forward(self, features: list[torch.Tensor], scales: list, color: torch.Tensor,
                history: torch.Tensor, return_stages: bool = False, candidate: torch.Tensor | None = None):
        """Filter ``color``, ``history`` (and ``candidate``, the TAA candidate, when the config has one);
        with ``return_stages`` also return the down results ``r_d``."""
        levels = self.config.levels
        assert len(features) == levels
        assert (candidate is None) == (self.config.taa_candidate is None)
        weights = self._weights(self.down["down0"], features[0], scales[0])
        down = [apply_down0(weights, color, history, candidate)]
        for d in range(1, levels):
            weights = self._weights(self.down[f"down{d}"], features[d], scales[d])
            down.append(_apply3x3(F.avg_pool2d(down[-1], 2), weights))
        y = down[-1]
        for d in range(levels - 2, -1, -1):
            up = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            weights = self._weights(self.up[f"up{d}"], features[d], scales[d])
            y = _apply3x3(up, weights[:, :TAPS]) + weights[:, TAPS:] * down[d]
        return (y, down) if return_stages else y
