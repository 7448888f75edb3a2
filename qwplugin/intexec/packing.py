"""Two 4-bit codes per byte: the on-disk (and GPU-resident) layout of 4-bit weights and activations.

Layout, fixed for format version 1: the last axis of length ``K`` is padded with one zero code when ``K``
is odd, then element ``2*i`` goes to the **low** nibble and element ``2*i + 1`` to the **high** nibble of
byte ``i``. Signed codes (-8..7) are stored as 4-bit two's complement (``code & 0xF``) and sign-extended
on unpacking (``(nibble ^ 8) - 8``); unsigned codes (0..15) are stored as they are.

Examples:
    >>> import torch
    >>> packed = pack_int4(torch.tensor([[-8, 7, 1]], dtype=torch.int8))
    >>> packed.tolist()
    [[120, 1]]
    >>> unpack_int4(packed, 3).tolist()
    [[-8, 7, 1]]
"""

from __future__ import annotations

import torch

from qwplugin.errors import InvalidArgument

INT4_MIN = -8
INT4_MAX = 7
UINT4_MAX = 15


def pack_int4(codes: torch.Tensor, signed: bool = True) -> torch.Tensor:
    """Pack 4-bit codes two per byte along the last axis.

    Args:
        codes: integer tensor (..., K) holding values in [-8, 7] (``signed``) or [0, 15] (unsigned).
        signed: whether the codes are two's-complement signed 4-bit values.

    Returns:
        uint8 tensor (..., ceil(K / 2)); low nibble = even index, high nibble = odd index.

    Raises:
        InvalidArgument: if ``codes`` is not an integer tensor, has no axis, or holds out-of-range values.
    """
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.dtype == torch.bool:
        raise InvalidArgument("codes must be an integer tensor", field="codes", expected="integer tensor",
                              actual=str(getattr(codes, "dtype", type(codes).__name__)))
    if codes.dim() == 0:
        raise InvalidArgument("codes needs at least one axis", field="codes", expected="(..., K)",
                              actual="a 0-d tensor")
    lo, hi = (INT4_MIN, INT4_MAX) if signed else (0, UINT4_MAX)
    if codes.numel() and (int(codes.min()) < lo or int(codes.max()) > hi):
        raise InvalidArgument("codes out of the 4-bit range", field="codes", expected=f"values in [{lo}, {hi}]",
                              actual=f"[{int(codes.min())}, {int(codes.max())}]")
    nibbles = (codes.to(torch.int16) & 0xF).to(torch.uint8)
    if nibbles.shape[-1] % 2:
        nibbles = torch.nn.functional.pad(nibbles, (0, 1))
    return nibbles[..., 0::2] | (nibbles[..., 1::2] << 4)


def unpack_int4(packed: torch.Tensor, length: int, signed: bool = True) -> torch.Tensor:
    """Inverse of :func:`pack_int4`.

    Args:
        packed: uint8 tensor (..., ceil(length / 2)).
        length: the original length ``K`` of the last axis.
        signed: sign-extend the nibbles (int4) or not (uint4).

    Returns:
        int8 tensor (..., length) of codes.

    Raises:
        InvalidArgument: if ``packed`` is not uint8 or its last axis does not match ``length``.
    """
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8:
        raise InvalidArgument("packed must be a uint8 tensor", field="packed", expected="torch.uint8",
                              actual=str(getattr(packed, "dtype", type(packed).__name__)))
    if packed.dim() == 0 or packed.shape[-1] != (length + 1) // 2:
        raise InvalidArgument("packed length does not match", field="packed",
                              expected=f"last axis {(length + 1) // 2} for length {length}",
                              actual=f"shape {tuple(packed.shape)}")
    lo = (packed & 0xF).to(torch.int8)
    hi = (packed >> 4).to(torch.int8)
    out = torch.stack((lo, hi), dim=-1).flatten(-2)[..., :length]
    if signed:
        out = (out ^ 8) - 8
    return out.contiguous()
