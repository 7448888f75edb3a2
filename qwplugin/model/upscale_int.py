"""The upscaling QW-Net run from its integer program: float front end, integer U-Net, float filter tail.

The U-Net of :class:`~qwplugin.model.upscale.UpscaleQWNet` (display extractor) is the same
:class:`~qwplugin.model.unet.FeatureExtractor` as the anti-aliasing model, with 3 more input channels, so
:func:`qwplugin.intexec.export.export_network` exports it unchanged and
:class:`qwplugin.intexec.network.IntegerQWNet` executes it (every backend, the reference executor the
definition of right). What differs is float preprocessing, like
:func:`~qwplugin.model.input_unit.prepare_history` in the anti-aliasing model: the zero-upsampling front end
(:func:`~qwplugin.model.upscale.prepare_upscale_inputs`) builds the display-resolution input and the filter
taps, then :func:`qwplugin.intexec.network.filter_from_logits` filters at display resolution.

With the render-resolution extractor (``upscale_extractor="render"``) the filter has one level more than the
U-Net has outputs: :func:`export_upscale_network` gives its display-level heads (``filter.down0``,
``filter.up0``) the U-Net's finest features at render resolution, and the float tail nearest-upsamples their
logits x2, which equals the float model's 1x1 convs on the nearest-upsampled features pixel for pixel (a 1x1
conv commutes with nearest upsampling). Such a program has ``2 L + 1`` heads for ``L`` outputs, so it is not
a file :func:`qwplugin.intexec.export.load_program` accepts (its layer check expects ``2 L - 1``); it lives in
memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.model.config import ModelConfig
from qwplugin.model.upscale import filter_config, prepare_upscale_inputs
from qwplugin.model.upscale_input import filled_current
from qwplugin.ops.padding import crop_to


def export_upscale_network(model: nn.Module):
    """Whole-network integer program of an :class:`~qwplugin.model.upscale.UpscaleQWNet`.

    Display extractor: :func:`qwplugin.intexec.export.export_network` itself. Render extractor: the U-Net's
    program plus one :class:`~qwplugin.intexec.program.ConvLogits` head per filter conv, ``filter.down{d}`` /
    ``filter.up{d}`` of filter level ``d`` reading the U-Net output ``max(d - 1, 0)`` (see the module
    docstring), heads ordered as :func:`qwplugin.intexec.network.filter_from_logits` reads them.

    Raises:
        InvalidArgument: not an upscaling QW-Net.
    """
    from qwplugin.intexec.export import export_extractor, export_network
    from qwplugin.intexec.program import LOGITS, ConvLogits, TensorSpec

    cfg = getattr(model, "config", None)
    if cfg is None or not getattr(cfg, "upscales", False) or not hasattr(model, "filter"):
        raise InvalidArgument("not an upscaling QW-Net", field="model", expected="UpscaleQWNet",
                              actual=type(model).__name__)
    if cfg.upscale_extractor == "display":
        return export_network(model)
    program = export_extractor(model)
    filt, levels = model.filter, cfg.levels + 1
    heads = [(f"down{d}", filt.down[f"down{d}"], max(d - 1, 0)) for d in range(levels)]
    heads += [(f"up{d}", filt.up[f"up{d}"], max(d - 1, 0)) for d in range(levels - 1)]
    with torch.no_grad():
        for short, layer, src_level in heads:
            src, name = program.outputs[src_level], f"filter.{short}"
            in_scale = torch.tensor(program.tensors[src].scale, dtype=torch.float32)
            w, ws = layer.weight_to_int()
            b = layer.bias_to_int(in_scale)[0] if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.int32)
            program.tensors[name] = TensorSpec(name, int(w.shape[0]), 1.0, 32, LOGITS)
            program.ops.append(ConvLogits(name, src, name, w.contiguous(), ws.to(torch.float32).contiguous(),
                                          b.contiguous(), layer.weight_bits))
            program.heads.append(name)
    program.validate()
    return program


class IntegerUpscaleQWNet(nn.Module):
    """:class:`~qwplugin.model.upscale.UpscaleQWNet` executed from its whole-network integer program.

    Args:
        program: :func:`export_upscale_network` of an upscaling QW-Net (for the display extractor, the same as
            :func:`qwplugin.intexec.export.export_network`).
        config: the configuration it was exported from.

    Raises:
        InvalidArgument: not an upscaling config, or a program whose input or heads do not match it.

    Shape:
        as :class:`~qwplugin.model.upscale.UpscaleQWNet`.
    """

    upscaling = True

    def __init__(self, program, config: ModelConfig):
        super().__init__()
        if not config.upscales or config.kind != "qwnet":
            raise InvalidArgument("the integer upscaling model needs an upscaling QW-Net config", field="config",
                                  expected="kind 'qwnet', upscale_factor > 1",
                                  actual=f"{config.kind!r} at {config.upscale_factor}")
        levels = filter_config(config).levels
        if program.tensors[program.input_name].channels != config.in_channels or len(program.heads) != 2 * levels - 1:
            raise InvalidArgument("program does not match the upscaling config", field="program",
                                  expected=f"{config.in_channels} input channels, {2 * levels - 1} heads",
                                  actual=f"{program.tensors[program.input_name].channels} input channels, "
                                         f"{len(program.heads)} heads")
        self.config, self.program = config, program
        self.backend, self.backend_name = None, None

    def use_backend(self, preference: str = "auto", device: torch.device | str = "cpu") -> tuple[str, list[str]]:
        """Choose the backend: ``"reference"`` (the reference executor, the definition of right) or a
        preference of :func:`qwplugin.intexec.select.make_extractor_backend` (``"auto"``, ``"cpu"``,
        ``"triton"``, ``"fakequant"``).

        Returns:
            ``(precision_detail, notes)``.

        Raises:
            UnsupportedHardware: an explicit ``"cpu"`` or ``"triton"`` cannot be honoured.
            InvalidArgument: unknown preference.
        """
        if preference == "reference":
            from qwplugin.intexec.reference import ReferenceBackend

            self.backend, self.backend_name = ReferenceBackend(self.program), "reference"
            return "int4 (reference executor, exact)", ["the integer reference executor"]
        from qwplugin.intexec.select import make_extractor_backend

        self.backend, info = make_extractor_backend(self.program, preference, device=torch.device(device).type)
        self.backend_name = info.name
        detail = f"int4 (integer backend {info.name}, exact)" if info.exact else "int4 (fake-quant float simulation)"
        return detail, [info.reason]

    def current_display(self, color_nw: torch.Tensor, jitter_px: torch.Tensor,
                        display_hw: tuple[int, int]) -> torch.Tensor:
        """As :meth:`qwplugin.model.upscale.UpscaleQWNet.current_display`."""
        return filled_current(color_nw, jitter_px, display_hw)[0]

    @torch.no_grad()
    def forward(self, color_nw: torch.Tensor, history_nw: torch.Tensor, jitter_px: torch.Tensor,
                depth: torch.Tensor | None = None, candidate_nw: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructed display frame (N, 3, H, W), network domain (``candidate_nw``: the TAAU candidate
        of a model with ``config.taa_candidate``, as the float model).

        Raises:
            InvalidArgument: as :func:`~qwplugin.model.upscale.check_upscale_inputs`.
        """
        from qwplugin.intexec.network import filter_from_logits
        from qwplugin.intexec.reference import quantize_input

        p = prepare_upscale_inputs(self.config, color_nw, history_nw, jitter_px, depth, candidate_nw)
        if self.backend is None:
            self.use_backend("auto")
        spec = self.program.input_spec
        codes = quantize_input(p["net_input"], spec.scale, spec.bits)
        env = self.backend.run_heads(self.backend.run(codes, self.program.extractor_ops()))
        logits = [self.backend.values(n, env[n]).to(color_nw.device) for n in self.program.heads]
        fcfg = filter_config(self.config)
        if fcfg is not self.config:  # render extractor: the display-level heads ran at render resolution
            for i in (0, fcfg.levels):  # down0 and up0
                logits[i] = F.interpolate(logits[i], scale_factor=2, mode="nearest")
        out = filter_from_logits(fcfg, logits, p["current"], p["history"], p["candidate"])
        return crop_to(out, *p["display_hw"])
