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

from qwplugin.intexec.program import Concat, Conv, IntProgram, MaxPool, Upsample
from qwplugin.intexec.reference import check_input_codes, requant_constants


class FakeQuantExecutor:
    """Runs an :class:`IntProgram` with float convolutions and fake-quant rounding.

    Args:
        program: the integer program.
        device: torch device for weights and activations.
        dtype: float dtype (float32 on CPU; float16 on CUDA for the cuDNN comparison path).
        channels_last: run convolutions in NHWC memory format (faster on CPU oneDNN and cuDNN).
    """

    name = "fakequant-float"
    exact = False

    def __init__(self, program: IntProgram, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, channels_last: bool = True):
        program.validate()
        self.program = program
        self.device = torch.device(device)
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._convs = {}
        for op in program.convs():
            w = (op.weight.to(torch.float32) * op.weight_scale.view(-1, 1, 1, 1)).to(device, dtype)
            b, _, _ = requant_constants(program.tensors[op.src].scale, op.weight_scale, op.bias, 1.0)
            self._convs[op.dst] = (w.contiguous(memory_format=self.memory_format), b.to(device, dtype))

    @torch.no_grad()
    def run_values(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Execute on uint8 input codes; returns every tensor's real values (fake-quantized floats)."""
        check_input_codes(self.program, x_codes)
        p = self.program
        x = x_codes.to(self.device, self.dtype) * p.input_spec.scale
        env = {p.input_name: x.contiguous(memory_format=self.memory_format)}
        for op in p.ops:
            if isinstance(op, Conv):
                w, b = self._convs[op.dst]
                s_out = p.tensors[op.dst].scale
                y = F.conv2d(env[op.src], w, b, padding=op.padding)
                env[op.dst] = torch.round(y / s_out).clamp_(0, 2 ** p.tensors[op.dst].bits - 1) * s_out
            elif isinstance(op, MaxPool):
                env[op.dst] = F.max_pool2d(env[op.src], 2)
            elif isinstance(op, Upsample):
                env[op.dst] = F.interpolate(env[op.src], scale_factor=2, mode="nearest")
            elif isinstance(op, Concat):
                env[op.dst] = torch.cat([env[s] for s in op.srcs], dim=1)
        return env

    def run_codes(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Execute and return the output tensors as uint8 codes (N, C, H, W) on the CPU."""
        env = self.run_values(x_codes)
        out = {}
        for name in self.program.outputs:
            s = self.program.tensors[name].scale
            out[name] = torch.round(env[name].float() / s).to(torch.uint8).cpu()
        return out

    def features(self, x_codes: torch.Tensor) -> list[torch.Tensor]:
        """Real-valued output features (float32, NCHW) in ``program.outputs`` order."""
        env = self.run_values(x_codes)
        return [env[name].float().contiguous() for name in self.program.outputs]
