"""The black-box baseline the paper compares against: a U-Net predicting colour directly.

Two structures (``ModelConfig.unet_structure``):

- :class:`BlackBoxUNet` (``"released"``, what every preset builds): ``model/unet.py`` of the released code
  (``reference/qwnet.md`` section 2): the QW-Net encoder-decoder with 2x2 average pooling and bilinear x2
  upsampling, then ``out = ReLU(conv1x1(cat([x, y])))`` where ``x`` is the raw network input (the aliased
  frame and the warped history, FP32, never quantized) and ``y`` the level-0 decoder features (4-bit in
  fake-quant mode). The 1x1 conv is a plain FP32 ``nn.Conv2d`` (bias zero-initialised, as released), so
  full-precision input colour reaches the RGB projection directly and only the encoder-decoder is
  quantized.
- :class:`BlackBoxUNetV1` (``"v1"``): this project's first baseline, max-pool, nearest upsampling, an 8-bit
  1x1 conv on the 4-bit features only, then a sigmoid. Kept because the shipped ``unet-*.safetensors``
  hold that structure (their metadata config has no ``unet_structure`` key, which reads as ``"v1"``).

Both output the network domain; the released one is not bounded above by construction (ReLU, as
released): :func:`qwplugin.ops.colour.from_network` clamps it to the domain's range on the way out.
"""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.model.base import ReconstructionModel
from qwplugin.model.config import ModelConfig
from qwplugin.model.unet import FeatureExtractor
from qwplugin.quant import QuantConv2d


class BlackBoxUNet(ReconstructionModel):
    """The released black-box U-Net (see the module docstring).

    Args:
        config: a :class:`ModelConfig` with ``kind == "unet"`` and ``unet_structure == "released"``.

    Shape:
        ``forward(color_nw (N, 3, H, W), history_nw (N, 3, H, W), depth=None) -> (N, 3, H, W)``, values
        >= 0 in the network domain.
    """

    def __init__(self, config: ModelConfig):
        assert config.kind == "unet" and config.unet_structure == "released"
        super().__init__(config)
        self.features = FeatureExtractor(config, pool="avg", upsample="bilinear")
        self.out = nn.Conv2d(config.encoder_channels[0] + config.in_channels, 3, kernel_size=1, bias=True)
        nn.init.zeros_(self.out.bias)

    def _forward_padded(self, net_input: torch.Tensor, color: torch.Tensor, history: torch.Tensor,
                        candidate: torch.Tensor | None = None):
        feats, _ = self.features(net_input)
        return torch.relu(self.out(torch.cat([net_input, feats[0]], dim=1))), feats


class BlackBoxUNetV1(ReconstructionModel):
    """The v1 baseline: U-Net features -> 1x1 conv ``out`` (level-0 channels -> 3, ``filter_bits`` weights)
    -> sigmoid (keeps the output in (0, 1) without killing gradients the way a clamp would).

    Args:
        config: a :class:`ModelConfig` with ``kind == "unet"`` and ``unet_structure == "v1"``.
    """

    def __init__(self, config: ModelConfig):
        assert config.kind == "unet" and config.unet_structure == "v1"
        super().__init__(config)
        self.features = FeatureExtractor(config)
        self.out = QuantConv2d(config.encoder_channels[0], 3, 1, config.filter_bits, quantized=config.quantized)
        nn.init.xavier_normal_(self.out.weight)

    def _forward_padded(self, net_input: torch.Tensor, color: torch.Tensor, history: torch.Tensor,
                        candidate: torch.Tensor | None = None):
        feats, scales = self.features(net_input)
        return torch.sigmoid(self.out(feats[0], scales[0])), feats
