"""QW-Net run from its integer program alone: no float feature extractor, no float QAT weights.

:class:`IntegerQWNet` is what the runtime builds for ``precision="int4"`` from the shipped integer file
(:mod:`qwplugin.intexec.export`, format v2). Per frame:

1. the network input is quantized to 8-bit codes (:func:`~qwplugin.intexec.reference.quantize_input`);
2. the U-Net (every conv, the 8-bit first one included) runs on the chosen backend's integer kernels
   (``features``, a submodule so the runtime can time it as the "extractor");
3. the filter network's 8-bit 1x1 convs run on the same backend as :class:`ConvLogits` heads: integer
   accumulation, float32 logits ``f32(acc + q_b) * s_acc``;
4. :func:`filter_from_logits`: the optional logit cap, softmax, 3x3 kernel application, average pooling
   and bilinear upsampling in float32, operation for operation as
   :class:`qwplugin.model.filter_net.FilterNetwork` (which computes its logits with fake-quant float
   convs instead; the logits then differ by float32 rounding only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.errors import InvalidArgument, UnsupportedHardware
from qwplugin.intexec.program import IntProgram
from qwplugin.intexec.reference import quantize_input
from qwplugin.model.base import ReconstructionModel
from qwplugin.model.config import ModelConfig
from qwplugin.model.filter_net import apply_down0
from qwplugin.model.input_unit import assemble_input, prepare_history
from qwplugin.ops.kernels import TAPS, _apply3x3
from qwplugin.ops.padding import crop_to, pad_to_multiple

INT4_FAKE_QUANT = "int4 (fake-quant float simulation)"
"""Same string as :data:`qwplugin.runtime.backend.INT4_FAKE_QUANT` (not imported: intexec sits below the
runtime)."""


def filter_from_logits(config: ModelConfig, logits: list[torch.Tensor], color: torch.Tensor,
                       history: torch.Tensor, candidate: torch.Tensor | None = None) -> torch.Tensor:
    """The float32 part of QW-Net's filter network, given the kernel logits of every stage.

    Args:
        config: the model configuration (``levels``, ``kernel_logit_cap``).
        logits: ``2 * levels - 1`` tensors: ``down0`` (N, 18, or 27 with a TAA candidate, H, W), ``down{d}``
            (N, 9, H / 2^d, W / 2^d) for d = 1..L-1, then ``up{d}`` (N, 10, H / 2^d, W / 2^d) for d = 0..L-2.
        color, history: (N, 3, H, W) padded aliased frame and warped history, network domain.
        candidate: (N, 3, H, W) padded TAA candidate when ``config.taa_candidate``, else None.

    Returns:
        (N, 3, H, W) filtered frame, network domain.
    """
    levels = config.levels
    assert len(logits) == 2 * levels - 1
    cap = config.kernel_logit_cap

    def weights(z: torch.Tensor) -> torch.Tensor:
        if cap is not None:
            z = cap * torch.tanh(z / cap)
        return torch.softmax(z, dim=1)

    w = weights(logits[0])
    down = [apply_down0(w, color, history, candidate)]
    for d in range(1, levels):
        down.append(_apply3x3(F.avg_pool2d(down[-1], 2), weights(logits[d])))
    y = down[-1]
    for d in range(levels - 2, -1, -1):
        up = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        w = weights(logits[levels + d])
        y = _apply3x3(up, w[:, :TAPS]) + w[:, TAPS:] * down[d]
    return y


class IntegerExtractor(nn.Module):
    """The U-Net part of :class:`IntegerQWNet` (a submodule so that hooks can time it).

    ``forward(net_input)`` takes the float network input (N, C, H, W) (H, W multiples of ``pad_multiple``)
    and returns the backend's native environment of every extractor tensor (see
    :class:`~qwplugin.intexec.interpreter.ProgramBackend`).
    """

    def __init__(self, owner: "IntegerQWNet"):
        super().__init__()
        self._owner = [owner]  # a list: not registered as a submodule (no cycle in .modules())

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> dict:
        owner = self._owner[0]
        spec = owner.program.input_spec
        codes = quantize_input(x, spec.scale, spec.bits)
        return owner.backend.run(codes, owner.program.extractor_ops())


class IntegerQWNet(ReconstructionModel):
    """QW-Net executed from a whole-network :class:`IntProgram` (extractor + ``ConvLogits`` heads).

    Args:
        program: a program from :func:`~qwplugin.intexec.export.export_network` (or the int4 file).
        config: the model configuration it was exported from (``kind == "qwnet"``).

    Raises:
        InvalidArgument: the program has no heads or does not match ``config``'s levels.

    Shape:
        ``forward(color_nw (N, 3, H, W), history_nw (N, 3, H, W), depth=None) -> (N, 3, H, W)``.
    """

    def __init__(self, program: IntProgram, config: ModelConfig):
        if config.kind != "qwnet" or len(program.heads) != 2 * config.levels - 1 \
                or len(program.outputs) != config.levels:
            raise InvalidArgument("an integer QW-Net needs a whole-network program of its config", field="model",
                                  expected=f"{config.levels} outputs and {2 * config.levels - 1} heads (qwnet)",
                                  actual=f"{config.kind}: {len(program.outputs)} outputs, {len(program.heads)} heads")
        super().__init__(config)
        self.program = program
        self.integer_program = program
        self.backend = None
        self.backend_name = None
        self.features = IntegerExtractor(self)

    def use_backend(self, preference: str = "auto", device: torch.device | str = "cpu") -> tuple[str, list[str]]:
        """Choose the backend (:func:`~qwplugin.intexec.select.make_extractor_backend` on the whole program).

        Args:
            preference: ``"auto"``, ``"triton"``, ``"cpu"`` or ``"fakequant"`` (float convs on the codes'
                values: the fake-quant simulation of the same program).
            device: the runtime's device (used by the float fallback).

        Returns:
            ``(precision_detail, notes)``, e.g. ``("int4 (integer backend cpu-int8-onednn, exact)", [...])``.

        Raises:
            UnsupportedHardware: an explicit ``"triton"`` or ``"cpu"`` cannot be honoured.
            InvalidArgument: unknown ``preference``.
        """
        from qwplugin.intexec.select import make_extractor_backend

        dev = torch.device(device)
        try:
            backend, info = make_extractor_backend(self.program, preference, device=dev.type)
        except UnsupportedHardware:
            raise
        self.backend, self.backend_name = backend, info.name
        notes = [info.reason, "integer weights file: no float feature extractor was built"]
        if info.exact:
            return f"int4 (integer backend {info.name}, exact)", notes
        return INT4_FAKE_QUANT, notes

    def _require_backend(self) -> None:
        if self.backend is None:
            self.use_backend("auto")

    def _run(self, color_nw: torch.Tensor, history_nw: torch.Tensor, depth, want_features: bool,
             candidate_nw: torch.Tensor | None = None):
        self._check(color_nw, history_nw, depth, candidate_nw)
        self._require_backend()
        h, w = color_nw.shape[-2:]
        m = self.config.size_multiple
        history_nw = prepare_history(color_nw, history_nw, self.config)  # as the float model does
        color, history = pad_to_multiple(color_nw, m), pad_to_multiple(history_nw, m)
        depth_p = pad_to_multiple(depth, m) if self.config.use_depth else None
        candidate = pad_to_multiple(candidate_nw, m) if self.config.taa_candidate is not None else None
        net_input = assemble_input(color, history, depth_p, self.config.input_processing, self.config.use_depth,
                                   candidate)
        env = self.backend.run_heads(self.features(net_input))
        logits = [self.backend.values(n, env[n]).to(color.device) for n in self.program.heads]
        out = crop_to(filter_from_logits(self.config, logits, color, history, candidate), h, w)
        if not want_features:
            return out, None
        return out, [self.backend.values(n, env[n]).to(color.device) for n in self.program.outputs]

    @torch.no_grad()
    def forward_with_features(self, color_nw: torch.Tensor, history_nw: torch.Tensor,
                              depth: torch.Tensor | None = None,
                              candidate_nw: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(output (N, 3, H, W), dequantized features at the padded size, finest first).

        Raises:
            InvalidArgument: wrong shapes or dtypes, or missing depth.
        """
        return self._run(color_nw, history_nw, depth, True, candidate_nw)

    @torch.no_grad()
    def forward(self, color_nw: torch.Tensor, history_nw: torch.Tensor,
                depth: torch.Tensor | None = None, candidate_nw: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructed frame (N, 3, H, W), network domain (features are not dequantized)."""
        return self._run(color_nw, history_nw, depth, False, candidate_nw)[0]
