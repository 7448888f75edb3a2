"""Quantization-aware layers of QW-Net: the written specification integer backends must reproduce.

Notation: ``round`` is ``torch.round`` = round half to even (``round(2.5) == 2``, ``round(-7.5) == -8``);
``clamp(v, lo, hi)``; all scale arithmetic in float32, in the order written.

Weights (:class:`WeightQuantPerChannel`, used by :class:`QuantConv2d`): symmetric, per output channel
``o``, ``b`` bits (4 by default; 8 for the first conv of the U-Net and for the filter network's
kernel-predicting 1x1 convs, and the black-box baseline's output conv):

    qmax_w   = 2 ** (b - 1) - 1                                  (7 for 4 bits, 127 for 8 bits)
    wmax[o]  = max(max_{i,ky,kx} |w[o, i, ky, kx]|, 2 ** -40)     (recomputed from the weights, not learned)
    s_w[o]   = wmax[o] / qmax_w
    q_w      = clamp(round(w / s_w[o]), -2 ** (b - 1), 2 ** (b - 1) - 1)     (int8 codes; [-8, 7] at 4 bits)
    w_fake   = q_w * s_w[o]

  The released code uses ``s_w = 2 * wmax / (2 ** b - 1)`` instead, which maps +wmax to 7.5 -> clamped
  to 7 (the largest positive weight is clipped to 93%) and -wmax to -7.5 -> -8 (107%): an asymmetric
  error. With ``wmax / qmax_w`` the largest weight of each channel is exact and the grid is symmetric;
  code -8 is never produced (clamping to [-8, 7] is then a no-op kept for safety).

Activations (:class:`ActQuantUnsigned`): unsigned, per tensor, ``b`` bits (4; 8 for the network input),
learned clipping maximum parameterised as ``amax = exp(max_log)`` (PACT-like, ``max_log`` is the
parameter):

    qmax_a = 2 ** b - 1                                            (15 for 4 bits, 255 for 8 bits)
    s_a    = exp(max_log) / qmax_a
    q_a    = clamp(round(x / s_a), 0, qmax_a)                      (uint8 codes)
    a_fake = q_a * s_a

  One quantizer sits after every ReLU. Tensors that are concatenated share ONE quantizer instance (the
  encoder output at level d and the decoder output of level d + 1, which is upsampled with nearest
  neighbours, a code-preserving op), so the concatenation is a concatenation of codes with one scale.
  Max-pool and nearest upsampling act on codes directly.

Bias: quantized to the accumulator scale of its conv, as int32:

    s_acc[o] = s_w[o] * s_in                                       (s_in: scale of the conv's input)
    q_b[o]   = clamp(round(bias[o] / s_acc[o]), -2 ** 31, 2 ** 31 - 1)
    b_fake   = q_b * s_acc[o]

  so an integer executor computes ``acc[o] = sum q_w * q_in + q_b[o]`` in int32 and then
  ``y = float32(acc[o]) * s_acc[o]`` with ONE float rounding (no FMA-contraction ambiguity), then
  ``relu`` and requantizes with the next quantizer's ``q = clamp(round(y / s_next), 0, qmax)``.
  Fake-quant training computes the same values up to float32 summation order inside the conv.

Gradients: straight-through rounding (:class:`RoundSTE`: forward ``round``, backward identity); the
clamp passes gradients only inside the range; so gradients reach the weights (through ``w / s_w``), the
bias, and ``max_log`` (through ``s_a`` both inside the range, LSQ-like, and for clipped values, PACT-like).

What stays float32: softmax, the 3x3 kernel application, average pooling and bilinear upsampling of the
filter network, the warp, the colour transform.

Switching: :func:`set_quantized` turns every :class:`QuantModule` of a model to fake-quant (True) or
exact FP32 pass-through (False). Export reads ``to_int`` of each quantizer, which is separate from the
fake-quant ``forward``.

Why not brevitas or ``torch.ao`` fake-quantize: brevitas pins setuptools and hides its scheme behind
dependency injectors; ``torch.ao`` FakeQuantize learns neither a log-parameterised max nor shares
quantizers across a concatenation without FX graph rewriting. The scheme above is ~150 lines written out.
"""

from qwplugin.quant.layers import QuantConv2d
from qwplugin.quant.quantizers import (
    ActQuantUnsigned,
    QuantizedTensor,
    QuantModule,
    RoundSTE,
    WeightQuantPerChannel,
    round_ste,
)
from qwplugin.quant.switch import is_quantized, set_quantized

__all__ = [
    "ActQuantUnsigned",
    "QuantConv2d",
    "QuantModule",
    "QuantizedTensor",
    "RoundSTE",
    "WeightQuantPerChannel",
    "is_quantized",
    "round_ste",
    "set_quantized",
]
