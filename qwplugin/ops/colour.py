"""The network's colour domain: pre-exposure, then the tonemap ``x / (1 + x)``, and its exact inverse.

Exposed linear HDR colour is clamped to ``[0, HALF_MAX]`` (the largest finite half float, 65504; +inf
maps there too) and mapped to ``[0, NETWORK_MAX]`` inside [0, 1). ``from_network`` clamps its input to
``[0, NETWORK_MAX]``, so a network output can always be stored in an RGBA16F texture. On these ranges the
two functions are inverse to each other up to float rounding: relative error ~1e-11 at 1e4 in float64;
in float32 it grows like ``x * 1.2e-7`` (x/(1+x) near 1 has spacing 6e-8), ~1e-3 at x = 1e4.
"""

from __future__ import annotations

import torch

from qwplugin.errors import InvalidArgument

HALF_MAX = 65504.0
"""Largest finite IEEE half-float value: the brightest linear value ``from_network`` returns at exposure 1."""

NETWORK_MAX = HALF_MAX / (1.0 + HALF_MAX)
"""Network-domain value that maps back to ``HALF_MAX`` (at exposure 1)."""


def _check_exposure(exposure: float | torch.Tensor) -> None:
    if isinstance(exposure, torch.Tensor):
        if not bool(torch.all(exposure > 0)):
            raise InvalidArgument("exposure must be > 0", field="exposure", expected="> 0",
                                  actual="a tensor with values <= 0")
    elif not exposure > 0:
        raise InvalidArgument("exposure must be > 0", field="exposure", expected="> 0", actual=repr(exposure))


def to_network(color_linear: torch.Tensor, exposure: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Linear HDR colour to the network domain: ``y = e * max(c, 0); y / (1 + y)``.

    Args:
        color_linear: any shape, linear HDR; ``exposure * color`` is clamped to [0, HALF_MAX] (NaN stays
            NaN).
        exposure: pre-exposure multiplier > 0, a float or a tensor broadcastable to ``color_linear``
            (e.g. (N, 1, 1, 1) for one exposure per batch element).

    Returns:
        Same shape and dtype, values in [0, NETWORK_MAX] (inside [0, 1)).

    Raises:
        InvalidArgument: exposure <= 0.

    Examples:
        >>> to_network(torch.tensor([0.0, 1.0, 3.0]))
        tensor([0.0000, 0.5000, 0.7500])
    """
    _check_exposure(exposure)
    y = torch.clamp(color_linear * exposure, min=0.0, max=HALF_MAX)
    return y / (1.0 + y)


def from_network(x: torch.Tensor, exposure: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Network domain back to linear HDR: ``x' = clamp(x, 0, NETWORK_MAX); x' / (1 - x') / e``.

    The inverse of :func:`to_network` (exactly, up to float rounding) on ``[0, NETWORK_MAX]``; ``x >= 1``
    (a network output outside the domain) maps to ``HALF_MAX / e`` instead of infinity.

    Args:
        x: any shape, network-domain colour.
        exposure: the same exposure that was passed to :func:`to_network`.

    Returns:
        Same shape and dtype, linear HDR in [0, HALF_MAX / exposure].

    Raises:
        InvalidArgument: exposure <= 0.

    Examples:
        >>> from_network(torch.tensor([0.0, 0.5, 0.75]))
        tensor([0., 1., 3.])
    """
    _check_exposure(exposure)
    xc = torch.clamp(x, min=0.0, max=NETWORK_MAX)
    return xc / (1.0 - xc) / exposure
