"""Fast CPU backend: oneDNN int8 convolutions (AMX / VNNI where present) on 4- and 8-bit codes, bit-exact to
the reference.

Kernels for the one interpreter loop (:mod:`qwplugin.intexec.interpreter`). Activations are plain uint8
NHWC (channels-last) tensors holding the codes themselves (zero point 0); logits are float32 NCHW. Per op:

- **Convs** (the 4-bit U-Net convs and the 8-bit first conv): oneDNN's int8 convolution
  (``torch.ops.onednn.qconv_pointwise``) on the uint8 codes (scale 1, zero point 0) with int8 weights whose
  per-channel scales are the multipliers ``m``, the float32 bias ``b_o`` (the bias in output steps), a
  clip post-op (``hardtanh``) to [0, 2^bits - 1] and a uint8 output of scale 1 and zero point 0. oneDNN
  computes ``round_half_even(clip(f32(f32(acc) * m) + b_o))``: the reference executor's step 3
  (:mod:`qwplugin.intexec.reference`), requantization, ReLU and the 4-bit clamp fused into the conv.
  Zero points stay 0 on purpose: oneDNN adds an output zero point before rounding (``round(t + zp)``,
  which differs from ``round(t) + zp`` near ties), and an input zero point costs a compensation pass.
- **The first conv** (8-bit input codes 0..255 x 8-bit weights): on CPUs without VNNI / AMX, oneDNN sums
  pairs of u8 x s8 products in saturating int16 (``vpmaddubsw``), and 2 * 255 * 127 > 32767.
  :func:`onednn_pair_sums_saturate` probes oneDNN once per shape at start-up (worst case: all-255 input,
  all-127 weights). Where it saturates, the input codes are split into two halves
  ``x = (x >> 1) + (x - (x >> 1))`` (0..127 and 0..128) stacked on the channel axis, with the weights
  duplicated: the same integer sum, every pair within 2 * 128 * 127 = 32512, so the same fused conv is
  exact on every x86 ISA. Where it does not (VNNI / AMX, the dev machines), the conv runs unsplit. (A
  program whose weights reach -128 would not fit the split; such an op falls back to an exact float32
  convolution on the codes, partial sums below 2^24, and the reference's requantization in torch.)
- **Kernel logits** (the filter network's 8-bit 1x1 convs on 4-bit features; the heads reading one
  feature tensor, ``down{d}`` and ``up{d}``, stacked into one conv): the same oneDNN convolution with unit
  scales, the bias codes as its float bias and a float32 output, which is ``f32(acc + q_b)`` exactly
  (integers below 2^24); then one in-place multiply by ``s_acc`` (the reference's step 5) and a blocked
  2-D transpose to NCHW, in bands of rows (1x1 convs are row-local) so that the float32 conv output stays
  small enough for the allocator to reuse.
- **Max-pool** as two elementwise maxima of NHWC views; **nearest
  upsampling** is lazy (:class:`_Up2x`) and written by the following **concatenation**, one ``torch.cat``
  along the innermost channel axis of NHWC views (each output byte written once). A concatenation whose
  only reader is a 1x1 conv (the decoder's projections) stays lazy too (:class:`_Concat`): the conv
  builds it and convolves it in bands of rows of at most ``CONCAT_BAND_BYTES`` (1x1 convs are row-local),
  so the whole-frame concat (50 MB at 960x540 level 0) is never written.

Measured alternatives (``docs/integer.md``): FBGEMM's quantized conv (this backend until quant spec
version 1, whose requantization was FBGEMM's ``round(f32(f32(acc) + beta) * m)``) does not use AMX and
was 3-13x slower per conv on the AMX Xeon; ``torch._int_mm`` on an im2col matrix is exact too but slower
still at these skinny shapes and needs a separate requantization pass.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from qwplugin.errors import UnsupportedHardware
from qwplugin.intexec.interpreter import ProgramBackend
from qwplugin.intexec.program import CODES, Concat, Conv, ConvLogits, IntProgram, MaxPool, Upsample
from qwplugin.intexec.reference import accumulator_scale, requant_constants

LOGIT_BAND_BYTES = 2 << 20
"""Float32 output bytes of one band of rows of the filter's 1x1 logit convs (see ``_stacked_logits``)."""

CONCAT_BAND_BYTES = 8 << 20
"""Bytes of one band of rows of a concat read by a 1x1 conv (see ``CpuInt8Kernels._conv_bands``)."""

PAIR_LIMIT = 32767
"""int16 bound of the pair sums of u8 x s8 products on x86 CPUs without VNNI / AMX (``vpmaddubsw``)."""


def onednn_available() -> tuple[bool, str]:
    """Whether oneDNN's quantized conv ops exist in this torch build, with the reason when not."""
    if not torch.backends.mkldnn.is_available():
        return False, "torch was built without oneDNN (torch.backends.mkldnn is not available)"
    if not (hasattr(torch.ops.onednn, "qconv_pointwise") and hasattr(torch.ops.onednn, "qconv_prepack")):
        return False, "torch.ops.onednn.qconv_pointwise / qconv_prepack are missing from this torch build"
    return True, "oneDNN int8 convolutions available"


class OneDnnConv:
    """A oneDNN int8 conv of uint8 NHWC codes (scale 1, zero point 0, stride 1), prepacked once:
    ``f32(f32(acc) * scales) + bias``, clipped to [0, ``clip_max``] and rounded half to even into uint8, or
    (``clip_max=None``) as float32.

    Args:
        weight: int8 (Cout, Cin, k, k); scales, bias: float (Cout,); padding: zero padding.
    """

    def __init__(self, weight: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor, padding: int,
                 clip_max: float | None):
        self.scales = scales.to(torch.float64)  # float32 -> float64 -> float32 inside oneDNN: exact
        self.zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        self.bias = bias.to(torch.float32)
        self.padding = [padding] * 2
        self.packed = torch.ops.onednn.qconv_prepack(weight.contiguous(), self.scales, 1.0, 0, [1, 1],
                                                     self.padding, [1, 1], 1, None)
        self.out_dtype = torch.uint8 if clip_max is not None else torch.float32
        self.attr, self.scalars = ("hardtanh", [0.0, clip_max]) if clip_max is not None else ("none", [])

    @property
    def out_channels(self) -> int:
        return self.zero_points.shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.onednn.qconv_pointwise(x, 1.0, 0, self.packed, self.scales, self.zero_points, self.bias,
                                                [1, 1], self.padding, [1, 1], 1, 1.0, 0, self.out_dtype,
                                                self.attr, self.scalars, "")


def _row_bands(h: int, row_bytes: int, budget: int, step: int = 1):
    """``(r0, r1)`` bands of rows covering ``0..h``, each at most ``budget`` bytes (at least ``step`` rows;
    band starts multiples of ``step``)."""
    rows = max(step, budget // max(1, row_bytes) // step * step)
    for r0 in range(0, h, rows):
        yield r0, min(h, r0 + rows)


@functools.lru_cache(maxsize=None)
def onednn_pair_sums_saturate(cin: int, cout: int, k: int) -> bool:
    """Probe whether oneDNN's int8 conv of this shape sums u8 x s8 pairs in saturating int16 here.

    A k x k conv (``cin`` -> ``cout``, zero padding ``k // 2``) with every weight +127 on all-255 inputs,
    at two sizes (one with edge tiles): the exact sum ``255 * 127 * cin * k * k`` is mapped to code 200,
    while saturated pairs (at most 32767 each, ~half the exact sum) would give ~100. With VNNI / AMX
    (``vpdpbusd`` / ``tdpbusd``: u8 x s8 products summed straight into int32) the answer is False and the
    8-bit first conv runs without the input split. The kernel oneDNN picks depends on the conv's shape and
    the ISA, not on values, so the probe's verdict holds for any weights of that shape."""
    exact = 255 * 127 * cin * k * k
    conv = OneDnnConv(torch.full((cout, cin, k, k), 127, dtype=torch.int8), torch.full((cout,), 200.0 / exact),
                      torch.zeros(cout), k // 2, 255.0)
    for h, wd in ((8, 8), (13, 37)):
        x = torch.full((1, cin, h, wd), 255, dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
        y = conv(x)
        if int(y[0, :, h // 2, wd // 2].min()) != 200:
            return True
    return False


def _empty_nhwc(n: int, c: int, h: int, w: int) -> torch.Tensor:
    return torch.empty((n, c, h, w), dtype=torch.uint8, memory_format=torch.channels_last)


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


def _cat_rows(xs: list) -> torch.Tensor:
    """Channel concatenation of NHWC codes / lazy upsamplings (same N, H, W): one ``torch.cat`` along the
    innermost axis of NHWC views, every output byte written once; a lazily upsampled source enters as a
    broadcast view over row pairs (see :meth:`_Up2x.row_pairs`)."""
    n, _, h, w = xs[0].shape
    if any(isinstance(x, _Up2x) for x in xs):
        parts = [x.row_pairs() if isinstance(x, _Up2x)
                 else x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w, -1) for x in xs]
    else:
        parts = [x.permute(0, 2, 3, 1) for x in xs]
    out = torch.cat(parts, dim=-1)
    return out.view(n, h, w, out.shape[-1]).permute(0, 3, 1, 2)


class _Concat:
    """A concatenation not yet materialised, read by a 1x1 conv in bands of rows (see
    ``CpuInt8Kernels.conv``): the whole-frame concat is never written. Anything else materialises it with
    :meth:`dense`."""

    __slots__ = ("xs",)

    def __init__(self, xs: list):
        self.xs = xs

    @property
    def shape(self) -> tuple[int, int, int, int]:
        n, _, h, w = self.xs[0].shape
        return n, sum(x.shape[1] for x in self.xs), h, w

    def rows(self, r0: int, r1: int) -> torch.Tensor:
        """Rows ``r0:r1`` of the concatenation (``r0`` even, and ``r1`` too unless it is the last row when a
        source is a lazy upsampling), NHWC."""
        parts = []
        for x in self.xs:
            if isinstance(x, _Up2x):
                assert r0 % 2 == 0 and (r1 % 2 == 0 or r1 == self.shape[2])
                parts.append(_Up2x(x.x[:, :, r0 // 2:(r1 + 1) // 2]))
            else:
                parts.append(x[:, :, r0:r1])
        return _cat_rows(parts)

    def dense(self) -> torch.Tensor:
        return _cat_rows(self.xs)


def _dense(x):
    return x.dense() if isinstance(x, (_Up2x, _Concat)) else x


class CpuInt8Kernels:
    """oneDNN kernels of an :class:`IntProgram` (see the module docstring).

    Native tensors: codes as uint8 (N, C, H, W) in channels-last memory (zero point 0), an upsampled tensor
    as a lazy :class:`_Up2x` until a concat or another op reads it, logits as float32 (N, C, H, W)
    contiguous NCHW.

    Args:
        program: the integer program.

    Raises:
        UnsupportedHardware: oneDNN's int8 convolutions are not available in this torch build.
    """

    name = "cpu-int8-onednn"
    exact = True

    def __init__(self, program: IntProgram):
        ok, why = onednn_available()
        if not ok:
            raise UnsupportedHardware(why)
        self.program = program
        self._packed: dict[str, tuple] = {}
        self._float: dict[str, tuple] = {}
        self._logits: dict[str, tuple] = {}  # features name -> plan of the stacked heads reading it
        self._slices: dict[str, tuple[str, int, int]] = {}  # head -> (features name, first, end channel)
        self.split_input: set[str] = set()  # convs run on the split 8-bit input (see the module docstring)
        for op in program.convs():
            self._prepare_conv(op)
        # Concats read only by one 1x1 conv (the decoder's projections) stay lazy and are read in bands.
        readers: dict[str, list] = {}
        for op in program.ops:
            for name in (op.srcs if isinstance(op, Concat) else [op.src]):
                readers.setdefault(name, []).append(op)
        exposed = set(program.outputs) | set(program.heads)
        self._banded_concats = {
            op.dst for op in program.ops if isinstance(op, Concat) and op.dst not in exposed
            and len(readers.get(op.dst, [])) == 1 and isinstance(readers[op.dst][0], Conv)
            and readers[op.dst][0].kernel_size == 1 and readers[op.dst][0].dst in self._packed
            and readers[op.dst][0].dst not in self.split_input}
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
        _, m, b_o = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
        use_int, split = True, False
        if 2 * qmax_in * wmax > PAIR_LIMIT and onednn_pair_sums_saturate(src.channels, dst.channels,
                                                                         op.kernel_size):
            split = 2 * ((qmax_in + 1) // 2) * wmax <= PAIR_LIMIT
            use_int = split
        if use_int:
            w = torch.cat([op.weight, op.weight], dim=1) if split else op.weight
            self._packed[op.dst] = OneDnnConv(w, m, b_o, op.padding, float(2 ** dst.bits - 1))
            if split:
                self.split_input.add(op.dst)
        else:
            # program.validate() checked |acc| < 2^24: a float32 conv on codes is exact.
            wf = op.weight.to(torch.float32).contiguous(memory_format=torch.channels_last)
            self._float[op.dst] = (wf, m, b_o, dst.bits)

    def _prepare_logits(self, ops: list[ConvLogits]) -> None:
        src = self.program.tensors[ops[0].src]
        weight = torch.cat([op.weight for op in ops])
        s_acc = torch.cat([accumulator_scale(src.scale, op.weight_scale) for op in ops]).view(1, -1, 1, 1)
        bias = torch.cat([op.bias for op in ops]).to(torch.float32)  # exact: |q_b| < 2^24
        assert all(op.kernel_size == 1 and op.padding == 0 for op in ops)  # row-local: run in bands of rows
        wmax = int(np.abs(weight.numpy().astype(np.int16)).max())
        if 2 * (2 ** src.bits - 1) * wmax <= PAIR_LIMIT:  # 4-bit features: 2 * 15 * 127, never saturates
            plan = ("onednn", OneDnnConv(weight, torch.ones(weight.shape[0]), bias, 0, None), s_acc)
        else:
            wf = weight.to(torch.float32).contiguous(memory_format=torch.channels_last)
            plan = ("float", (wf, bias.view(1, -1, 1, 1)), s_acc)
        self._logits[ops[0].src] = plan
        start = 0
        for op in ops:
            self._slices[op.dst] = (op.src, start, start + op.weight.shape[0])
            start += op.weight.shape[0]

    # -- kernels ---------------------------------------------------------------------------------------
    def begin(self, program: IntProgram, x_codes: torch.Tensor) -> torch.Tensor:
        self._group_out.clear()
        return x_codes.cpu().contiguous(memory_format=torch.channels_last)

    def conv(self, op: Conv, x) -> torch.Tensor:
        if isinstance(x, _Concat):  # only for the convs of _banded_concats (1x1, oneDNN, unsplit)
            return self._conv_bands(op, x)
        x = _dense(x)
        if op.dst in self._packed:
            if op.dst in self.split_input:
                n, c, h, w = x.shape
                halves = _empty_nhwc(n, 2 * c, h, w)
                torch.bitwise_right_shift(x, 1, out=halves[:, :c])
                torch.sub(x, halves[:, :c], out=halves[:, c:])
                x = halves
            return self._packed[op.dst](x)
        w, m, b_o, bits = self._float[op.dst]
        # float32(acc) exactly (integer partial sums < 2^24), then the reference requantization in place:
        # * m, + b_o, round half to even, clamp; the same float32 ops as reference.requantize.
        t = F.conv2d(x.to(torch.float32), w, padding=op.padding)
        t.mul_(m.view(1, -1, 1, 1)).add_(b_o.view(1, -1, 1, 1)).round_().clamp_(0, 2 ** bits - 1)
        return t.to(torch.uint8).contiguous(memory_format=torch.channels_last)

    def _conv_bands(self, op: Conv, x: _Concat) -> torch.Tensor:
        """A 1x1 conv of a lazy concat, band by band of rows (1x1 convs are row-local, so every output row is
        the same as from the whole concat): each band's concat is a small block the allocator reuses."""
        assert op.kernel_size == 1 and op.padding == 0
        conv = self._packed[op.dst]
        n, cin, h, w = x.shape
        out = _empty_nhwc(n, conv.out_channels, h, w)
        for r0, r1 in _row_bands(h, cin * w * n, CONCAT_BAND_BYTES, step=2):  # even: lazy upsampled sources
            out[:, :, r0:r1] = conv(x.rows(r0, r1))
        return out

    def maxpool(self, op: MaxPool, x) -> torch.Tensor:
        # Two elementwise maxima on NHWC views (row pairs, then column pairs): as fast here as torch's
        # quantized max-pool, with no quantized tensors (deprecated in torch).
        x = _dense(x)
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w * c)
        r = torch.maximum(rows[:, :, 0], rows[:, :, 1]).view(n, h // 2, w // 2, 2, c)
        return torch.maximum(r[:, :, :, 0], r[:, :, :, 1]).permute(0, 3, 1, 2)

    def upsample(self, op: Upsample, x) -> _Up2x:
        return _Up2x(_dense(x))

    def concat(self, op: Concat, xs: list):
        if op.dst in self._banded_concats:
            return _Concat(xs)  # read band by band by its only consumer, a 1x1 conv
        return _cat_rows(xs)

    def conv_logits(self, op: ConvLogits, x: torch.Tensor) -> torch.Tensor:
        src, first, end = self._slices[op.dst]
        cached = self._group_out.get(src)
        if cached is None or cached[0] is not x:  # identity, not data_ptr: a freed buffer's address is reused
            cached = (x, self._stacked_logits(src, _dense(x)))
            self._group_out[src] = cached
        return cached[1][:, first:end]

    def _stacked_logits(self, src: str, x: torch.Tensor) -> torch.Tensor:
        """The stacked heads' logits ``f32(acc + q_b) * s_acc`` of NHWC codes ``x``, float32 NCHW.

        The 1x1 convs are row-local: they run on bands of rows of at most LOGIT_BAND_BYTES of float32
        output, each transposed into its rows of the NCHW result. A band's output is small enough for the
        allocator to reuse the same block band after band (a whole-frame float32 output is a fresh mmap,
        zero-filled page by page on first touch: that, not the conv, was most of the level-0 logits' time).
        """
        kind, conv, s_acc = self._logits[src]
        x = x.contiguous(memory_format=torch.channels_last)
        n, _, h, w = x.shape
        c = s_acc.shape[1]
        out = torch.empty((n, c, h, w), dtype=torch.float32)
        for r0, r1 in _row_bands(h, 4 * c * w * n, LOGIT_BAND_BYTES):
            if kind == "onednn":
                acc = conv(x[:, :, r0:r1])  # unit scales, bias q_b: f32(acc) + q_b is the exact acc + q_b
            else:
                wf, bias = conv
                acc = F.conv2d(x[:, :, r0:r1].to(torch.float32), wf).add_(bias)  # exact integers < 2^24
            band = acc.mul_(s_acc)  # f32(acc + q_b) * s_acc: one rounding
            for i in range(n):
                out[i, :, r0:r1].view(c, -1).copy_(band[i].permute(1, 2, 0).reshape(-1, c).t())
        return out

    def codes(self, name: str, y) -> torch.Tensor:
        return _dense(y).contiguous()

    def values(self, name: str, y) -> torch.Tensor:
        if self.program.tensors[name].kind != CODES:
            return y.contiguous()
        return (_dense(y).to(torch.float32) * self.program.tensors[name].scale).contiguous()


class CpuInt8Backend(ProgramBackend):
    """Executes an :class:`IntProgram` with :class:`CpuInt8Kernels`; codes and logits equal the reference's.

    Args:
        program: the integer program (validated here unless ``validated``).
        validated: the caller has just validated ``program``.

    Raises:
        UnsupportedHardware: oneDNN's int8 convolutions are not available in this torch build.
        InvalidArgument: an inconsistent program.
    """

    name = "cpu-int8-onednn"
    exact = True

    def __init__(self, program: IntProgram, validated: bool = False):
        if not validated:
            program.validate()
        super().__init__(program, CpuInt8Kernels(program), validated=True)
