"""Boundary checks for tensor arguments, raising :class:`~qwplugin.errors.InvalidArgument`.

Used by the public ops and models of qwplugin; internal code uses plain ``assert`` instead.
"""

from __future__ import annotations

import torch

from qwplugin.errors import InvalidArgument


def check_tensor(x: object, field: str, dims: int, channels: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor with ``dims`` dimensions (and ``channels`` at dim -3).

    Returns:
        ``x`` itself, for chaining.

    Raises:
        InvalidArgument: naming ``field``, with the expected and actual type, rank or channel count.
    """
    if not isinstance(x, torch.Tensor):
        raise InvalidArgument(f"{field} must be a torch.Tensor", field=field, expected="torch.Tensor",
                              actual=type(x).__name__)
    if not x.is_floating_point():
        raise InvalidArgument(f"{field} must be floating point", field=field, expected="float tensor",
                              actual=str(x.dtype))
    if x.dim() != dims:
        raise InvalidArgument(f"{field} has the wrong rank", field=field, expected=f"{dims} dimensions",
                              actual=f"shape {tuple(x.shape)}")
    if channels is not None and x.shape[-3] != channels:
        raise InvalidArgument(f"{field} has the wrong channel count", field=field,
                              expected=f"{channels} channels at dim -3", actual=f"shape {tuple(x.shape)}")
    return x


def check_same_spatial(a: torch.Tensor, b: torch.Tensor, field_a: str, field_b: str) -> None:
    """Check that two (..., C, H, W) tensors share batch dims and (H, W).

    Raises:
        InvalidArgument: naming ``field_b`` when its batch or spatial size differs from ``field_a``'s.
    """
    if a.shape[:-3] != b.shape[:-3] or a.shape[-2:] != b.shape[-2:]:
        raise InvalidArgument(f"{field_b} must match {field_a} in batch and spatial size", field=field_b,
                              expected=f"(*{tuple(a.shape[:-3])}, C, {a.shape[-2]}, {a.shape[-1]})",
                              actual=f"shape {tuple(b.shape)}")
