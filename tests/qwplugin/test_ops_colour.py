"""Colour domain round trips, padding helpers."""

import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.ops.colour import HALF_MAX, NETWORK_MAX, from_network, to_network
from qwplugin.ops.padding import crop_to, pad_to_multiple, padded_size


def test_known_values_exact():
    assert torch.equal(to_network(torch.tensor([0.0, 1.0, 3.0, -2.0])), torch.tensor([0.0, 0.5, 0.75, 0.0]))
    assert torch.equal(from_network(torch.tensor([0.0, 0.5, 0.75])), torch.tensor([0.0, 1.0, 3.0]))
    assert torch.equal(to_network(torch.tensor([1.0]), exposure=2.0), torch.tensor([2.0 / 3.0]))


@pytest.mark.parametrize("exposure", [0.25, 1.0, 3.0])
def test_round_trip_float64(exposure):
    x = torch.logspace(-6, 4, 500, dtype=torch.float64)
    back = from_network(to_network(x, exposure), exposure)
    # float64: x/(1+x) loses ~x*eps relative precision near 1, i.e. <= 1e4 * 2.2e-16 * few
    torch.testing.assert_close(back, x, rtol=1e-11, atol=0)
    y = torch.linspace(0, NETWORK_MAX, 500, dtype=torch.float64)
    torch.testing.assert_close(to_network(from_network(y, exposure), exposure), y, rtol=1e-12, atol=1e-15)


def test_round_trip_float32_tolerance():
    x = torch.logspace(-4, 4, 200)
    back = from_network(to_network(x))
    # float32 near 1 has spacing 6e-8, so relative error grows like x * 6e-8 (~6e-4 at 1e4)
    rel = ((back - x).abs() / x)
    assert float(rel.max()) < 1e4 * 1.2e-7 * 2


def test_range_and_clamp():
    x = torch.tensor([0.0, 1e30, float("inf")])
    y = to_network(x)
    assert torch.equal(y, torch.tensor([0.0, NETWORK_MAX, NETWORK_MAX], dtype=torch.float32))
    assert float(y.max()) < 1.0
    assert float(from_network(torch.tensor([1.0, 2.0])).max()) == pytest.approx(HALF_MAX, rel=1e-3)
    assert float(from_network(torch.tensor([-1.0]))) == 0.0
    with pytest.raises(InvalidArgument):
        to_network(x, exposure=0.0)
    with pytest.raises(InvalidArgument):
        from_network(x, exposure=torch.tensor([1.0, -1.0]))


def test_padding_helpers():
    assert padded_size(1080, 1920, 16) == (1088, 1920)
    assert padded_size(5, 7, 4) == (8, 8)
    x = torch.arange(15.0).view(1, 1, 3, 5)
    p = pad_to_multiple(x, 4)
    assert p.shape == (1, 1, 4, 8)
    assert torch.equal(p[..., :3, :5], x)
    assert torch.equal(p[0, 0, 3, :5], x[0, 0, 2])  # bottom row replicated
    assert torch.equal(p[0, 0, :3, 7], x[0, 0, :, 4])  # right column replicated
    assert torch.equal(crop_to(p, 3, 5), x)
    assert pad_to_multiple(p, 4) is p
    one = pad_to_multiple(torch.ones(1, 2, 1, 1), 16)  # replicate works where reflect cannot
    assert one.shape == (1, 2, 16, 16) and torch.equal(one, torch.ones(1, 2, 16, 16))
