"""Fake-quant float executor: the integer program run in float arithmetic (not bit-exact).

Each conv computes ``y = conv2d(q_x * s_x, w * s_w) + q_b * s_acc`` in the executor's float dtype, then
``q = clamp(round(y / s_out), 0, 15)``, exactly the fake-quantized model's forward. It is

- the CPU fallback when no integer kernels are usable (float32), and
- the FP16 cuDNN comparison path on CUDA (``dtype=torch.float16``, channels_last).

Its codes may differ from the reference executor's by one where a value sits within float rounding of a
rounding boundary; differences then propagate through later layers (bounded in the tests).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from qwplugin.intexec.interpreter import ProgramBackend, TorchStructuralOps
from qwplugin.intexec.program import Conv, ConvLogits, IntProgram
from qwplugin.intexec.reference import requant_constants


class FakeQuantKernels(TorchStructuralOps):
    """Float convolutions with fake-quant rounding, as kernels of the one interpreter loop.

    Tensors are real values (``codes * scale``) in ``dtype`` on ``device``; logits are
    ``conv2d(x, w * s_w) + q_b * s_acc`` in float (the fake-quantized filter network's forward).
    """

    name = "fakequant-float"
    exact = False

    def __init__(self, program: IntProgram, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, channels_last: bool = True):
        self.program = program
        self.device = torch.device(device)
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._convs = {}
        for op in program.convs() + program.logit_convs():
            w = (op.weight.to(torch.float32) * op.weight_scale.view(-1, 1, 1, 1)).to(device, dtype)
            b, _, _ = requant_constants(program.tensors[op.src].scale, op.weight_scale, op.bias, 1.0)
            self._convs[op.dst] = (w.contiguous(memory_format=self.memory_format), b.to(device, dtype))

    def begin(self, program: IntProgram, x_codes: torch.Tensor) -> torch.Tensor:
        x = x_codes.to(self.device, self.dtype) * program.input_spec.scale
        return x.contiguous(memory_format=self.memory_format)

    def conv(self, op: Conv, x: torch.Tensor) -> torch.Tensor:
        w, b = self._convs[op.dst]
        s_out = self.program.tensors[op.dst].scale
        y = F.conv2d(x, w, b, padding=op.padding)
        return torch.round(y / s_out).clamp_(0, 2 ** self.program.tensors[op.dst].bits - 1) * s_out

    def conv_logits(self, op: ConvLogits, x: torch.Tensor) -> torch.Tensor:
        w, b = self._convs[op.dst]
        return F.conv2d(x, w, b, padding=op.padding)

    def codes(self, name: str, y: torch.Tensor) -> torch.Tensor:
        return torch.round(y.float() / self.program.tensors[name].scale).to(torch.uint8)

    def values(self, name: str, y: torch.Tensor) -> torch.Tensor:
        return y.float().contiguous()


class FakeQuantExecutor(ProgramBackend):
    """Runs an :class:`IntProgram` with float convolutions and fake-quant rounding (:class:`FakeQuantKernels`).

    Args:
        program: the integer program.
        device: torch device for weights and activations.
        dtype: float dtype (float32 on CPU; float16 on CUDA for the cuDNN comparison path).
        channels_last: run convolutions in NHWC memory format (faster on CPU oneDNN and cuDNN).
    """

    def __init__(self, program: IntProgram, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, channels_last: bool = True):
        super().__init__(program, FakeQuantKernels(program, device, dtype, channels_last))
        self.device, self.dtype = self.kernels.device, dtype

    def run_values(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Execute on uint8 input codes; returns every tensor's real values (fake-quantized floats)."""
        return self.run(x_codes)
