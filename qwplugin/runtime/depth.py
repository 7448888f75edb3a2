"""Depth conventions: convert the host's depth to positive linear view depth.

Window-space depth ``d`` in [0, 1] from a standard perspective projection (OpenGL with the default
``glDepthRange(0, 1)``, or D3D/Vulkan ``[0, 1]`` clip depth) maps to linear view depth ``z`` by

    z = n f / (f - d (f - n))          (``ndc``: d = 0 at the near plane, 1 at the far plane)
    z = n f / (n + d (f - n))          (``ndc_inverted``, reversed Z: d = 1 at near, 0 at far)

and for reversed Z with an infinite far plane ``z = n / d``. Derivation: the projection gives
``d = f (z - n) / (z (f - n))``; solve for ``z``. ``d = 0`` with reversed Z (infinitely far) gives
``z = inf``, the sky.
"""

from __future__ import annotations

import math

import torch

DEPTH_FUNCTIONS = ("linear_view", "ndc", "ndc_inverted")


def to_linear_view_depth(depth: torch.Tensor, convention: str, near: float | None = None,
                         far: float | None = None) -> torch.Tensor:
    """Convert ``depth`` (any shape, float) from ``convention`` to linear view depth (same shape).

    Args:
        depth: values as declared: linear view depth (returned unchanged), or window-space depth in [0, 1].
        convention: one of :data:`DEPTH_FUNCTIONS`.
        near: near-plane distance > 0 (``ndc*`` only).
        far: far-plane distance > near (``inf`` allowed for ``ndc_inverted``).

    Returns:
        Positive linear view depth (``inf`` where infinitely far), in ``depth``'s dtype (computed in float64).

    Examples:
        >>> to_linear_view_depth(torch.tensor([0.0, 0.5, 1.0]), "ndc", 0.1, 100.0)  # near, ..., far
        tensor([  0.1000,   0.1998, 100.0000])
        >>> to_linear_view_depth(torch.tensor([1.0, 0.5]), "ndc_inverted", 0.1, math.inf)
        tensor([0.1000, 0.2000])
    """
    assert convention in DEPTH_FUNCTIONS, convention
    if convention == "linear_view":
        return depth
    assert near is not None and far is not None and 0 < near < far
    d = depth.double()  # the formulas cancel catastrophically near the far plane: float64 inside
    if convention == "ndc":
        z = near * far / (far - d * (far - near))
    elif math.isinf(far):
        z = near / d
    else:
        z = near * far / (near + d * (far - near))
    return z.to(depth.dtype)
