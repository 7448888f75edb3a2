"""Nibble packing: round trips, layout, range checks (seeded hypothesis)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qwplugin.errors import InvalidArgument
from qwplugin.intexec.packing import pack_int4, unpack_int4


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=st.integers(1, 5), length=st.integers(1, 41), signed=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_round_trip(rows, length, signed, seed):
    g = torch.Generator().manual_seed(seed)
    lo, hi = (-8, 8) if signed else (0, 16)
    codes = torch.randint(lo, hi, (rows, length), generator=g, dtype=torch.int8)
    packed = pack_int4(codes, signed=signed)
    assert packed.dtype == torch.uint8 and packed.shape == (rows, (length + 1) // 2)
    assert torch.equal(unpack_int4(packed, length, signed=signed), codes)


def test_layout_low_nibble_first():
    # -8 -> 0x8 (low), 7 -> 0x7 (high): 0x78 = 120; 1 -> low nibble of byte 1, padded high nibble 0.
    assert pack_int4(torch.tensor([-8, 7, 1], dtype=torch.int8)).tolist() == [0x78, 0x01]
    assert pack_int4(torch.tensor([15, 0], dtype=torch.uint8), signed=False).tolist() == [0x0F]
    all_codes = torch.arange(-8, 8, dtype=torch.int8)
    assert torch.equal(unpack_int4(pack_int4(all_codes), 16), all_codes)


def test_rejects_out_of_range_and_bad_types():
    with pytest.raises(InvalidArgument, match="4-bit range"):
        pack_int4(torch.tensor([8], dtype=torch.int8))
    with pytest.raises(InvalidArgument, match="4-bit range"):
        pack_int4(torch.tensor([-1], dtype=torch.int8), signed=False)
    with pytest.raises(InvalidArgument, match="integer"):
        pack_int4(torch.tensor([1.0]))
    with pytest.raises(InvalidArgument, match="length"):
        unpack_int4(torch.zeros(3, dtype=torch.uint8), 8)
