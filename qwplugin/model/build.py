"""Build a model from its configuration."""

from __future__ import annotations

from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.model.blackbox import BlackBoxUNet, BlackBoxUNetV1
from qwplugin.model.config import ModelConfig
from qwplugin.model.qwnet import QWNet


def build_model(config: ModelConfig | str) -> nn.Module:
    """A freshly initialised model for ``config`` (a :class:`ModelConfig` or a preset name).

    Returns:
        :class:`QWNet` for ``kind == "qwnet"`` (:class:`~qwplugin.model.upscale.UpscaleQWNet` when
        ``upscale_factor > 1``: ``forward(color_nw, history_nw, jitter_px, depth=None)``); for ``"unet"``,
        :class:`BlackBoxUNet` (the released structure) or :class:`BlackBoxUNetV1` by ``config.unet_structure``;
        all expose ``.config`` and ``forward(color_nw, history_nw, depth=None) -> output_nw``.

    Raises:
        InvalidArgument: not a config or preset name, or an invalid config.

    Examples:
        >>> import torch
        >>> model = build_model("tiny")
        >>> model(torch.rand(1, 3, 5, 7), torch.rand(1, 3, 5, 7)).shape
        torch.Size([1, 3, 5, 7])
    """
    if isinstance(config, str):
        config = ModelConfig.preset(config)
    if not isinstance(config, ModelConfig):
        raise InvalidArgument("config must be a ModelConfig or a preset name", field="config",
                              expected="ModelConfig | str", actual=type(config).__name__)
    config.validate()
    if config.kind == "qwnet" and config.upscales:
        from qwplugin.model.upscale import UpscaleQWNet

        return UpscaleQWNet(config)
    if config.kind == "qwnet":
        return QWNet(config)
    return BlackBoxUNet(config) if config.unet_structure == "released" else BlackBoxUNetV1(config)
