"""What a model shows versus what it remembers: the output-only sharpening of ``ModelConfig.output_sharpen``.

The tuned TAA sharpens its displayed output and keeps the history unsharpened (:func:`qwplugin.taa.taa_sharpen`,
``qwplugin/taa.py`` step 9): sharpening the history would compound frame after frame. A QW-Net whose
config sets ``output_sharpen`` does the same: every consumer that *shows* an output (the Context, the
training loss, validation) passes it through :func:`displayed_nw` / :func:`displayed_linear`, and every
recurrence keeps feeding the unsharpened output back as the history. Measured on the validation split of
``data/train_v2`` for the shipped ``qwnet-fast`` (``scripts/val_error_breakdown.py --sharpen``): strength 0.2
raises PSNR from 26.27 to 26.47 dB (docs/training.md, "Output sharpening").
"""

from __future__ import annotations

import torch

from qwplugin.ops.colour import from_network, to_network


def output_sharpen_of(model) -> float:
    """The model's ``config.output_sharpen`` (0 for a model without a config, e.g. a caller's module)."""
    return float(getattr(getattr(model, "config", None), "output_sharpen", 0.0) or 0.0)


def displayed_nw(out_nw: torch.Tensor, strength: float) -> torch.Tensor:
    """The displayed image of (..., 3, H, W) network-domain outputs (exposure folded in), same domain.

    Identity (the same tensor) when ``strength`` is 0. Differentiable (training's loss reads it).
    """
    if not strength:
        return out_nw
    from qwplugin.taa import taa_sharpen

    shape = out_nw.shape
    flat = out_nw.reshape(-1, *shape[-3:])
    return to_network(taa_sharpen(from_network(flat), strength)).reshape(shape)


def displayed_linear(out_linear: torch.Tensor, strength: float, exposure: torch.Tensor | float = 1.0) -> torch.Tensor:
    """The displayed image of (N, 3, H, W) linear HDR outputs, sharpened on the exposed colour (as the
    TAA, which runs on pre-exposed colour) and returned unexposed, like the input.

    Args:
        out_linear: (N, 3, H, W) linear HDR (the recurrence's output, also the next frame's history).
        strength: ``ModelConfig.output_sharpen``; 0 returns ``out_linear`` itself.
        exposure: float or broadcastable (N, 1, 1, 1) tensor.
    """
    if not strength:
        return out_linear
    from qwplugin.taa import taa_sharpen

    return taa_sharpen(out_linear * exposure, strength) / exposure
