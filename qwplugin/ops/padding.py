"""Pad images to the network's size multiple and crop results back.

The U-Net halves the resolution ``levels - 1`` times, so H and W must be multiples of
``2 ** (levels - 1)``. Padding goes to the bottom and right only (so cropping is a slice from the
top-left) and replicates the edge pixels: unlike ``reflect`` it works for any size, even 1x1, and an
integer backend reproduces it with a clamp of the indices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Smallest ``(H', W') >= (height, width)`` with both multiples of ``multiple``.

    Examples:
        >>> padded_size(1080, 1920, 16)
        (1088, 1920)
    """
    if multiple < 1:
        raise InvalidArgument("multiple must be >= 1", field="multiple", expected=">= 1", actual=str(multiple))
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom and right of (N, C, H, W) ``x`` to multiples of ``multiple``.

    Returns ``x`` itself when no padding is needed.

    Raises:
        InvalidArgument: ``x`` is not 4-D or ``multiple`` < 1.
    """
    if x.dim() != 4:
        raise InvalidArgument("x must be (N, C, H, W)", field="x", expected="4 dimensions",
                              actual=f"shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    hp, wp = padded_size(h, w, multiple)
    if (hp, wp) == (h, w):
        return x
    return F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left ``height`` x ``width`` window of (..., H, W) ``x`` (undoes :func:`pad_to_multiple`)."""
    assert x.shape[-2] >= height and x.shape[-1] >= width
    return x[..., :height, :width]
