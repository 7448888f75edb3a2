"""The one interpreter of an :class:`IntProgram`: a loop over its ops calling a backend's kernels.

Every backend (the int32 reference, the oneDNN CPU backend, the Triton GPU backend, the
fake-quant float executor) is a :class:`Kernels` object: how tensors are represented (NCHW int codes,
NHWC quantized tensors, NHWC buffers in a per-size plan, floats) and one function per op. The loop, the
boundary checks and the conversions to codes / features / logits live here once, in
:func:`execute` and :class:`ProgramBackend`; a new backend is a new set of kernels, not a copy of the loop.

Kernel contract (``x``, ``y`` are backend-native tensors; shapes given as logical NCHW):

- ``begin(program, x_codes) -> x``: uint8 input codes (N, Cin, H, W) -> native input tensor;
- ``conv(op, x) -> y``: :class:`Conv`, codes (N, Cin, H, W) -> 4-bit codes (N, Cout, H, W), requantized
  and ReLU'd exactly as :mod:`qwplugin.intexec.reference` step 3;
- ``conv_logits(op, x) -> y``: :class:`ConvLogits`, codes -> float32 logits (N, Cout, H, W);
- ``maxpool(op, x)``, ``upsample(op, x)``: 2x2 max / nearest x2 on codes;
- ``concat(op, xs)``: channel concatenation of codes;
- ``codes(name, y) -> uint8 (N, C, H, W)``, ``values(name, y) -> float32 (N, C, H, W)`` (codes * scale,
  or the logits), both contiguous NCHW on the backend's device.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from qwplugin.intexec.program import Concat, Conv, ConvLogits, IntProgram, MaxPool, Upsample, check_input_codes


class Kernels(Protocol):
    """What a backend provides (see the module docstring)."""

    name: str
    exact: bool

    def begin(self, program: IntProgram, x_codes: torch.Tensor): ...  # noqa: E704
    def conv(self, op: Conv, x): ...  # noqa: E704
    def conv_logits(self, op: ConvLogits, x): ...  # noqa: E704
    def maxpool(self, op: MaxPool, x): ...  # noqa: E704
    def upsample(self, op: Upsample, x): ...  # noqa: E704
    def concat(self, op: Concat, xs: list): ...  # noqa: E704
    def codes(self, name: str, y) -> torch.Tensor: ...  # noqa: E704
    def values(self, name: str, y) -> torch.Tensor: ...  # noqa: E704


def run_ops(kernels: Kernels, ops, env: dict) -> dict:
    """Run ``ops`` in order on ``env`` (name -> native tensor), adding each op's output; returns ``env``."""
    for op in ops:
        if isinstance(op, Conv):
            env[op.dst] = kernels.conv(op, env[op.src])
        elif isinstance(op, ConvLogits):
            env[op.dst] = kernels.conv_logits(op, env[op.src])
        elif isinstance(op, MaxPool):
            env[op.dst] = kernels.maxpool(op, env[op.src])
        elif isinstance(op, Upsample):
            env[op.dst] = kernels.upsample(op, env[op.src])
        elif isinstance(op, Concat):
            env[op.dst] = kernels.concat(op, [env[s] for s in op.srcs])
        else:  # pragma: no cover - the op type is closed
            raise AssertionError(f"unknown op {op!r}")
    return env


def execute(program: IntProgram, kernels: Kernels, x_codes: torch.Tensor, ops=None) -> dict:
    """Check ``x_codes``, convert it with ``kernels.begin`` and run ``ops`` (default: the whole program).

    Args:
        program: a validated program.
        kernels: the backend's kernels.
        x_codes: uint8 input codes (N, Cin, H, W), H and W multiples of ``program.pad_multiple``.
        ops: a prefix of ``program.ops`` to run (e.g. :meth:`IntProgram.extractor_ops`).

    Returns:
        Every written tensor by name, in the backend's native representation.

    Raises:
        InvalidArgument: ``x_codes`` has the wrong dtype, channels or size.
    """
    check_input_codes(program, x_codes)
    env = {program.input_name: kernels.begin(program, x_codes)}
    return run_ops(kernels, program.ops if ops is None else ops, env)


class TorchStructuralOps:
    """The program's structural ops on NCHW torch tensors for kernel sets whose activations are plain
    torch tensors of code values (the fake-quant kernels): 2x2 max pooling, 2x nearest upsampling, channel
    concatenation, all exact on integer-valued tensors. (The CPU int8 kernels have their own byte-level
    versions: max-pool on byte views, upsampling fused into the concat.)"""

    def maxpool(self, op: MaxPool, x):
        return F.max_pool2d(x, 2)

    def upsample(self, op: Upsample, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def concat(self, op: Concat, xs: list):
        return torch.cat(xs, dim=1)


class ProgramBackend:
    """A program bound to a backend's kernels: the object the selection, the models and the tests use.

    Args:
        program: the integer program (validated here unless ``validated``).
        kernels: the backend's kernels (they may precompute per-op constants from ``program``).
        validated: the caller has just validated ``program`` (skips a second pass over the weights).

    Attributes:
        name, exact: the kernels' (``exact``: codes equal the reference executor's bit for bit).
    """

    def __init__(self, program: IntProgram, kernels: Kernels, validated: bool = False):
        if not validated:
            program.validate()
        self.program = program
        self.kernels = kernels
        self.name = kernels.name
        self.exact = kernels.exact

    def run(self, x_codes: torch.Tensor, ops=None) -> dict:
        """Native environment after running ``ops`` (default all) on ``x_codes``; see :func:`execute`."""
        with torch.no_grad():
            return execute(self.program, self.kernels, x_codes, ops)

    def run_heads(self, env: dict) -> dict:
        """Run the program's :class:`ConvLogits` heads on an environment from :meth:`run` of the extractor."""
        with torch.no_grad():
            return run_ops(self.kernels, self.program.head_ops(), env)

    def run_outputs(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """One run of the whole program: uint8 codes of the outputs and float32 logits of the heads
        (N, C, H, W each, on the CPU) by name."""
        env = self.run(x_codes)
        out = {n: self.kernels.codes(n, env[n]).cpu() for n in self.program.outputs}
        out.update({n: self.kernels.values(n, env[n]).cpu() for n in self.program.heads})
        return out

    def run_codes(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """uint8 codes (N, C, H, W) of the outputs (the extractor's features) by name, on the CPU."""
        env = self.run(x_codes, self.program.extractor_ops())
        return {n: self.kernels.codes(n, env[n]).cpu() for n in self.program.outputs}

    def run_logits(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """float32 logits (N, C, H, W) of the heads by name, on the CPU."""
        env = self.run(x_codes)
        return {n: self.kernels.values(n, env[n]).cpu() for n in self.program.heads}

    def features(self, x_codes: torch.Tensor) -> list[torch.Tensor]:
        """Real-valued features ``codes * scale`` (float32, NCHW, on the backend's device), outputs order."""
        env = self.run(x_codes, self.program.extractor_ops())
        return [self.kernels.values(n, env[n]) for n in self.program.outputs]

    def values(self, name: str, native) -> torch.Tensor:
        """float32 NCHW values of one native tensor of an environment."""
        return self.kernels.values(name, native)
