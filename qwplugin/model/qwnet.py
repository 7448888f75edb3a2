"""QW-Net: 4-bit U-Net feature extractor + FP32 kernel-predicting filter network (Thomas et al. 2020)."""

from __future__ import annotations

import torch

from qwplugin.model.base import ReconstructionModel
from qwplugin.model.config import ModelConfig
from qwplugin.model.filter_net import FilterNetwork
from qwplugin.model.unet import FeatureExtractor


class QWNet(ReconstructionModel):
    """The full model: ``features = FeatureExtractor(input)``, ``output = FilterNetwork(features, ...)``.

    The output is a convex combination of the (padded) aliased frame and warped history pixels, so it
    stays in [0, 1) for network-domain inputs.

    Args:
        config: a :class:`ModelConfig` with ``kind == "qwnet"``.
    """

    def __init__(self, config: ModelConfig):
        assert config.kind == "qwnet"
        super().__init__(config)
        self.features = FeatureExtractor(config)
        self.filter = FilterNetwork(config)

    def _forward_padded(self, net_input: torch.Tensor, color: torch.Tensor, history: torch.Tensor,
                        candidate: torch.Tensor | None = None):
        feats, scales = self.features(net_input)
        return self.filter(feats, scales, color, history, candidate=candidate), feats
