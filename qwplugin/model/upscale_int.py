"""The upscaling QW-Net run from its integer program: float front end, integer U-Net, float filter tail.

The U-Net of :class:`~qwplugin.model.upscale.UpscaleQWNet` (display extractor) is the same
:class:`~qwplugin.model.unet.FeatureExtractor` as the anti-aliasing model, with 3 more input channels, so
:func:`qwplugin.intexec.export.export_network` exports it unchanged and
:class:`qwplugin.intexec.network.IntegerQWNet` executes it (every backend, the reference executor the
definition of right). What differs is float preprocessing, like
:func:`~qwplugin.model.input_unit.prepare_history` in the anti-aliasing model: the zero-upsampling front end
(:func:`~qwplugin.model.upscale.prepare_upscale_inputs`) builds the display-resolution input and the filter
taps, then :func:`qwplugin.intexec.network.filter_from_logits` filters at display resolution.

The render-resolution extractor (``upscale_extractor="render"``) has no integer path yet: its filter has one
level more than its program has outputs (the finest logits would be computed at render resolution and
nearest-upsampled); :class:`IntegerUpscaleQWNet` refuses it.
"""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.model.config import ModelConfig
from qwplugin.model.upscale import prepare_upscale_inputs
from qwplugin.model.upscale_input import filled_current
from qwplugin.ops.padding import crop_to


class IntegerUpscaleQWNet(nn.Module):
    """:class:`~qwplugin.model.upscale.UpscaleQWNet` executed from a whole-network integer program.

    Args:
        program: :func:`qwplugin.intexec.export.export_network` of an upscaling QW-Net (display extractor).
        config: the configuration it was exported from.

    Raises:
        InvalidArgument: not an upscaling config with the display extractor, or a program that does not match.

    Shape:
        as :class:`~qwplugin.model.upscale.UpscaleQWNet`.
    """

    upscaling = True

    def __init__(self, program, config: ModelConfig):
        super().__init__()
        if not config.upscales or config.upscale_extractor != "display":
            raise InvalidArgument("the integer upscaling model needs the display-resolution extractor",
                                  field="upscale_extractor", expected="'display' with upscale_factor > 1",
                                  actual=f"{config.upscale_extractor!r} at {config.upscale_factor}")
        from qwplugin.intexec.network import IntegerQWNet

        if program.tensors[program.input_name].channels != config.in_channels:
            raise InvalidArgument("program input channels do not match the upscaling config", field="program",
                                  expected=f"{config.in_channels} input channels",
                                  actual=str(program.tensors[program.input_name].channels))
        self.config = config
        self.core = IntegerQWNet(program, config)  # the integer U-Net + logit heads, unchanged

    def use_backend(self, preference: str = "auto", device: torch.device | str = "cpu") -> tuple[str, list[str]]:
        """Choose the integer backend: ``"reference"`` (the reference executor) or any preference of
        :meth:`qwplugin.intexec.network.IntegerQWNet.use_backend`.

        Returns:
            ``(precision_detail, notes)``.
        """
        if preference == "reference":
            from qwplugin.intexec.reference import ReferenceBackend

            self.core.backend, self.core.backend_name = ReferenceBackend(self.core.program), "reference"
            return "int4 (reference executor, exact)", ["the integer reference executor"]
        return self.core.use_backend(preference, device)

    def current_display(self, color_nw: torch.Tensor, jitter_px: torch.Tensor,
                        display_hw: tuple[int, int]) -> torch.Tensor:
        """As :meth:`qwplugin.model.upscale.UpscaleQWNet.current_display`."""
        return filled_current(color_nw, jitter_px, display_hw)[0]

    @torch.no_grad()
    def forward(self, color_nw: torch.Tensor, history_nw: torch.Tensor, jitter_px: torch.Tensor,
                depth: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructed display frame (N, 3, H, W), network domain.

        Raises:
            InvalidArgument: as :func:`~qwplugin.model.upscale.check_upscale_inputs`.
        """
        from qwplugin.intexec.network import filter_from_logits

        p = prepare_upscale_inputs(self.config, color_nw, history_nw, jitter_px, depth)
        core = self.core
        core._require_backend()
        env = core.backend.run_heads(core.features(p["net_input"]))
        logits = [core.backend.values(n, env[n]).to(color_nw.device) for n in core.program.heads]
        out = filter_from_logits(self.config, logits, p["current"], p["history"])
        return crop_to(out, *p["display_hw"])
