"""Start of quantization-aware fine-tuning: which parameters train, and activation range calibration.

The released code initialises every learned clipping maximum to a constant (1.0) and lets training move
it. Starting QAT from FP32 weights, a constant is far from the real ranges (ReLU outputs of a trained
U-Net reach several units), so the first quantized steps would clip most activations. We calibrate once
at the start of a quantized stage: run the FP32 model on one training batch and set each activation
quantizer's maximum to a high quantile of what it sees (max over the tensors that share it). Training
then refines ``max_log`` as usual. Deterministic: the batch is the stage's first batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qwplugin.quant.quantizers import ActQuantUnsigned, QuantModule

CALIBRATION_QUANTILE = 0.999
"""Quantile of a quantizer's input used as its initial clipping maximum (robust to rare outliers)."""
CALIBRATION_SAMPLES = 1 << 20
"""At most this many values per tensor enter the quantile (``torch.quantile`` input size limit)."""
MIN_RANGE = 1e-3
"""Floor of a calibrated maximum (a quantizer that only saw zeros)."""


def set_quant_params_trainable(model: nn.Module, enabled: bool) -> None:
    """Let the quantizers' own parameters (clipping maxima) train only in quantized stages.

    In FP32 stages they get no gradient; freezing them keeps them out of the optimizer and out of DDP's
    gradient reduction. Conv weights are not touched.
    """
    for module in model.modules():
        if isinstance(module, QuantModule):
            for p in module.parameters(recurse=False):
                p.requires_grad_(enabled)


@torch.no_grad()
def calibrate_activation_ranges(model: nn.Module, run) -> dict[str, float]:
    """Set every :class:`ActQuantUnsigned`'s clipping maximum from one FP32 pass.

    Args:
        model: the model, in FP32 mode (quantizers pass values through while observed).
        run: a callable running the model on a representative batch (its result is ignored).

    Returns:
        {module name: calibrated maximum}.
    """
    seen: dict[str, float] = {}
    handles = []

    def hook(name):
        def fn(module, inputs):
            x = inputs[0].detach().flatten().float()
            if x.numel() > CALIBRATION_SAMPLES:
                x = x[:: math.ceil(x.numel() / CALIBRATION_SAMPLES)]
            q = float(torch.quantile(x, CALIBRATION_QUANTILE))
            seen[name] = max(seen.get(name, 0.0), q)
        return fn

    quantizers = {n: m for n, m in model.named_modules() if isinstance(m, ActQuantUnsigned)}
    states = {n: m.quantized for n, m in quantizers.items()}
    for name, m in quantizers.items():
        m.quantized = False
        handles.append(m.register_forward_pre_hook(hook(name)))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
        for name, m in quantizers.items():
            m.quantized = states[name]
    for name, value in seen.items():
        quantizers[name].max_log.fill_(math.log(max(value, MIN_RANGE)))
    return seen
