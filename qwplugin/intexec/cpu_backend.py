"""Fast CPU backend: FBGEMM int8 convolutions holding 4-bit values, bit-exact to the reference executor.

Per op:

- **4-bit convs**: ``torch.ops.quantized.conv2d_relu`` (FBGEMM; quint8 activations with zero point 0
  holding codes 0..15, qint8 per-channel weights holding -8..7, NHWC). Products of 4-bit values cannot
  saturate FBGEMM's int16 pair sums (15 * 8 * 2 = 240) and the accumulation is int32. FBGEMM's
  requantization with a float bias ``b_f`` is ``round_half_even((float(acc) + b_f / s_acc) * m)`` in
  float32 with ``s_acc = f32(s_x * s_w)`` and ``m = f32(s_acc / s_out)``: the reference executor's step 3
  (see :mod:`qwplugin.intexec.reference`), given ``b_f = f32(q_b * s_acc)``.
  The kernels clamp to [0, 255], so a quantized ``clamp`` to 15 follows each conv.
- **The first conv** (8-bit input codes x 8-bit weights): FBGEMM's u8 x s8 pair sums can saturate int16
  (255 * 127 * 2 > 32767), so it runs as a float32 convolution on the integer codes, which is exact
  because every partial sum is an integer below 2^24 (asserted on the program), followed by the
  reference requantization in torch float32 ops. It is ~2% of the MACs.
- **Max-pool, nearest upsampling, concatenation** run on the quantized tensors, i.e. on codes.

Measured alternative: ``torch._int_mm`` on an im2col matrix is exact too but ~2x slower than FBGEMM's
direct quantized conv at these shapes (``reference/environment.md`` section 5b) and needs a separate
requantization pass; it is not used.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
import torch.nn.functional as F

from qwplugin.errors import UnsupportedHardware
from qwplugin.intexec.program import Concat, Conv, IntProgram, MaxPool, Upsample
from qwplugin.intexec.reference import check_input_codes, requant_constants

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


class CpuInt8Backend:
    """Executes an :class:`IntProgram` with FBGEMM int8 kernels; codes equal the reference executor's.

    Args:
        program: the integer program (validated here).

    Raises:
        UnsupportedHardware: FBGEMM quantized kernels are not available in this torch build.
    """

    name = "cpu-int8-fbgemm"
    exact = True

    def __init__(self, program: IntProgram):
        ok, why = fbgemm_available()
        if not ok:
            raise UnsupportedHardware(why)
        program.validate()
        self.program = program
        self._packed = {}
        self._float = {}
        with warnings.catch_warnings(), _quantized_engine(ENGINE):
            warnings.simplefilter("ignore", UserWarning)  # quantized-tensor deprecation notices
            for op in program.convs():
                src, dst = program.tensors[op.src], program.tensors[op.dst]
                if src.bits == 4 and op.weight_bits == 4:
                    qw = torch._make_per_channel_quantized_tensor(
                        op.weight, op.weight_scale.double(), torch.zeros(op.weight.shape[0], dtype=torch.long), 0)
                    b_f, _, _ = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
                    packed = torch.ops.quantized.conv2d_prepack(qw, b_f, [1, 1], [op.padding] * 2, [1, 1], 1)
                    self._packed[op.dst] = (packed, dst.scale, 2 ** dst.bits - 1)
                else:
                    # program.validate() checked |acc + bias| < 2^24: a float32 conv on codes is exact.
                    _, beta, m = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
                    w = op.weight.to(torch.float32).contiguous(memory_format=torch.channels_last)
                    self._float[op.dst] = (w, beta, m, dst.bits)

    def _run(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.program
        check_input_codes(p, x_codes)
        x_codes = x_codes.cpu().contiguous(memory_format=torch.channels_last)
        env = {p.input_name: x_codes}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for op in p.ops:
                if isinstance(op, Conv):
                    env[op.dst] = self._conv(op, env[op.src])
                elif isinstance(op, MaxPool):
                    env[op.dst] = F.max_pool2d(env[op.src], 2)
                elif isinstance(op, Upsample):
                    env[op.dst] = F.interpolate(env[op.src], scale_factor=2, mode="nearest")
                elif isinstance(op, Concat):
                    env[op.dst] = torch.cat([env[s] for s in op.srcs], dim=1)
        return env

    def _conv(self, op: Conv, x: torch.Tensor) -> torch.Tensor:
        if op.dst in self._packed:
            packed, scale, qmax = self._packed[op.dst]
            y = torch.ops.quantized.conv2d_relu(x, packed, scale, 0)
            return torch.clamp(y, 0.0, qmax * scale)
        w, beta, m, bits = self._float[op.dst]
        codes = x.int_repr() if x.is_quantized else x
        # float32(acc) exactly (integer partial sums < 2^24), then the reference requantization in place:
        # + beta, * m, round half to even, clamp; the same float32 ops as reference.requantize.
        t = F.conv2d(codes.to(torch.float32), w, padding=op.padding)
        t.add_(beta.view(1, -1, 1, 1)).mul_(m.view(1, -1, 1, 1)).round_().clamp_(0, 2 ** bits - 1)
        return torch._make_per_tensor_quantized_tensor(t.to(torch.uint8), self.program.tensors[op.dst].scale, 0)

    @torch.no_grad()
    def run_codes(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Execute on uint8 input codes (N, Cin, H, W); returns the outputs' uint8 codes (N, C, H, W)."""
        env = self._run(x_codes)
        return {n: env[n].int_repr().contiguous() for n in self.program.outputs}

    @torch.no_grad()
    def features(self, x_codes: torch.Tensor) -> list[torch.Tensor]:
        """Real-valued output features ``codes * scale`` (float32, NCHW) in ``program.outputs`` order."""
        env = self._run(x_codes)
        return [env[n].dequantize().contiguous() for n in self.program.outputs]
