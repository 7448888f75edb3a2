"""Quantizers: straight-through rounding, symmetric per-channel weights, unsigned per-tensor activations.

The formulas are the specification in :mod:`qwplugin.quant`'s docstring; each quantizer has a fake-quant
``forward`` (float in, float on the grid out, differentiable) and a separate ``to_int`` (codes + scale)
for export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from qwplugin.errors import InvalidArgument

WEIGHT_MAX_FLOOR = 2.0**-40
"""Lower bound of a channel's max |w|, so an all-zero channel gets a finite, non-zero scale."""


class RoundSTE(torch.autograd.Function):
    """``torch.round`` (half to even) forward, identity gradient backward (straight-through)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad_output


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half to even with a straight-through gradient.

    Examples:
        >>> round_ste(torch.tensor([0.5, 1.5, 2.5, -7.5]))
        tensor([ 0.,  2.,  2., -8.])
    """
    return RoundSTE.apply(x)


@dataclass(frozen=True)
class QuantizedTensor:
    """Integer codes with the metadata needed to read them: ``real = (value - zero_point) * scale``.

    Attributes:
        value: integer codes (int8 for weights, uint8 for activations, int32 for biases).
        scale: float32 tensor broadcastable to ``value`` (per channel: shape (C, 1, 1, 1) for weights).
        zero_point: always 0 in this scheme.
        bit_width: bits of the code range.
        signed: True for weights and biases, False for activations.
    """

    value: torch.Tensor
    scale: torch.Tensor
    zero_point: int
    bit_width: int
    signed: bool

    def dequantize(self) -> torch.Tensor:
        """Float32 values ``(value - zero_point) * scale``."""
        return (self.value.to(torch.float32) - self.zero_point) * self.scale


class QuantModule(nn.Module):
    """Base of every module whose behaviour :func:`~qwplugin.quant.set_quantized` switches.

    Attributes:
        quantized: True = fake-quant forward; False = exact FP32 pass-through.
    """

    def __init__(self, quantized: bool = False):
        super().__init__()
        self.quantized = bool(quantized)


def _check_bits(bits: int, lo: int, hi: int) -> None:
    if not isinstance(bits, int) or not lo <= bits <= hi:
        raise InvalidArgument("unsupported bit width", field="bits", expected=f"int in [{lo}, {hi}]",
                              actual=repr(bits))


class WeightQuantPerChannel(nn.Module):
    """Symmetric per-output-channel weight quantizer with ``bits`` bits (no learned state).

    ``s_w[o] = max(max|w[o]|, 2**-40) / (2**(bits-1) - 1)``, codes ``clamp(round(w / s_w), -2**(bits-1),
    2**(bits-1) - 1)``.

    Args:
        bits: 2..8 (4 for the U-Net, 8 for the first conv and the filter network's 1x1 convs).

    Raises:
        InvalidArgument: unsupported ``bits``.
    """

    def __init__(self, bits: int = 4):
        super().__init__()
        _check_bits(bits, 2, 8)
        self.bits = bits
        self.qmin = -(2 ** (bits - 1))
        self.qmax = 2 ** (bits - 1) - 1

    def scale(self, weight: torch.Tensor) -> torch.Tensor:
        """Per-channel scale, shape (C_out,), float32 for a float32 weight (differentiable)."""
        wmax = weight.abs().flatten(1).amax(dim=1)
        return torch.clamp(wmax, min=WEIGHT_MAX_FLOOR) / self.qmax

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        """Fake-quantized weight (C_out, C_in, kH, kW): ``codes * s_w`` with straight-through rounding."""
        s = self.scale(weight).view(-1, *([1] * (weight.dim() - 1)))
        return torch.clamp(round_ste(weight / s), self.qmin, self.qmax) * s

    @torch.no_grad()
    def to_int(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer codes (int8, same shape as ``weight``) and the per-channel scale (C_out,) float32."""
        s = self.scale(weight)
        codes = torch.clamp(torch.round(weight / s.view(-1, *([1] * (weight.dim() - 1)))), self.qmin, self.qmax)
        return codes.to(torch.int8), s

    def quant_tensor(self, weight: torch.Tensor) -> QuantizedTensor:
        """:meth:`to_int` wrapped in a :class:`QuantizedTensor` (scale shaped (C_out, 1, 1, 1))."""
        codes, s = self.to_int(weight)
        return QuantizedTensor(codes, s.view(-1, *([1] * (weight.dim() - 1))), 0, self.bits, True)


class ActQuantUnsigned(QuantModule):
    """Unsigned per-tensor activation quantizer with a learned clipping maximum ``exp(max_log)``.

    ``s_a = exp(max_log) / (2**bits - 1)``, codes ``clamp(round(x / s_a), 0, 2**bits - 1)``. When not
    ``quantized`` the forward returns its input unchanged.

    Args:
        bits: 2..8 (4 after each ReLU, 8 for the network input).
        max_init: initial clipping maximum (> 0).
        quantized: initial mode.

    Raises:
        InvalidArgument: unsupported ``bits`` or ``max_init`` <= 0.
    """

    def __init__(self, bits: int = 4, max_init: float = 1.0, quantized: bool = False):
        super().__init__(quantized)
        _check_bits(bits, 2, 8)
        if not max_init > 0:
            raise InvalidArgument("max_init must be > 0", field="max_init", expected="> 0", actual=repr(max_init))
        self.bits = bits
        self.qmax = 2**bits - 1
        self.max_log = nn.Parameter(torch.tensor(math.log(max_init), dtype=torch.float32))

    def scale(self) -> torch.Tensor:
        """The step ``exp(max_log) / (2**bits - 1)``, a 0-dim float32 tensor (differentiable)."""
        return torch.exp(self.max_log) / self.qmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantized ``x`` (any shape) when quantized, else ``x`` itself."""
        if not self.quantized:
            return x
        s = self.scale().to(x.dtype)
        return torch.clamp(round_ste(x / s), 0, self.qmax) * s

    @torch.no_grad()
    def to_int(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes (uint8, same shape as ``x``) and the scale (0-dim float32), whatever the mode."""
        s = self.scale()
        return torch.clamp(torch.round(x / s.to(x.dtype)), 0, self.qmax).to(torch.uint8), s

    def quant_tensor(self, x: torch.Tensor) -> QuantizedTensor:
        """:meth:`to_int` wrapped in a :class:`QuantizedTensor`."""
        codes, s = self.to_int(x)
        return QuantizedTensor(codes, s, 0, self.bits, False)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, quantized={self.quantized}"
