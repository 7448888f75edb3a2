"""Fast CPU backend: FBGEMM / oneDNN int8 kernels holding 4- and 8-bit values, bit-exact to the reference.

Kernels for the one interpreter loop (:mod:`qwplugin.intexec.interpreter`). Activations are plain uint8
NHWC (channels-last) tensors holding the bytes ``code + zero_point(bits)`` (240 for 4-bit codes, 0 for the
8-bit input); FBGEMM sees them through zero-copy quint8 views (``_as_quint8`` / ``_as_uint8``), so no op
repacks or copies between layers. Logits are float32 NCHW. Per op:

- **4-bit convs**: ``torch.ops.quantized.conv2d_relu`` (FBGEMM; quint8 activations, qint8 per-channel
  weights holding -8..7, NHWC). FBGEMM's requantization with a float bias ``b_f`` is
  ``round_half_even((float(acc) + b_f / s_acc) * m)`` in float32 with ``s_acc = f32(s_x * s_w)`` and
  ``m = f32(s_acc / s_out)``: the reference executor's step 3 (see :mod:`qwplugin.intexec.reference`),
  given ``b_f = f32(q_b * s_acc)``. Its input zero point is an exact int32 correction
  (``acc = sum(byte * w) - 240 * sum(w)``); its output is ``clamp(round(.) + zp, zp, 255)`` with ReLU, which
  for zp = 240 is **the reference's clamp to [0, 15] inside the kernel**: requantization, ReLU and the
  4-bit clamp in one pass (before: a separate quantized ``clamp`` pass per conv). Bytes up to 255 times
  4-bit weights cannot saturate int16 pair sums (2 * 255 * 8 = 4080).
- **The first conv** (8-bit input codes 0..255 x 8-bit weights): on CPUs without VNNI, FBGEMM sums pairs
  of u8 x s8 products in saturating int16 (``vpmaddubsw``), and 2 * 255 * 127 > 32767.
  :func:`fbgemm_pair_sums_saturate` probes FBGEMM once per shape at start-up (worst case: all-255 input,
  all-127 weights). Where it saturates, the input codes are split into two halves
  ``x = (x >> 1) + (x - (x >> 1))`` (0..127 and 0..128) stacked on the channel axis, with the weights
  duplicated: the same integer sum, every pair within 2 * 128 * 127 = 32512, so the same FBGEMM integer
  conv with fused requantization is exact on every x86 ISA. Where it does not (VNNI / AMX, this dev
  machine), the conv runs unsplit (half the MACs). (A program whose weights reach -128 would not fit the
  split; such an op falls back to an exact float32 convolution on the codes, partial sums below 2^24.)
- **Kernel logits** (the filter network's 8-bit 1x1 convs on 4-bit features; the heads reading one
  feature tensor, ``down{d}`` and ``up{d}``, stacked into one conv): oneDNN's int8 convolution
  (``torch.ops.onednn.qconv_pointwise``, AMX / VNNI where present) with unit scales, the bias codes as its
  float bias and a float32 output, which is ``f32(acc + q_b)`` exactly (integers below 2^24); then one
  in-place multiply by ``s_acc`` (the reference's step 5) and a blocked 2-D transpose to NCHW. With VNNI /
  AMX it reads the stored bytes with zero point 240; otherwise the codes (one subtract pass). Without
  oneDNN: the exact float32 convolution on codes.
- **Max-pool** through FBGEMM's quantized kernel on byte views (max commutes with the zero-point shift);
  **nearest upsampling** is lazy (:class:`_Up2x`) and written by the following **concatenation**, one
  ``torch.cat`` along the innermost channel axis of NHWC views (each output byte written once).

Measured alternatives: ``torch._int_mm`` on an im2col matrix is exact too but several times slower than
FBGEMM's direct quantized conv at these skinny shapes (10 GMAC/s at 518400 x 54 x 32 on the dev machine)
and needs a separate requantization pass. oneDNN's (AMX) uint8-output conv requantizes as
``(acc * s_acc + b) / s_out`` (scale before bias, another rounding), not the reference's arithmetic, so it
is not bit-exact and not used for the U-Net convs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from qwplugin.errors import UnsupportedHardware
from qwplugin.intexec.interpreter import ProgramBackend
from qwplugin.intexec.program import CODES, Concat, Conv, ConvLogits, IntProgram, MaxPool, Upsample
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


@functools.lru_cache(maxsize=None)
def fbgemm_pair_sums_saturate(cin: int, cout: int, k: int) -> bool:
    """Probe whether FBGEMM's quantized conv of this shape sums u8 x s8 pairs in saturating int16 here.

    A k x k conv (``cin`` -> ``cout``, zero padding ``k // 2``) with every weight +127 on all-255 inputs,
    at two sizes (one with edge tiles): the exact sum ``255 * 127 * cin * k * k`` is mapped to code 200,
    while saturated pairs (at most 32767 each, ~half the exact sum) would give ~100. With VNNI / AMX
    (``vpdpbusd``: u8 x s8 products summed straight into int32) the answer is False and the 8-bit first conv
    runs without the input split. The kernel FBGEMM picks depends on the conv's shape and the ISA, not on
    values, so the probe's verdict holds for any weights of that shape."""
    with warnings.catch_warnings(), _quantized_engine(ENGINE):
        warnings.simplefilter("ignore", UserWarning)
        w = torch.full((cout, cin, k, k), 127, dtype=torch.int8)
        qw = torch._make_per_channel_quantized_tensor(w, torch.ones(cout, dtype=torch.float64),
                                                      torch.zeros(cout, dtype=torch.long), 0)
        packed = torch.ops.quantized.conv2d_prepack(qw, torch.zeros(cout), [1, 1], [k // 2] * 2, [1, 1], 1)
        exact = 255 * 127 * cin * k * k
        for h, wd in ((8, 8), (13, 37)):
            x = torch.full((1, cin, h, wd), 255, dtype=torch.uint8)
            x = x.contiguous(memory_format=torch.channels_last)
            y = torch.ops.quantized.conv2d_relu(_as_quint8(x, 1.0, 0), packed, exact / 200.0, 0)
            if int(_as_uint8(y)[0, :, h // 2, wd // 2].min()) != 200:
                return True
    return False


def onednn_available() -> bool:
    """Whether oneDNN's quantized conv ops (used for the logits) exist in this torch build."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv_pointwise") \
        and hasattr(torch.ops.onednn, "qconv_prepack")


def zero_point(bits: int) -> int:
    """Raw-byte offset of ``bits``-bit codes in this backend: ``255 - (2^bits - 1)`` (240 for 4-bit codes,
    0 for 8-bit). Code ``q`` is stored as the byte ``q + zero_point``, so FBGEMM's output clamp to [zp, 255]
    of ``conv2d_relu`` is exactly the reference's clamp to [0, 2^bits - 1]: ReLU, requantization and the
    upper clamp in one pass."""
    return 255 - (2 ** bits - 1)


def _as_quint8(u: torch.Tensor, scale: float, zp: int) -> torch.Tensor:
    """A quint8 tensor sharing ``u``'s memory (uint8, any strides); no copy."""
    q = torch._empty_affine_quantized([0], scale=scale, zero_point=zp, dtype=torch.quint8)
    return q.set_(u.untyped_storage(), u.storage_offset(), u.shape, u.stride())


def _as_uint8(q: torch.Tensor) -> torch.Tensor:
    """The raw bytes of a quint8 tensor as a uint8 tensor sharing its memory; no copy."""
    u = torch.empty(0, dtype=torch.uint8)
    return u.set_(q.untyped_storage(), q.storage_offset(), q.shape, q.stride())


def _empty_nhwc(n: int, c: int, h: int, w: int) -> torch.Tensor:
    return torch.empty((n, c, h, w), dtype=torch.uint8, memory_format=torch.channels_last)


def _to_nchw(t: torch.Tensor) -> torch.Tensor:
    """Contiguous NCHW copy of a channels-last float tensor through torch's blocked 2-D transpose (each
    image a (H*W, C) -> (C, H*W) transpose): about 2x faster here than a strided ``.contiguous()``."""
    n, c, h, w = t.shape
    if t.is_contiguous() or not t.is_contiguous(memory_format=torch.channels_last):
        return t.contiguous()
    out = torch.empty((n, c, h, w), dtype=t.dtype)
    for i in range(n):
        out[i].view(c, h * w).copy_(t[i].permute(1, 2, 0).reshape(h * w, c).t())
    return out


def cpu_has_int8_dot_products() -> bool:
    """Whether this x86 CPU has VNNI or AMX int8 (u8 x s8 products summed in int32, no int16 pair sums):
    then oneDNN may read raw bytes up to 255 against 8-bit weights without saturation. False when unknown
    or when oneDNN's ISA is capped by ``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA``."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    except OSError:
        pass
    return False


class _Up2x:
    """A nearest 2x upsampling not yet materialised: a following concat reads it as a broadcast view (one
    write of the concat output instead of an upsampled copy plus the concat); anything else materialises
    it with :meth:`dense`."""

    __slots__ = ("x",)

    def __init__(self, x: torch.Tensor):
        self.x = x

    @property
    def shape(self) -> tuple[int, int, int, int]:
        n, c, h, w = self.x.shape
        return n, c, 2 * h, 2 * w

    def row_pairs(self) -> torch.Tensor:
        """(N, H, 2, 2W, C) channels-innermost view of the upsampled bytes: output rows 2i and 2i+1 of
        input row i (the width doubling is materialised once, 1/4 of the output; the row doubling is a
        broadcast)."""
        n, c, h, w = self.x.shape
        wide = self.x.permute(0, 2, 3, 1).unsqueeze(3).expand(n, h, w, 2, c).reshape(n, h, 1, 2 * w, c)
        return wide.expand(n, h, 2, 2 * w, c)

    def dense(self) -> torch.Tensor:
        n, c, h, w = self.shape
        return self.row_pairs().contiguous().view(n, h, w, c).permute(0, 3, 1, 2)


def _dense(x):
    return x.dense() if isinstance(x, _Up2x) else x


class CpuInt8Kernels:
    """FBGEMM / oneDNN kernels of an :class:`IntProgram` (see the module docstring).

    Native tensors: codes as uint8 (N, C, H, W) in channels-last memory holding ``code + zero_point(bits)``
    (FBGEMM sees them through zero-copy quint8 views), an upsampled tensor as a lazy :class:`_Up2x` until
    a concat or another op reads it, logits as float32 (N, C, H, W) contiguous NCHW.

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
        self.bytes_with_zero_point = cpu_has_int8_dot_products()  # logits read bytes + zero point directly
        self._zp = {name: (zero_point(t.bits) if t.kind == CODES else 0)
                    for name, t in program.tensors.items()}
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
        wmax = int(np.abs(op.weight.numpy().astype(np.int16)).max())  # NumPy: no OpenMP wake-up at start-up
        w, split = op.weight, False
        # FBGEMM multiplies the stored bytes (code + zero point); its zero-point correction is exact int32,
        # but the int16 pair sums see the bytes: bound them with the largest byte, 255 when zp > 0.
        byte_max = 255 if self._zp[op.src] else qmax_in
        if 2 * byte_max * wmax > PAIR_LIMIT and fbgemm_pair_sums_saturate(src.channels, dst.channels,
                                                                          op.kernel_size):
            if self._zp[op.src] == 0:
                split = 2 * ((qmax_in + 1) // 2) * wmax <= PAIR_LIMIT
        elif 2 * byte_max * wmax > PAIR_LIMIT:
            byte_max = 0  # no int16 pair sums on this CPU (probed): FBGEMM's int32 sum is exact as it is
        if split:
            w = torch.cat([op.weight, op.weight], dim=1)
        if 2 * byte_max * wmax <= PAIR_LIMIT or split:
            qw = torch._make_per_channel_quantized_tensor(
                w.contiguous(), op.weight_scale.double(), torch.zeros(w.shape[0], dtype=torch.long), 0)
            b_f, _, _ = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
            packed = torch.ops.quantized.conv2d_prepack(qw, b_f, [1, 1], [op.padding] * 2, [1, 1], 1)
            self._packed[op.dst] = (packed, src.scale, self._zp[op.src], dst.scale, self._zp[op.dst])
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
        bias = torch.cat([op.bias for op in ops]).to(torch.float32)  # exact: |q_b| < 2^24
        pad = ops[0].padding
        assert all(op.padding == pad for op in ops)
        wmax = int(np.abs(weight.numpy().astype(np.int16)).max())
        if self.onednn and 2 * (2 ** src.bits - 1) * wmax <= PAIR_LIMIT:
            cout = weight.shape[0]
            ones = torch.ones(cout, dtype=torch.float64)
            packed = torch.ops.onednn.qconv_prepack(weight.contiguous(), ones, 1.0, 0, [1, 1], [pad] * 2,
                                                    [1, 1], 1, None)
            plan = ("onednn", packed, ones, torch.zeros(cout, dtype=torch.long), bias, s_acc, pad)
        else:
            wf = weight.to(torch.float32).contiguous(memory_format=torch.channels_last)
            plan = ("float", wf, bias.view(1, -1, 1, 1), s_acc, pad)
        self._logits[ops[0].src] = plan
        start = 0
        for op in ops:
            self._slices[op.dst] = (op.src, start, start + op.weight.shape[0])
            start += op.weight.shape[0]

    def _true_codes(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """uint8 codes of native tensor ``x`` (the stored bytes minus the zero point), same layout."""
        zp = self._zp[name]
        return x - zp if zp else x

    # -- kernels ---------------------------------------------------------------------------------------
    def begin(self, program: IntProgram, x_codes: torch.Tensor) -> torch.Tensor:
        self._group_out.clear()
        x = x_codes.cpu().contiguous(memory_format=torch.channels_last)
        zp = self._zp[program.input_name]
        return x + zp if zp else x

    def conv(self, op: Conv, x) -> torch.Tensor:
        x = _dense(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if op.dst in self._packed:
                packed, s_in, zp_in, s_out, zp_out = self._packed[op.dst]
                if op.dst in self.split_input:  # zp_in == 0 here
                    n, c, h, w = x.shape
                    halves = _empty_nhwc(n, 2 * c, h, w)
                    torch.bitwise_right_shift(x, 1, out=halves[:, :c])
                    torch.sub(x, halves[:, :c], out=halves[:, c:])
                    x = halves
                y = torch.ops.quantized.conv2d_relu(_as_quint8(x, s_in, zp_in), packed, s_out, zp_out)
                return _as_uint8(y)
            w, beta, m, bits = self._float[op.dst]
            # float32(acc) exactly (integer partial sums < 2^24), then the reference requantization in place:
            # + beta, * m, round half to even, clamp; the same float32 ops as reference.requantize.
            t = F.conv2d(self._true_codes(op.src, x).to(torch.float32), w, padding=op.padding)
            t.add_(beta.view(1, -1, 1, 1)).mul_(m.view(1, -1, 1, 1)).round_().clamp_(0, 2 ** bits - 1)
            return (t.to(torch.uint8) + self._zp[op.dst]).contiguous(memory_format=torch.channels_last)

    def maxpool(self, op: MaxPool, x) -> torch.Tensor:
        x = _dense(x)
        return _as_uint8(F.max_pool2d(_as_quint8(x, 1.0, 0), 2))  # the quantized kernel: max on bytes

    def upsample(self, op: Upsample, x) -> _Up2x:
        return _Up2x(_dense(x))

    def concat(self, op: Concat, xs: list) -> torch.Tensor:
        # One torch.cat along the innermost (channel) axis of NHWC views: every output byte written once.
        # A lazily upsampled source enters as a broadcast view over row pairs (see _Up2x.row_pairs).
        zp = self._zp[op.dst]
        xs = [x if self._zp[name] == zp else _dense(x) - self._zp[name] + zp for name, x in zip(op.srcs, xs)]
        n, _, h, w = xs[0].shape
        if any(isinstance(x, _Up2x) for x in xs):
            parts = [x.row_pairs() if isinstance(x, _Up2x)
                     else x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w, -1) for x in xs]
        else:
            parts = [x.permute(0, 2, 3, 1) for x in xs]
        out = torch.cat(parts, dim=-1)
        return out.view(n, h, w, out.shape[-1]).permute(0, 3, 1, 2)

    def conv_logits(self, op: ConvLogits, x: torch.Tensor) -> torch.Tensor:
        src, first, end = self._slices[op.dst]
        cached = self._group_out.get(src)
        if cached is None or cached[0] is not x:  # identity, not data_ptr: a freed buffer's address is reused
            cached = (x, self._stacked_logits(src, _dense(x)))
            self._group_out[src] = cached
        return cached[1][:, first:end]

    def _stacked_logits(self, src: str, x: torch.Tensor) -> torch.Tensor:
        plan = self._logits[src]
        if plan[0] == "onednn":
            # bias inside oneDNN: f32(acc) + q_b with unit scales is the exact integer acc + q_b (< 2^24).
            # With VNNI / AMX (no int16 pair sums) oneDNN reads the stored bytes with their zero point
            # (its correction is exact int32); otherwise it gets the codes themselves (bounded pair sums).
            _, packed, ones, zeros, bias, s_acc, pad = plan
            zp = self._zp[src] if self.bytes_with_zero_point else 0
            codes = x if zp else self._true_codes(src, x)
            codes = codes.contiguous(memory_format=torch.channels_last)
            acc = torch.ops.onednn.qconv_pointwise(codes, 1.0, zp, packed, ones, zeros, bias, [1, 1],
                                                   [pad] * 2, [1, 1], 1, 1.0, 0, torch.float32, "none", [], "")
        else:
            _, wf, bias, s_acc, pad = plan
            codes = self._true_codes(src, x).contiguous(memory_format=torch.channels_last)
            acc = F.conv2d(codes.to(torch.float32), wf, padding=pad).add_(bias)  # exact integers < 2^24
        return _to_nchw(acc.mul_(s_acc))  # f32(acc + q_b) * s_acc: one rounding

    def codes(self, name: str, y) -> torch.Tensor:
        return self._true_codes(name, _dense(y)).contiguous()

    def values(self, name: str, y) -> torch.Tensor:
        if self.program.tensors[name].kind != CODES:
            return y.contiguous()
        codes = self._true_codes(name, _dense(y)).to(torch.float32)
        return (codes * self.program.tensors[name].scale).contiguous()


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
