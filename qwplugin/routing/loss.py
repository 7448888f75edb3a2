"""Training the router as PCSR trains it (seeds.md section 2, "Training"): the heavy path is frozen, the
prediction is the soft mixture of both paths weighted by the classifier's probabilities, and a second
term sets the expected heavy fraction.

PCSR's phase-1 loss is ``1000 * L1(rgb) + 3 * |sum p_heavy - N/2| / (N/2)``; :func:`routing_loss` is the
same with the target fraction and both weights as arguments (``rgb_weight=1000, fraction_weight=3,
target_fraction=0.5`` reproduces it, with L1 as a mean).
"""

from __future__ import annotations

import torch
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.routing.decision import HEAVY, LIGHT


def freeze(module: nn.Module) -> nn.Module:
    """Turn off gradients of every parameter of ``module`` (the frozen heavy path); returns it."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def mixture(heavy_output: torch.Tensor, light_output: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Soft mixture ``p_light * light + p_heavy * heavy``.

    Args:
        heavy_output, light_output: (N, C, H, W).
        probs: (N, 2, h, w) with h, w dividing H, W (per-tile probabilities are expanded to their pixels).

    Raises:
        InvalidArgument: shapes that do not fit.
    """
    if heavy_output.shape != light_output.shape or heavy_output.dim() != 4:
        raise InvalidArgument("heavy and light outputs must share one (N, C, H, W) shape", field="light_output",
                              expected=str(tuple(heavy_output.shape)), actual=str(tuple(light_output.shape)))
    n, _, h, w = heavy_output.shape
    if probs.dim() != 4 or probs.shape[:2] != (n, 2) or h % probs.shape[2] or w % probs.shape[3]:
        raise InvalidArgument("probs must be (N, 2, h, w) with h | H and w | W", field="probs",
                              expected=f"({n}, 2, h | {h}, w | {w})", actual=str(tuple(probs.shape)))
    fy, fx = h // probs.shape[2], w // probs.shape[3]
    p = probs.repeat_interleave(fy, dim=2).repeat_interleave(fx, dim=3) if fy > 1 or fx > 1 else probs
    return p[:, LIGHT:LIGHT + 1] * light_output + p[:, HEAVY:HEAVY + 1] * heavy_output


def routing_loss(heavy_output: torch.Tensor, light_output: torch.Tensor, probs: torch.Tensor,
                 target: torch.Tensor, target_fraction: float = 0.5, rgb_weight: float = 1.0,
                 fraction_weight: float = 3e-3) -> dict[str, torch.Tensor]:
    """PCSR's phase-1 loss for any pair of paths.

    The heavy output is detached (the heavy path is frozen); gradients reach the light output and the
    probabilities.

    Args:
        heavy_output, light_output: (N, C, H, W) outputs of both paths on the same input.
        probs: (N, 2, h, w) classifier probabilities (light, heavy), per pixel or per tile.
        target: (N, C, H, W) reference.
        target_fraction: the expected heavy fraction the second term pulls towards, in (0, 1].
        rgb_weight, fraction_weight: weights of ``L1(mixture, target)`` and
            ``|mean p_heavy - target_fraction| / target_fraction``. The defaults keep PCSR's ratio
            (1000 : 3).

    Returns:
        {"loss", "l1", "fraction_term", "expected_heavy_fraction"}: scalars; "loss" is the weighted sum.

    Raises:
        InvalidArgument: shapes that do not fit, target_fraction outside (0, 1].
    """
    if not 0.0 < target_fraction <= 1.0:
        raise InvalidArgument("target fraction must be in (0, 1]", field="target_fraction", expected="(0, 1]",
                              actual=repr(target_fraction))
    if target.shape != heavy_output.shape:
        raise InvalidArgument("target must have the outputs' shape", field="target",
                              expected=str(tuple(heavy_output.shape)), actual=str(tuple(target.shape)))
    mixed = mixture(heavy_output.detach(), light_output, probs)
    l1 = (mixed - target).abs().mean()
    expected = probs[:, HEAVY].mean()
    fraction_term = (expected - target_fraction).abs() / target_fraction
    return {"loss": rgb_weight * l1 + fraction_weight * fraction_term, "l1": l1, "fraction_term": fraction_term,
            "expected_heavy_fraction": expected}
