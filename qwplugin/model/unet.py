"""The U-Net feature extractor of QW-Net (released config: ReLU, no batch norm, 2x2 max-pool, nearest
upsampling, concatenated skips with a 1x1 projection), with its quantizers wired per :mod:`qwplugin.quant`.

The released black-box U-Net (``model/unet.py`` of the released code) is the same encoder-decoder with
2x2 **average** pooling and **bilinear** x2 upsampling (``align_corners=False``): ``pool="avg"``,
``upsample="bilinear"``. Those two ops do not preserve the 4-bit code grid (an average of codes is a
multiple of 1/4, a bilinear tap of 1/16), so in fake-quant mode their result is requantized with the
quantizer of their input (the same scale: for the upsampled tensor that is the ``cat{d}`` quantizer it is
concatenated under), which keeps every conv input on a 4-bit grid. QW-Net's integer program
(:mod:`qwplugin.intexec`) has only max-pool and nearest upsampling, so only the default modes export.

Layer names (shared with export and the integer backends):

- convs ``enc{d}_{i}``: the i-th 3x3 conv of encoder level d (``enc0_0`` is the 8-bit-weight first conv);
  ``dec{d}_proj``: the 1x1 projection of the concatenation at level d; ``dec{d}_{i}``: its 3x3 convs.
- activation quantizers: ``input`` (8-bit, the network input); one per conv output named like the conv,
  except the outputs that get concatenated: ``cat{d}`` quantizes both the last encoder output of level d
  (the skip) and the last decoder output of level d + 1 (the bottleneck's last encoder output when
  d + 1 is the last level), so the concatenation at level d has one scale; ``dec0_out`` quantizes the
  final level-0 features.

Every conv is followed by ReLU and then its output quantizer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.model.config import ModelConfig
from qwplugin.quant import ActQuantUnsigned, QuantConv2d

Scale = torch.Tensor | None
"""Step of a quantized activation tensor (0-dim), or None in FP32 mode."""


class FeatureExtractor(nn.Module):
    """U-Net over the (padded) network input; returns features at every level.

    Args:
        config: levels, channels, conv counts, bit widths.
        pool: ``"max"`` (QW-Net) or ``"avg"`` (the released black-box U-Net), 2x2 stride 2.
        upsample: ``"nearest"`` (QW-Net) or ``"bilinear"`` (the released black-box U-Net), x2.

    Shape:
        input (N, config.in_channels, H, W) with H, W multiples of ``config.size_multiple``;
        output: list of ``levels`` tensors, level d of shape (N, encoder_channels[d], H / 2**d, W / 2**d)
        (decoder outputs for d < levels - 1, the bottleneck for the last), and their scales.
    """

    POOLS = ("max", "avg")
    UPSAMPLES = ("nearest", "bilinear")

    def __init__(self, config: ModelConfig, pool: str = "max", upsample: str = "nearest"):
        super().__init__()
        assert pool in self.POOLS and upsample in self.UPSAMPLES, (pool, upsample)
        self.config = config
        self.pool, self.upsample = pool, upsample
        chans, levels = config.encoder_channels, config.levels
        self.input_quant = ActQuantUnsigned(config.input_bits, config.input_max_init, config.quantized)
        self.convs = nn.ModuleDict()
        self.act_quants = nn.ModuleDict()
        self.out_quant: dict[str, str] = {}  # conv name -> name of its output quantizer

        def add(name: str, cin: int, cout: int, k: int, bits: int, quant_name: str | None = None) -> None:
            self.convs[name] = QuantConv2d(cin, cout, k, weight_bits=bits, quantized=config.quantized)
            quant_name = quant_name or name
            if quant_name not in self.act_quants:
                self.act_quants[quant_name] = ActQuantUnsigned(config.act_bits, config.act_max_init,
                                                               config.quantized)
            self.out_quant[name] = quant_name

        cin = config.in_channels
        for d in range(levels):
            n = config.encoder_convs[d]
            for i in range(n):
                bits = config.first_conv_bits if (d, i) == (0, 0) else config.weight_bits
                last = f"cat{min(d, levels - 2)}" if i == n - 1 else None
                add(f"enc{d}_{i}", cin, chans[d], 3, bits, last)
                cin = chans[d]
        for d in range(levels - 2, -1, -1):
            n = config.decoder_convs[d]
            last = "dec0_out" if d == 0 else f"cat{d - 1}"
            add(f"dec{d}_proj", chans[d] + chans[d + 1], chans[d], 1, config.weight_bits, last if n == 0 else None)
            for i in range(n):
                add(f"dec{d}_{i}", chans[d], chans[d], 3, config.weight_bits, last if i == n - 1 else None)

    def _block(self, name: str, x: torch.Tensor, scale: Scale) -> tuple[torch.Tensor, Scale]:
        quant = self.act_quants[self.out_quant[name]]
        y = quant(F.relu(self.convs[name](x, scale)))
        return y, (quant.scale() if quant.quantized else None)

    def _down(self, x: torch.Tensor, quant: nn.Module) -> torch.Tensor:
        """2x2 pooling; an average is requantized with ``quant`` (its input's quantizer)."""
        if self.pool == "max":
            return F.max_pool2d(x, 2)
        return quant(F.avg_pool2d(x, 2))

    def _up(self, y: torch.Tensor, quant: nn.Module) -> torch.Tensor:
        """x2 upsampling; bilinear values are requantized with ``quant`` (the concatenation's quantizer)."""
        if self.upsample == "nearest":
            return F.interpolate(y, scale_factor=2, mode="nearest")
        return quant(F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False))

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[Scale]]:
        """Features (finest first) and their quantizer steps (None in FP32 mode)."""
        cfg = self.config
        assert x.shape[-1] % cfg.size_multiple == 0 and x.shape[-2] % cfg.size_multiple == 0
        scale = self.input_quant.scale() if self.input_quant.quantized else None
        x = self.input_quant(x)
        skips: list[tuple[torch.Tensor, Scale]] = []
        for d in range(cfg.levels):
            if d > 0:
                x = self._down(x, self.act_quants[self.out_quant[f"enc{d - 1}_{cfg.encoder_convs[d - 1] - 1}"]])
            for i in range(cfg.encoder_convs[d]):
                x, scale = self._block(f"enc{d}_{i}", x, scale)
            skips.append((x, scale))
        feats = [None] * cfg.levels
        feats[-1] = skips[-1]
        y, _ = skips[-1]
        for d in range(cfg.levels - 2, -1, -1):
            skip, scale = skips[d]  # same quantizer as y's, see the module docstring
            y = torch.cat([skip, self._up(y, self.act_quants[f"cat{d}"])], dim=1)
            y, scale = self._block(f"dec{d}_proj", y, scale)
            for i in range(cfg.decoder_convs[d]):
                y, scale = self._block(f"dec{d}_{i}", y, scale)
            feats[d] = (y, scale)
        return [f for f, _ in feats], [s for _, s in feats]
