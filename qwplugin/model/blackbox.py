"""The black-box baseline the paper compares against: the same U-Net predicting colour directly."""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.model.base import ReconstructionModel
from qwplugin.model.config import ModelConfig
from qwplugin.model.unet import FeatureExtractor
from qwplugin.quant import QuantConv2d


class BlackBoxUNet(ReconstructionModel):
    """U-Net features -> 1x1 conv ``out`` (level-0 channels -> 3, ``filter_bits`` weights) -> sigmoid.

    The sigmoid keeps the output in the network domain (0, 1) without killing gradients the way a clamp
    would.

    Args:
        config: a :class:`ModelConfig` with ``kind == "unet"``.
    """

    def __init__(self, config: ModelConfig):
        assert config.kind == "unet"
        super().__init__(config)
        self.features = FeatureExtractor(config)
        self.out = QuantConv2d(config.encoder_channels[0], 3, 1, config.filter_bits, quantized=config.quantized)
        nn.init.xavier_normal_(self.out.weight)

    def _forward_padded(self, net_input: torch.Tensor, color: torch.Tensor, history: torch.Tensor):
        feats, scales = self.features(net_input)
        return torch.sigmoid(self.out(feats[0], scales[0])), feats
