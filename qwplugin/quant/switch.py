"""Switch whole models between FP32 and fake-quant behaviour."""

from __future__ import annotations

from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.quant.layers import QuantConv2d
from qwplugin.quant.quantizers import QuantModule

_SWITCHABLE = (QuantModule, QuantConv2d)


def set_quantized(model: nn.Module, enabled: bool) -> nn.Module:
    """Set every quantizer and quantized conv of ``model`` to fake-quant (True) or FP32 (False).

    Returns:
        ``model`` (modified in place), for chaining.

    Raises:
        InvalidArgument: ``model`` is not an ``nn.Module`` or ``enabled`` is not a bool.
    """
    if not isinstance(model, nn.Module):
        raise InvalidArgument("model must be a torch.nn.Module", field="model", expected="nn.Module",
                              actual=type(model).__name__)
    if not isinstance(enabled, bool):
        raise InvalidArgument("enabled must be a bool", field="enabled", expected="bool",
                              actual=type(enabled).__name__)
    for module in model.modules():
        if isinstance(module, _SWITCHABLE):
            module.quantized = enabled
    return model


def is_quantized(model: nn.Module) -> bool:
    """True when ``model`` has switchable modules and all of them are in fake-quant mode."""
    flags = [m.quantized for m in model.modules() if isinstance(m, _SWITCHABLE)]
    return bool(flags) and all(flags)
