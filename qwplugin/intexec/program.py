"""The integer model: a straight-line program over named tensors of unsigned activation codes.

Every backend (reference, CPU, Triton, fake-quant float) executes the same :class:`IntProgram` through
one loop (:func:`qwplugin.intexec.interpreter.execute`). A tensor named in the program holds unsigned
codes ``q`` of ``bits`` bits whose real value is ``q * scale`` (zero point 0), or, for ``kind ==
"logits"``, float32 kernel logits. The network input ``input_name`` holds 8-bit codes; every conv output
holds 4-bit codes (0..15). Ops, in program order:

- :class:`Conv` (3x3 or 1x1, stride 1, zero padding ``k // 2``, per-output-channel symmetric weight codes,
  int32 bias codes on the accumulator grid, requantization + ReLU to the destination's codes, see
  :mod:`qwplugin.intexec.reference`);
- :class:`MaxPool` (2x2, stride 2) on codes;
- :class:`Upsample` (nearest, x2) on codes;
- :class:`Concat` along channels on codes; all sources must share the destination's scale;
- :class:`ConvLogits` (1x1, the filter network's kernel-predicting convs, 8-bit weights): integer
  accumulation of 4-bit feature codes, then float32 logits ``f32(acc + q_b) * s_acc`` (no ReLU, no
  requantization). A whole-network program lists them after the extractor ops; their outputs are
  ``heads``, in the filter network's order (``down0..down{L-1}``, ``up0..up{L-2}``).

Scales are stored as float32 values (Python floats that are exactly representable in float32) so that
every backend derives bit-identical requantization constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from qwplugin.errors import InvalidArgument


ACC_EXACT_LIMIT = 2 ** 24
"""float32 represents every integer of magnitude below this exactly; accumulators stay below it."""


def acc_bound(op: "Conv", in_bits: int) -> int:
    """Static upper bound of ``|acc + bias|`` of conv ``op`` fed unsigned ``in_bits``-bit codes.

    Computed in NumPy (single-threaded): at start-up these small reductions would otherwise each wake
    torch's OpenMP pool, which on a loaded 2-core machine costs milliseconds per call."""
    w = np.abs(op.weight.numpy().astype(np.int64)).reshape(op.weight.shape[0], -1).sum(axis=1)
    return int((w * (2 ** in_bits - 1) + np.abs(op.bias.numpy().astype(np.int64))).max())


def f32(x: float) -> float:
    """Round a Python float to the nearest float32 value (returned as a Python float)."""
    return float(torch.tensor(float(x), dtype=torch.float32))


CODES = "codes"
LOGITS = "logits"


@dataclass(frozen=True)
class TensorSpec:
    """A tensor of the program: ``channels`` channels of ``bits``-bit unsigned codes (``kind == "codes"``)
    or float32 kernel logits (``kind == "logits"``, then ``scale`` is 1.0 and ``bits`` 32)."""

    name: str
    channels: int
    scale: float
    bits: int = 4
    kind: str = CODES


@dataclass
class Conv:
    """Integer convolution + requantization + ReLU.

    Attributes:
        weight: int8 codes (Cout, Cin, k, k), in [-2^(b-1), 2^(b-1) - 1] for ``weight_bits`` b.
        weight_scale: float32 (Cout,) per-output-channel weight scale (real weight = code * scale).
        bias: int32 (Cout,) bias codes on the accumulator grid: real bias = code * s_in * weight_scale,
            with s_in the scale of ``src`` (as :meth:`qwplugin.quant.QuantConv2d.bias_to_int`).
    """

    name: str
    src: str
    dst: str
    weight: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor
    weight_bits: int = 4

    @property
    def kernel_size(self) -> int:
        return int(self.weight.shape[-1])

    @property
    def padding(self) -> int:
        return self.kernel_size // 2

    @property
    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per output pixel (Cout * Cin * k * k)."""
        return int(self.weight.numel())


@dataclass
class MaxPool:
    """2x2 max pooling, stride 2, on codes (exact: max commutes with the monotonic dequantization)."""

    src: str
    dst: str


@dataclass
class Upsample:
    """Nearest-neighbour 2x upsampling on codes."""

    src: str
    dst: str


@dataclass
class Concat:
    """Channel concatenation of ``srcs`` (all with the destination's scale) into ``dst``."""

    srcs: tuple[str, ...]
    dst: str


@dataclass
class ConvLogits:
    """1x1 integer convolution producing float32 logits (the filter network's kernel-predicting convs).

    ``logits[c] = f32(acc[c] + q_b[c]) * s_acc[c]`` with ``acc`` the exact int32 sum of codes times
    weight codes and ``s_acc[c] = f32(s_in * weight_scale[c])``: one float rounding (the integer sum is
    below 2^24, so its float32 conversion is exact).

    Attributes:
        weight: int8 codes (Cout, Cin, 1, 1) in [-2^(b-1), 2^(b-1) - 1] for ``weight_bits`` b (8).
        weight_scale: float32 (Cout,); bias: int32 (Cout,) codes on the accumulator grid.
    """

    name: str
    src: str
    dst: str
    weight: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor
    weight_bits: int = 8

    @property
    def kernel_size(self) -> int:
        return int(self.weight.shape[-1])

    @property
    def padding(self) -> int:
        return self.kernel_size // 2

    @property
    def macs_per_pixel(self) -> int:
        return int(self.weight.numel())


Op = Conv | MaxPool | Upsample | Concat | ConvLogits


@dataclass
class IntProgram:
    """An exported integer feature extractor.

    Attributes:
        input_name: name of the 8-bit input tensor (codes of the network input, see ``input_scale``).
        tensors: every named tensor (input included) with its channels, scale and bits.
        ops: the program, in execution order; each op writes one new tensor.
        outputs: names of the feature tensors handed to the float filter network, in its order.
        pad_multiple: H and W must be multiples of this (2^(levels-1)); callers pad like the model does.
        config: the float model's configuration (``ModelConfig.to_dict()``), carried into the file.
        heads: names of the float32 logits tensors written by :class:`ConvLogits` ops (whole-network
            programs; empty for an extractor-only program), in the filter network's order.
        known_answer: optional ``{"seed", "size", "sha256"}``: the digest of the reference executor's
            outputs and heads on the self-test input (:func:`qwplugin.intexec.select.self_test_input`),
            recorded at export so a backend's start-up self-test need not run the slow reference.
    """

    input_name: str
    tensors: dict[str, TensorSpec]
    ops: list[Op]
    outputs: list[str]
    pad_multiple: int = 1
    config: dict = field(default_factory=dict)
    heads: list[str] = field(default_factory=list)
    known_answer: dict = field(default_factory=dict)

    @property
    def input_spec(self) -> TensorSpec:
        return self.tensors[self.input_name]

    def convs(self) -> list[Conv]:
        """The requantizing convolutions (the U-Net's), in program order."""
        return [op for op in self.ops if isinstance(op, Conv)]

    def logit_convs(self) -> list[ConvLogits]:
        """The filter network's kernel-predicting convolutions, in program order."""
        return [op for op in self.ops if isinstance(op, ConvLogits)]

    def extractor_ops(self) -> list[Op]:
        """Every op but the :class:`ConvLogits` heads (the U-Net feature extractor)."""
        return [op for op in self.ops if not isinstance(op, ConvLogits)]

    def head_ops(self) -> list[ConvLogits]:
        """The :class:`ConvLogits` heads (they read only extractor outputs)."""
        return self.logit_convs()

    def extractor(self) -> "IntProgram":
        """This program without its heads (shares the tensors and weights)."""
        tensors = {k: v for k, v in self.tensors.items() if v.kind == CODES}
        return IntProgram(self.input_name, tensors, self.extractor_ops(), list(self.outputs), self.pad_multiple,
                          self.config)

    def macs_per_pixel(self, heads: bool = False) -> float:
        """Integer multiply-accumulates per input pixel (each level's convs weighted by its pixel fraction);
        the :class:`ConvLogits` heads are counted only with ``heads=True``."""
        level = {self.input_name: 1.0}
        total = 0.0
        for op in self.ops:
            if isinstance(op, ConvLogits):
                level[op.dst] = level[op.src]
                if heads:
                    total += op.macs_per_pixel * level[op.src]
            elif isinstance(op, Conv):
                level[op.dst] = level[op.src]
                total += op.macs_per_pixel * level[op.src]
            elif isinstance(op, MaxPool):
                level[op.dst] = level[op.src] / 4
            elif isinstance(op, Upsample):
                level[op.dst] = level[op.src] * 4
            else:
                level[op.dst] = level[op.srcs[0]]
        return total

    def validate(self) -> None:
        """Check the program's internal consistency.

        Raises:
            InvalidArgument: naming the op and the field that is inconsistent.
        """
        def bad(msg: str, fld: str, expected: str, actual: str) -> InvalidArgument:
            return InvalidArgument(msg, field=fld, expected=expected, actual=actual)

        if self.input_name not in self.tensors:
            raise bad("input tensor missing", "input_name", "a tensor spec", self.input_name)
        defined = {self.input_name}
        for i, op in enumerate(self.ops):
            srcs = op.srcs if isinstance(op, Concat) else (op.src,)
            for s in srcs:
                if s not in defined:
                    raise bad("op reads a tensor not yet written", f"ops[{i}]", "a defined tensor", s)
            if op.dst in defined or op.dst not in self.tensors:
                raise bad("op must write a new, declared tensor", f"ops[{i}].dst", "new declared name", op.dst)
            dst = self.tensors[op.dst]
            for s in srcs:
                if self.tensors[s].kind != CODES:
                    raise bad("ops read code tensors only", f"ops[{i}]", "a code tensor", f"{s} (logits)")
            if (dst.kind == LOGITS) != isinstance(op, ConvLogits):
                raise bad("only ConvLogits writes logits, and it writes only logits", f"ops[{i}].dst",
                          "kind 'logits' exactly for ConvLogits", f"{op.dst}: {dst.kind}")
            if isinstance(op, (Conv, ConvLogits)):
                co, ci = op.weight.shape[:2]
                if op.weight.dtype != torch.int8 or op.weight.dim() != 4 or op.kernel_size not in (1, 3):
                    raise bad("conv weight must be int8 (Cout, Cin, k, k), k in {1, 3}", f"ops[{i}].weight",
                              "int8 (Cout, Cin, 1|3, 1|3)", f"{op.weight.dtype} {tuple(op.weight.shape)}")
                lim = 2 ** (op.weight_bits - 1)
                w_np = op.weight.numpy()
                if int(w_np.min()) < -lim or int(w_np.max()) > lim - 1:
                    raise bad("weight codes out of range", f"ops[{i}].weight", f"[{-lim}, {lim - 1}]",
                              f"[{int(w_np.min())}, {int(w_np.max())}]")
                if ci != self.tensors[op.src].channels or co != dst.channels:
                    raise bad("conv channels mismatch", f"ops[{i}]",
                              f"{self.tensors[op.src].channels}->{dst.channels}", f"{ci}->{co}")
                for name, dtype in (("weight_scale", torch.float32), ("bias", torch.int32)):
                    t = getattr(op, name)
                    if t.dtype != dtype or tuple(t.shape) != (co,):
                        raise bad(f"{name} must be {dtype} (Cout,)", f"ops[{i}].{name}", f"{dtype} ({co},)",
                                  f"{t.dtype} {tuple(t.shape)}")
                bound = acc_bound(op, self.tensors[op.src].bits)
                if bound >= ACC_EXACT_LIMIT:
                    raise bad("accumulator may exceed float32's exact integer range", f"ops[{i}]",
                              "max |acc + bias| < 2^24", str(bound))
                if not bool((op.weight_scale > 0).all()):
                    raise bad("weight scales must be positive", f"ops[{i}].weight_scale", "> 0", "<= 0")
                if isinstance(op, ConvLogits):
                    if op.kernel_size != 1:
                        raise bad("kernel-predicting convs are 1x1", f"ops[{i}].weight", "(Cout, Cin, 1, 1)",
                                  str(tuple(op.weight.shape)))
                elif dst.bits != 4:
                    raise bad("conv outputs must be 4-bit", f"tensors[{op.dst}].bits", "4", str(dst.bits))
            elif isinstance(op, Concat):
                if sum(self.tensors[s].channels for s in op.srcs) != dst.channels:
                    raise bad("concat channel count mismatch", f"ops[{i}]", str(dst.channels), "sum differs")
                for s in op.srcs:
                    if self.tensors[s].scale != dst.scale or self.tensors[s].bits != dst.bits:
                        raise bad("concatenated tensors must share one scale", f"ops[{i}].srcs",
                                  f"scale {dst.scale}", f"{s}: {self.tensors[s].scale}")
            else:
                s = self.tensors[op.src]
                if (s.channels, s.scale, s.bits) != (dst.channels, dst.scale, dst.bits):
                    raise bad("pool/upsample must keep channels and scale", f"ops[{i}]",
                              str((s.channels, s.scale, s.bits)), str((dst.channels, dst.scale, dst.bits)))
            defined.add(op.dst)
        for name in self.outputs:
            if name not in defined or self.tensors[name].kind != CODES:
                raise bad("output is never written", "outputs", "a written code tensor", name)
        for name in self.heads:
            if name not in defined or self.tensors[name].kind != LOGITS:
                raise bad("head is never written", "heads", "a written logits tensor", name)
        seen_head = False
        for i, op in enumerate(self.ops):
            seen_head = seen_head or isinstance(op, ConvLogits)
            if seen_head and not isinstance(op, ConvLogits):
                raise bad("heads must come after every extractor op", f"ops[{i}]", "ConvLogits", type(op).__name__)


def check_input_codes(program: IntProgram, x_codes: torch.Tensor) -> None:
    """Boundary check shared by every backend: uint8 (N, Cin, H, W), H, W multiples of pad_multiple.

    Raises:
        InvalidArgument: naming ``x_codes`` with the expected and actual dtype or shape.
    """
    spec = program.input_spec
    if not isinstance(x_codes, torch.Tensor) or x_codes.dtype != torch.uint8 or x_codes.dim() != 4:
        raise InvalidArgument("input codes must be a uint8 (N, C, H, W) tensor", field="x_codes",
                              expected="uint8 (N, C, H, W)",
                              actual=f"{getattr(x_codes, 'dtype', type(x_codes).__name__)} "
                                     f"{tuple(getattr(x_codes, 'shape', ()))}")
    pm = program.pad_multiple
    if x_codes.shape[1] != spec.channels or x_codes.shape[2] % pm or x_codes.shape[3] % pm:
        raise InvalidArgument("input codes have the wrong channels or size", field="x_codes",
                              expected=f"(N, {spec.channels}, H, W) with H, W multiples of {pm}",
                              actual=str(tuple(x_codes.shape)))
