"""The network input: aliased RGB + warped history RGB, optionally the input processing unit's channels
(grayscale and gradient magnitude of both images) and normalised depth.

Channel order: ``[color (3), history (3), gray(color), grad(color), gray(history), grad(history), depth,
taa candidate (3)]`` (the extras after the first six only when enabled). All values lie in [0, 1] for inputs in [0, 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA_709 = (0.2126, 0.7152, 0.0722)
"""Rec. 709 luminance weights for the grayscale channel."""
SOBEL_NORM = 1.0 / 8.0
"""Sobel taps sum to 8 in absolute value; normalising keeps the gradient of [0, 1) images in [0, 1]."""
GRAD_EPS = 1e-12
"""Added under the square root so the gradient magnitude is differentiable at 0 (changes values by <= 1e-6)."""


def grayscale(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) Rec. 709 weighted sum."""
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return LUMA_709[0] * r + LUMA_709[1] * g + LUMA_709[2] * b


def gradient_magnitude(gray: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of (N, 1, H, W) ``gray`` (edges replicated), ``sqrt(gx^2 + gy^2 + eps)``."""
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=gray.dtype,
                           device=gray.device) * SOBEL_NORM
    kernels = torch.stack([sobel_x, sobel_x.t()]).unsqueeze(1)  # (2, 1, 3, 3): d/dx, d/dy
    g = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernels)
    return torch.sqrt(g[:, 0:1] ** 2 + g[:, 1:2] ** 2 + GRAD_EPS)


def normalise_depth(depth_view: torch.Tensor) -> torch.Tensor:
    """Linear view depth z >= 0 -> ``1 / (1 + z)`` in (0, 1]: no scene scale needed, near detail kept."""
    return 1.0 / (1.0 + torch.clamp(depth_view, min=0.0))


def assemble_input(color: torch.Tensor, history: torch.Tensor, depth: torch.Tensor | None,
                   input_processing: bool, use_depth: bool, candidate: torch.Tensor | None = None) -> torch.Tensor:
    """Concatenate the network input channels (see the module docstring).

    Args:
        color, history: (N, 3, H, W) network-domain colour.
        depth: (N, 1, H, W) linear view depth, used when ``use_depth``.
        candidate: (N, 3, H, W) the TAA candidate (:mod:`qwplugin.model.taa_candidate`) or None.

    Returns:
        (N, 6 + 4 * input_processing + use_depth + 3 * (candidate is not None), H, W).
    """
    parts = [color, history]
    if input_processing:
        for img in (color, history):
            gray = grayscale(img)
            parts += [gray, gradient_magnitude(gray)]
    if use_depth:
        assert depth is not None
        parts.append(normalise_depth(depth))
    if candidate is not None:
        parts.append(candidate)
    return torch.cat(parts, dim=1)


def rectify_history(color: torch.Tensor, history: torch.Tensor, gamma: float) -> torch.Tensor:
    """Clamp ``history`` per channel to the 3x3 neighbourhood box of ``color`` (variance clipping).

    The box of each pixel is ``[max(min, mean - gamma * std), min(max, mean + gamma * std)]`` over the
    3x3 neighbourhood of ``color`` (edges replicated), per channel: the history rectification of a TAA,
    in the network domain. Clamping is differentiable almost everywhere (gradient 1 inside the box,
    0 outside).

    Args:
        color, history: (N, 3, H, W) network-domain colour.
        gamma: box half-width in standard deviations (> 0).

    Returns:
        (N, 3, H, W) rectified history.
    """
    n, c, h, w = color.shape
    patches = F.unfold(F.pad(color, (1, 1, 1, 1), mode="replicate"), 3).view(n, c, 9, h, w)
    mean = patches.mean(dim=2)
    std = torch.sqrt(torch.clamp((patches * patches).mean(dim=2) - mean * mean, min=0.0))
    lo = torch.maximum(patches.amin(dim=2), mean - gamma * std)
    hi = torch.minimum(patches.amax(dim=2), mean + gamma * std)
    return torch.minimum(torch.maximum(history, lo), hi)


def prepare_history(color: torch.Tensor, history: torch.Tensor, config) -> torch.Tensor:
    """The history a model of ``config`` works with: rectified when ``config.history_rectification``
    says so (:func:`rectify_history`), else ``history`` itself. Used by the float and the integer
    models alike, before padding."""
    if config.history_rectification == "variance_clip":
        return rectify_history(color, history, float(config.rectification_gamma))
    assert config.history_rectification is None, config.history_rectification
    return history
