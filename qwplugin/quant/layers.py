"""Quantization-aware conv layer: per-channel symmetric weights, bias on the accumulator grid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.errors import InvalidOperation
from qwplugin.quant.quantizers import WeightQuantPerChannel, round_ste

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class QuantConv2d(nn.Conv2d):
    """``nn.Conv2d`` (stride 1, 'same' zero padding ``k // 2``) with fake-quantized weights and bias.

    In FP32 mode it is exactly ``nn.Conv2d``. In quantized mode the weight is
    ``WeightQuantPerChannel(weight_bits)(weight)`` and the bias is rounded to the accumulator grid
    ``s_w[o] * input_scale`` (see :mod:`qwplugin.quant`), so ``input_scale`` is required.

    Args:
        in_channels, out_channels, kernel_size: as ``nn.Conv2d`` (kernel_size odd).
        weight_bits: bits of the weight codes (4 or 8 in QW-Net).
        bias: whether the conv has a bias (zero-initialised, as in the released code).
        quantized: initial mode; switched with :func:`~qwplugin.quant.set_quantized`.

    Shape:
        input (N, C_in, H, W) -> output (N, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, weight_bits: int = 4,
                 bias: bool = True, quantized: bool = False):
        assert kernel_size % 2 == 1
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.weight_quant = WeightQuantPerChannel(weight_bits)
        self.weight_bits = weight_bits
        self.quantized = bool(quantized)
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def accumulator_scale(self, input_scale: torch.Tensor) -> torch.Tensor:
        """``s_w[o] * input_scale``, shape (C_out,), float32."""
        return self.weight_quant.scale(self.weight) * input_scale

    def forward(self, x: torch.Tensor, input_scale: torch.Tensor | None = None) -> torch.Tensor:
        """Convolve; ``input_scale`` (0-dim tensor, the step of ``x``'s quantizer) is needed when quantized.

        Raises:
            InvalidOperation: quantized mode without ``input_scale``.
        """
        if not self.quantized:
            return F.conv2d(x, self.weight, self.bias, padding=self.padding)
        if input_scale is None:
            raise InvalidOperation("a quantized QuantConv2d needs the input_scale of its input quantizer")
        weight = self.weight_quant(self.weight)
        bias = self.bias
        if bias is not None:
            acc_scale = self.accumulator_scale(input_scale)
            bias = torch.clamp(round_ste(bias / acc_scale), INT32_MIN, INT32_MAX) * acc_scale
        return F.conv2d(x, weight, bias, padding=self.padding)

    @torch.no_grad()
    def weight_to_int(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight codes (int8, (C_out, C_in, k, k)) and per-channel scales ((C_out,), float32)."""
        return self.weight_quant.to_int(self.weight)

    @torch.no_grad()
    def bias_to_int(self, input_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bias codes (int32, (C_out,)) on the accumulator grid, and that grid's scale (C_out,)."""
        assert self.bias is not None
        acc_scale = self.accumulator_scale(input_scale)
        codes = torch.clamp(torch.round(self.bias / acc_scale), INT32_MIN, INT32_MAX)
        return codes.to(torch.int32), acc_scale

    def extra_repr(self) -> str:
        return super().extra_repr() + f", weight_bits={self.weight_bits}, quantized={self.quantized}"
