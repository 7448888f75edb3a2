"""Integer reference executor: slow, plain torch integer arithmetic; it defines the right answer.

Arithmetic, exactly (every backend must reproduce these codes bit for bit); it is the integer form of
:mod:`qwplugin.quant`'s fake-quant forward:

1. **Input**: ``q_in = clamp(round_half_even(x / s_in), 0, 255)`` in float32 (``x`` the network input
   in [0, 1), ``s_in`` the input quantizer's step), as ``ActQuantUnsigned.to_int``. See :func:`quantize_input`.
2. **Conv accumulation**: ``acc[c] = sum_{ci, dy, dx} q_x[ci, y+dy, x+dx] * w[c, ci, dy, dx]`` in int32
   with zero padding (code 0 = real 0). A static bound ``|acc| + |q_b| < 2^24`` is checked on the program,
   so ``float32(acc)`` is exact.
3. **Requantization + ReLU**, per output channel ``c``, in float32 with round-half-to-even, from the
   int32 bias codes ``q_b`` on the accumulator grid ``s_acc[c] = f32(s_x * s_w[c])`` (as
   ``QuantConv2d.bias_to_int``), constants computed once::

       b_f[c]  = f32(q_b[c] * s_acc[c])              # the real bias, float32
       m[c]    = f32(s_acc[c] / s_out)               # output multiplier
       b_o[c]  = f32(b_f[c] / s_out)                 # the bias in output steps
       q_out   = clamp(round_half_even(f32(f32(f32(acc) * m[c]) + b_o[c])), 0, 15)

   Multiply, add, round: two roundings, no fused multiply-add. The clamp at 0 is the ReLU (ReLU then
   rounding then clamping at 0 gives the same code). This is oneDNN's requantization of an int8
   convolution with per-channel weight scales ``m``, a float32 bias ``b_o``, unit source and destination
   scales, zero points 0 and a clip post-op to [0, 15] before the rounding (measured bit for bit, ties
   included, in ``tests/qwplugin/test_intexec_onednn.py``), which is why the CPU backend runs every conv
   through oneDNN (AMX / VNNI) and matches it exactly. (Quant spec version 1 used FBGEMM's
   ``round(f32(f32(acc) + q_b) * m)``: FBGEMM does not use AMX, oneDNN does, and is 3-13x faster here;
   see ``docs/integer.md``.)
4. **Max-pool 2x2, nearest 2x upsampling, concatenation** act on codes directly (exact: dequantization is
   monotonic and all concatenated tensors share one scale).
5. **Kernel logits** (:class:`~qwplugin.intexec.program.ConvLogits`, the filter network's 8-bit 1x1
   convs on the 4-bit features): ``logits[c] = f32(acc[c] + q_b[c]) * s_acc[c]`` in float32, ``acc``
   as in step 2 (int32, exact), ``s_acc[c] = f32(s_x * s_w[c])``; the integer sum is below 2^24 (checked
   on the program), so the only rounding is the one multiply. The softmax and the kernel application
   that consume the logits are float32 (:mod:`qwplugin.intexec.network`).
6. **The first conv** (8-bit input codes, 8-bit weights) is step 2 + 3 like any other conv: its
   accumulator bound ``255 * sum|w| + |q_b| < 2^24`` is checked on the program too.

Real value of a code: ``q * scale``. The fake-quantized float model computes
``round_half_even(relu(sum(x_fq * w_fq) + b_fq) / s_out)`` in float32 instead (summation in another order,
then a division); the two give different codes only where the real value lies within float32 rounding
error of a rounding boundary, by one code (documented in ``docs/integer.md``, bounded in the tests).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from qwplugin.intexec.interpreter import ProgramBackend, execute
from qwplugin.intexec.program import (  # noqa: F401  (check_input_codes: re-exported for the backends)
    Concat,
    Conv,
    ConvLogits,
    IntProgram,
    MaxPool,
    Upsample,
    check_input_codes,
)

def accumulator_scale(in_scale: float, weight_scale: torch.Tensor) -> torch.Tensor:
    """``s_acc = f32(s_in * s_w)``, float32 (Cout,): the scale of the int32 accumulators and bias codes."""
    return torch.tensor(in_scale, dtype=torch.float32) * weight_scale.to(torch.float32)


def requant_constants(in_scale: float, weight_scale: torch.Tensor, bias_codes: torch.Tensor,
                      out_scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step 3's per-channel constants ``(b_f, m, b_o)``, float32 (Cout,) each: the real bias, the output
    multiplier and the bias in output steps."""
    s_acc = accumulator_scale(in_scale, weight_scale)
    s_out = torch.tensor(out_scale, dtype=torch.float32)
    b_f = bias_codes.to(torch.float32) * s_acc
    return b_f, s_acc / s_out, b_f / s_out


def requantize(acc: torch.Tensor, m: torch.Tensor, b_o: torch.Tensor, bits: int = 4,
               channel_dim: int = 1) -> torch.Tensor:
    """Step 3: int32 accumulators (without bias) -> unsigned codes (uint8).

    Args:
        acc: int32 accumulators, channels on ``channel_dim``.
        m, b_o: float32 (C,) from :func:`requant_constants`.
        bits: output bit width (codes in [0, 2^bits - 1]).
        channel_dim: axis of ``acc`` holding the channels (1 for NCHW, -1 for NHWC).

    Returns:
        uint8 codes, same shape as ``acc``.
    """
    assert acc.dtype == torch.int32
    shape = [1] * acc.dim()
    shape[channel_dim] = -1
    t = acc.to(torch.float32) * m.view(shape)  # eager torch: one rounding per op, never fused
    t.add_(b_o.view(shape))
    return torch.round(t).clamp_(0, 2 ** bits - 1).to(torch.uint8)


def quantize_input(x: torch.Tensor, scale: float, bits: int = 8) -> torch.Tensor:
    """Step 1: float network input (N, C, H, W) -> uint8 codes ``clamp(round(x / scale), 0, 2^bits - 1)``."""
    q = torch.round(x.to(torch.float32) / torch.tensor(scale, dtype=torch.float32))
    return q.clamp_(0, 2 ** bits - 1).to(torch.uint8)


def conv_int32(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Step 2: integer convolution with int32 accumulation, stride 1, zero padding ``k // 2``.

    Args:
        x: integer codes (N, Cin, H, W) (any integer dtype).
        w: int8 weight codes (Cout, Cin, k, k), k odd.

    Returns:
        int32 accumulators (N, Cout, H, W).
    """
    n, ci, h, wd = x.shape
    co, ci_w, k, _ = w.shape
    assert ci == ci_w and k % 2 == 1
    p = k // 2
    xp = F.pad(x.to(torch.int32), (p, p, p, p))
    acc = torch.zeros(n, h, wd, co, dtype=torch.int32)
    w32 = w.to(torch.int32)
    for dy in range(k):
        for dx in range(k):
            tap = xp[:, :, dy:dy + h, dx:dx + wd].permute(0, 2, 3, 1).reshape(-1, ci)
            acc += (tap @ w32[:, :, dy, dx].t()).view(n, h, wd, co)
    return acc.permute(0, 3, 1, 2).contiguous()


def maxpool_codes(q: torch.Tensor) -> torch.Tensor:
    """2x2 / stride 2 max of uint8 codes (N, C, H, W) -> (N, C, H/2, W/2), on integers."""
    n, c, h, w = q.shape
    assert h % 2 == 0 and w % 2 == 0
    return q.view(n, c, h // 2, 2, w // 2, 2).amax(dim=(3, 5))


def upsample_codes(q: torch.Tensor) -> torch.Tensor:
    """Nearest 2x upsampling of codes (N, C, H, W) -> (N, C, 2H, 2W)."""
    return q.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def logits_from_acc(acc: torch.Tensor, bias_codes: torch.Tensor, in_scale: float, weight_scale: torch.Tensor,
                    channel_dim: int = 1) -> torch.Tensor:
    """Step 5: int32 accumulators (without bias) -> float32 logits ``f32(acc + q_b) * s_acc``.

    Args:
        acc: int32 accumulators, channels on ``channel_dim``.
        bias_codes: int32 (C,) bias codes on the accumulator grid.
        in_scale: scale of the conv's input codes; weight_scale: float32 (C,).
        channel_dim: 1 for NCHW, -1 for NHWC.

    Returns:
        float32 logits, same shape as ``acc``.
    """
    assert acc.dtype == torch.int32
    shape = [1] * acc.dim()
    shape[channel_dim] = -1
    s_acc = accumulator_scale(in_scale, weight_scale)
    return (acc + bias_codes.view(shape)).to(torch.float32) * s_acc.view(shape)


class ReferenceKernels:
    """The reference executor's kernels: NCHW integer tensors, plain torch int32 arithmetic (slow, exact)."""

    name = "reference-int32"
    exact = True

    def __init__(self, program: IntProgram):
        self.program = program
        self._consts = {}
        for op in program.convs():
            _, m, b_o = requant_constants(program.tensors[op.src].scale, op.weight_scale, op.bias,
                                          program.tensors[op.dst].scale)
            self._consts[op.dst] = (m, b_o, program.tensors[op.dst].bits)

    def begin(self, program: IntProgram, x_codes: torch.Tensor) -> torch.Tensor:
        return x_codes.cpu()

    def conv(self, op: Conv, x: torch.Tensor) -> torch.Tensor:
        m, b_o, bits = self._consts[op.dst]
        return requantize(conv_int32(x, op.weight), m, b_o, bits)

    def conv_logits(self, op: ConvLogits, x: torch.Tensor) -> torch.Tensor:
        return logits_from_acc(conv_int32(x, op.weight), op.bias, self.program.tensors[op.src].scale,
                               op.weight_scale)

    def maxpool(self, op: MaxPool, x: torch.Tensor) -> torch.Tensor:
        return maxpool_codes(x)

    def upsample(self, op: Upsample, x: torch.Tensor) -> torch.Tensor:
        return upsample_codes(x)

    def concat(self, op: Concat, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=1)

    def codes(self, name: str, y: torch.Tensor) -> torch.Tensor:
        return y

    def values(self, name: str, y: torch.Tensor) -> torch.Tensor:
        spec = self.program.tensors[name]
        return y if spec.kind == "logits" else dequantize(y, spec.scale)


class ReferenceBackend(ProgramBackend):
    """The reference executor as a backend (:class:`ReferenceKernels` in the one interpreter loop)."""

    def __init__(self, program: IntProgram):
        super().__init__(program, ReferenceKernels(program))


def run_reference(program: IntProgram, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Execute ``program`` on input codes, returning every named tensor: uint8 codes (N, C, H, W), and
    float32 logits (N, C, H, W) for the heads of a whole-network program.

    Args:
        program: a validated :class:`IntProgram`.
        x_codes: uint8 input codes (N, Cin, H, W), H and W multiples of ``program.pad_multiple``.

    Raises:
        InvalidArgument: on a wrong dtype, channel count or spatial size.
    """
    with torch.no_grad():
        return execute(program, ReferenceKernels(program), x_codes)


def dequantize(q: torch.Tensor, scale: float) -> torch.Tensor:
    """Codes -> float32 real values ``q * scale``."""
    return q.to(torch.float32) * torch.tensor(scale, dtype=torch.float32)
