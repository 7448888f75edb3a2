"""Fast CPU backend: FBGEMM / oneDNN int8 kernels holding 4- and 8-bit values, bit-exact to the reference.

Kernels for the one interpreter loop (:mod:`qwplugin.intexec.interpreter`); codes live as NHWC quint8
tensors (zero point 0, the program's scale), logits as float32 tensors. Per op:

- **4-bit convs**: ``torch.ops.quantized.conv2d_relu`` (FBGEMM; quint8 activations holding codes 0..15,
  qint8 per-channel weights holding -8..7, NHWC). Products of 4-bit values cannot saturate FBGEMM's int16
  pair sums (15 * 8 * 2 = 240) and the accumulation is int32. FBGEMM's requantization with a float bias
  ``b_f`` is ``round_half_even((float(acc) + b_f / s_acc) * m)`` in float32 with ``s_acc = f32(s_x * s_w)``
  and ``m = f32(s_acc / s_out)``: the reference executor's step 3 (see :mod:`qwplugin.intexec.reference`),
  given ``b_f = f32(q_b * s_acc)``. The kernels clamp to [0, 255], so a quantized ``clamp`` to 15 follows.
- **The first conv** (8-bit input codes 0..255 x 8-bit weights): on CPUs without VNNI, FBGEMM sums pairs
  of u8 x s8 products in saturating int16 (``vpmaddubsw``), and 2 * 255 * 127 > 32767. The input codes are
  split into two halves ``x = (x >> 1) + (x - (x >> 1))`` (0..127 and 0..128) stacked on the channel axis,
  with the weights duplicated: the sum of products is the same integer, and every pair now stays within
  2 * 128 * 127 = 32512 < 32767, so the **same FBGEMM integer conv with fused requantization** is exact on
  every x86 ISA. (A program whose weights reach -128 would not fit; such an op falls back to an exact
  float32 convolution on the codes, whose partial sums are integers below 2^24.)
- **Kernel logits** (the filter network's 8-bit 1x1 convs on 4-bit features; the heads reading one
  feature tensor, ``down{d}`` and ``up{d}``, stacked into one conv): oneDNN's int8 convolution
  (``torch.ops.onednn.qconv_pointwise``, AMX / VNNI where present) with unit scales and a float32 output,
  which is ``f32(acc)`` exactly; then ``(f32(acc) + q_b) * s_acc`` (the integer add is exact below 2^24),
  the reference's step 5. Without oneDNN: the exact float32 convolution on codes.
- **Max-pool, nearest upsampling, concatenation** run on the quantized tensors, i.e. on codes.

Measured alternative: ``torch._int_mm`` on an im2col matrix is exact too but several times slower than
FBGEMM's direct quantized conv at these skinny shapes (10 GMAC/s at 518400 x 54 x 32 on the dev machine)
and needs a separate requantization pass; it is not used.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
import torch.nn.functional as F

from qwplugin.errors import UnsupportedHardware
from qwplugin.intexec.interpreter import ProgramBackend, TorchStructuralOps
from qwplugin.intexec.program import Conv, ConvLogits, IntProgram
from qwplugin.intexec.reference import accumulator_scale, requant_constants

ENGINE = "fbgemm"


@contextlib.contextmanager
def _quantized_engine(name: str):
    """Temporarily select a torch quantized engine (weights are prepacked for the engine active then)."""
    old = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield
    finally:
        torch.backends.quantized.engine = old


def fbgemm_available() -> tuple[bool, str]:
    """Whether FBGEMM quantized kernels are usable here, with the reason when not."""
    if ENGINE not in torch.backends.quantized.supported_engines:
        return False, f"torch quantized engine {ENGINE!r} not built in " \
                      f"(supported: {torch.backends.quantized.supported_engines})"
    if not hasattr(torch.ops.quantized, "conv2d_relu"):
        return False, "torch.ops.quantized.conv2d_relu is missing from this torch build"
    return True, "FBGEMM quantized kernels available"


PAIR_LIMIT = 32767
"""int16 bound of FBGEMM's (non-VNNI) pair sums of u8 x s8 products."""


def onednn_available() -> bool:
    """Whether oneDNN's quantized conv ops (used for the logits) exist in this torch build."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv_pointwise") \
        and hasattr(torch.ops.onednn, "qconv_prepack")


def _quantized(codes: torch.Tensor, scale: float) -> torch.Tensor:
    return torch._make_per_tensor_quantized_tensor(codes, scale, 0)


class CpuInt8Kernels(TorchStructuralOps):
    """FBGEMM / oneDNN kernels of an :class:`IntProgram` (see the module docstring).

    Args:
        program: the integer program.

    Raises:
        UnsupportedHardware: FBGEMM quantized kernels are not available in this torch build.
    """

    name = "cpu-int8-fbgemm"
    exact = True

    def __init__(self, program: IntProgram):
        ok, why = fbgemm_available()
        if not ok:
            raise UnsupportedHardware(why)
        self.program = program
        self.onednn = onednn_available()
        self._packed: dict[str, tuple] = {}
        self._float: dict[str, tuple] = {}
        self._logits: dict[str, tuple] = {}  # features name -> plan of the stacked heads reading it
        self._slices: dict[str, tuple[str, int, int]] = {}  # head -> (features name, first, end channel)
        self.split_input: set[str] = set()  # convs run on the split 8-bit input (see the module docstring)
        with warnings.catch_warnings(), _quantized_engine(ENGINE):
            warnings.simplefilter("ignore", UserWarning)  # quantized-tensor deprecation notices
            for op in program.convs():
                self._prepare_conv(op)
            # Heads reading the same features (down{d} and up{d}) run as one conv with their output channels
            # stacked: one read of the features, one oneDNN call; per-channel arithmetic is unchanged.
            groups: dict[str, list[ConvLogits]] = {}
            for op in program.logit_convs():
                groups.setdefault(op.src, []).append(op)
            for ops in groups.values():
                self._prepare_logits(ops)
        self._group_out: dict[str, tuple[int, torch.Tensor]] = {}  # src -> (id of its tensor, stacked logits)

    def _prepare_conv(self, op: Conv) -> None:
        src, dst = self.program.tensors[op.src], self.program.tensors[op.dst]
        qmax_in = 2 ** src.bits - 1
        wmax = int(op.weight.abs().max())
        w, split = op.weight, False
        if 2 * qmax_in * wmax > PAIR_LIMIT:
            split = 2 * ((qmax_in + 1) // 2) * wmax <= PAIR_LIMIT
            w = torch.cat([op.weight, op.weight], dim=1)
        if 2 * qmax_in * wmax <= PAIR_LIMIT or split:
            qw = torch._make_per_channel_quantized_tensor(
                w.contiguous(), op.weight_scale.double(), torch.zeros(w.shape[0], dtype=torch.long), 0)
            b_f, _, _ = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
            packed = torch.ops.quantized.conv2d_prepack(qw, b_f, [1, 1], [op.padding] * 2, [1, 1], 1)
            self._packed[op.dst] = (packed, dst.scale, 2 ** dst.bits - 1)
            if split:
                self.split_input.add(op.dst)
        else:
            # program.validate() checked |acc + bias| < 2^24: a float32 conv on codes is exact.
            _, beta, m = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
            wf = op.weight.to(torch.float32).contiguous(memory_format=torch.channels_last)
            self._float[op.dst] = (wf, beta, m, dst.bits)

    def _prepare_logits(self, ops: list[ConvLogits]) -> None:
        src = self.program.tensors[ops[0].src]
        weight = torch.cat([op.weight for op in ops])
        s_acc = torch.cat([accumulator_scale(src.scale, op.weight_scale) for op in ops]).view(1, -1, 1, 1)
        bias = torch.cat([op.bias for op in ops]).to(torch.float32).view(1, -1, 1, 1)  # exact: |q_b| < 2^24
        pad = ops[0].padding
        assert all(op.padding == pad for op in ops)
        if self.onednn and 2 * (2 ** src.bits - 1) * int(weight.abs().max()) <= PAIR_LIMIT:
            cout = weight.shape[0]
            ones = torch.ones(cout, dtype=torch.float64)
            packed = torch.ops.onednn.qconv_prepack(weight.contiguous(), ones, 1.0, 0, [1, 1], [pad] * 2,
                                                    [1, 1], 1, None)
            plan = ("onednn", packed, ones, torch.zeros(cout, dtype=torch.long), bias, s_acc, pad)
        else:
            wf = weight.to(torch.float32).contiguous(memory_format=torch.channels_last)
            plan = ("float", wf, bias, s_acc, pad)
        self._logits[ops[0].src] = plan
        start = 0
        for op in ops:
            self._slices[op.dst] = (op.src, start, start + op.weight.shape[0])
            start += op.weight.shape[0]

    # -- kernels ---------------------------------------------------------------------------------------
    def begin(self, program: IntProgram, x_codes: torch.Tensor) -> torch.Tensor:
        self._group_out.clear()
        x = x_codes.cpu().contiguous(memory_format=torch.channels_last)
        return _quantized(x, program.input_spec.scale)

    def conv(self, op: Conv, x: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if op.dst in self._packed:
                packed, scale, qmax = self._packed[op.dst]
                if op.dst in self.split_input:
                    codes = x.int_repr()
                    low = codes >> 1
                    x = _quantized(torch.cat([low, codes - low], dim=1)
                                   .contiguous(memory_format=torch.channels_last), x.q_scale())
                y = torch.ops.quantized.conv2d_relu(x, packed, scale, 0)
                return torch.clamp(y, 0.0, qmax * scale)
            w, beta, m, bits = self._float[op.dst]
            codes = x.int_repr() if x.is_quantized else x
            # float32(acc) exactly (integer partial sums < 2^24), then the reference requantization in place:
            # + beta, * m, round half to even, clamp; the same float32 ops as reference.requantize.
            t = F.conv2d(codes.to(torch.float32), w, padding=op.padding)
            t.add_(beta.view(1, -1, 1, 1)).mul_(m.view(1, -1, 1, 1)).round_().clamp_(0, 2 ** bits - 1)
            return _quantized(t.to(torch.uint8), self.program.tensors[op.dst].scale)

    def conv_logits(self, op: ConvLogits, x: torch.Tensor) -> torch.Tensor:
        src, first, end = self._slices[op.dst]
        cached = self._group_out.get(src)
        if cached is None or cached[0] is not x:  # identity, not data_ptr: a freed buffer's address is reused
            cached = (x, self._stacked_logits(src, x))
            self._group_out[src] = cached
        return cached[1][:, first:end]

    def _stacked_logits(self, src: str, x: torch.Tensor) -> torch.Tensor:
        plan = self._logits[src]
        codes = x.int_repr().contiguous(memory_format=torch.channels_last)
        if plan[0] == "onednn":
            _, packed, ones, zeros, bias, s_acc, pad = plan
            acc = torch.ops.onednn.qconv_pointwise(codes, 1.0, 0, packed, ones, zeros, None, [1, 1], [pad] * 2,
                                                   [1, 1], 1, 1.0, 0, torch.float32, "none", [], "")
        else:
            _, wf, bias, s_acc, pad = plan
            acc = F.conv2d(codes.to(torch.float32), wf, padding=pad)
        return acc.add_(bias).mul_(s_acc)  # f32(acc + q_b) * s_acc: the add is exact, one rounding

    def codes(self, name: str, y: torch.Tensor) -> torch.Tensor:
        return y.int_repr().contiguous()

    def values(self, name: str, y: torch.Tensor) -> torch.Tensor:
        return y.contiguous() if not y.is_quantized else y.dequantize().contiguous()


class CpuInt8Backend(ProgramBackend):
    """Executes an :class:`IntProgram` with :class:`CpuInt8Kernels`; codes and logits equal the reference's.

    Args:
        program: the integer program (validated here unless ``validated``).
        validated: the caller has just validated ``program``.

    Raises:
        UnsupportedHardware: FBGEMM quantized kernels are not available in this torch build.
        InvalidArgument: an inconsistent program.
    """

    name = "cpu-int8-fbgemm"
    exact = True

    def __init__(self, program: IntProgram, validated: bool = False):
        if not validated:
            program.validate()
        super().__init__(program, CpuInt8Kernels(program), validated=True)
