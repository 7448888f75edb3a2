"""AsConvSR: assembled kernels, the nearest residual, shapes, batching and coefficient smoothing."""

import pytest
import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument
from qwplugin.sr.asconvsr import AsConvSR, AsConvSRConfig, AsConvSRUpscaler, AssembledConv2d, nearest_upsample

# float64 everywhere an exact-arithmetic reference is compared: the only differences are summation order
# (~1e-15 relative), so 1e-10 is far above rounding and far below any real error.
TOL64 = 1e-10


def _randomise(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return net


def test_assembled_kernel_is_the_coefficient_weighted_sum_of_the_bases_per_sample():
    torch.manual_seed(0)
    layer = _randomise(AssembledConv2d(5, 7, bases=4, temperature=2.0).double())
    x = torch.randn(3, 5, 9, 11, dtype=torch.float64)
    coeff = layer.coefficients(x)
    assert coeff.shape == (3, 4, 7)
    assert torch.allclose(coeff.sum(1), torch.ones(3, 7, dtype=torch.float64), atol=TOL64)
    weight, bias = layer.assemble(coeff)
    out = layer(x)
    for n in range(3):
        w_direct = torch.zeros(7, 5, 3, 3, dtype=torch.float64)
        b_direct = torch.zeros(7, dtype=torch.float64)
        for e in range(4):
            for o in range(7):
                w_direct[o] += coeff[n, e, o] * layer.weight[e, o]
                b_direct[o] += coeff[n, e, o] * layer.bias[e, o]
        assert torch.allclose(weight[n], w_direct, atol=TOL64)
        assert torch.allclose(bias[n], b_direct, atol=TOL64)
        # the grouped conv applies sample n's own kernel to sample n
        ref = F.conv2d(x[n:n + 1], w_direct, b_direct, padding=1)
        assert torch.allclose(out[n:n + 1], ref, atol=TOL64)


def test_control_coefficients_follow_the_softmax_with_temperature():
    layer = _randomise(AssembledConv2d(8, 4, bases=3, temperature=30.0).double(), seed=1)
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    c = layer.control
    logits = c.fc2(torch.relu(c.fc1(x.mean((2, 3))))).view(2, 3, 4)
    assert torch.allclose(layer.coefficients(x), torch.softmax(logits / 30.0, dim=1), atol=TOL64)


def test_nearest_residual_keeps_colours_with_zero_body():
    net = AsConvSR()  # conv2 starts at zero: output = nearest upsampling exactly
    red = torch.zeros(1, 3, 6, 8)
    red[:, 0] = 0.7
    out = net(red)
    assert out.shape == (1, 3, 12, 16)
    assert torch.equal(out[:, 0], torch.full((1, 12, 16), 0.7))
    assert torch.equal(out[:, 1:], torch.zeros(1, 2, 12, 16))
    img = torch.rand(2, 3, 6, 8)
    assert torch.equal(net(img), F.interpolate(img, scale_factor=2, mode="nearest"))
    # the pitfall this guards against: channel concatenation before pixel-shuffle mixes colours
    wrong = F.pixel_shuffle(torch.cat([red] * 4, dim=1), 2)
    assert not torch.equal(wrong[:, 1:], torch.zeros_like(wrong[:, 1:]))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_nearest_upsample_and_shapes_for_integer_scales_and_odd_sizes(scale):
    net = AsConvSR(AsConvSRConfig(scale=scale, channels=8, bases=2))
    x = torch.rand(1, 3, 7, 5)
    out = net(x)
    assert out.shape == (1, 3, 7 * scale, 5 * scale)
    assert torch.equal(out, nearest_upsample(x, scale))
    _randomise(net)
    assert net(x).shape == (1, 3, 7 * scale, 5 * scale)


def test_batch_elements_are_independent():
    net = _randomise(AsConvSR(AsConvSRConfig(channels=8)).double(), seed=2)
    x = torch.rand(3, 3, 8, 10, dtype=torch.float64)
    batched = net(x)
    for n in range(3):
        assert torch.allclose(batched[n:n + 1], net(x[n:n + 1]), atol=TOL64)


def test_assembled_conv_gradcheck():
    layer = _randomise(AssembledConv2d(3, 2, bases=2, temperature=1.0).double(), seed=3)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t), (x,))


def test_bad_inputs_raise():
    net = AsConvSR()
    with pytest.raises(InvalidArgument):
        net(torch.rand(1, 4, 8, 8))
    with pytest.raises(InvalidArgument):
        net(torch.rand(3, 8, 8))
    with pytest.raises(InvalidArgument):
        AsConvSR(AsConvSRConfig(scale=0))
    with pytest.raises(InvalidArgument):
        AsConvSRUpscaler(net, decay=1.0)


def test_coefficient_smoothing_is_an_ema_and_resets_on_a_cut():
    net = _randomise(AsConvSR(AsConvSRConfig(channels=8)).double(), seed=4)
    up = AsConvSRUpscaler(net, decay=0.75)
    a, b = torch.rand(1, 3, 8, 8, dtype=torch.float64), torch.rand(1, 3, 8, 8, dtype=torch.float64)
    first = up(a)
    assert torch.allclose(first, net(a), atol=TOL64)  # no history: unsmoothed
    c_a = [c.clone() for c in up.coefficients]
    up(b)
    # layer 0's own coefficients depend only on the input, so its smoothed value is checkable directly
    with torch.no_grad():
        raw_b0 = net.body[0].coefficients(F.relu(net.conv1(F.pixel_unshuffle(b, 2))))
    assert torch.allclose(up.coefficients[0], 0.75 * c_a[0] + 0.25 * raw_b0, atol=TOL64)
    assert torch.allclose(up.coefficients[0].sum(1), torch.ones(1, 8, dtype=torch.float64), atol=TOL64)
    assert torch.allclose(up(b, reset=True), net(b), atol=TOL64)  # a cut drops the history


def test_smoothing_reduces_frame_to_frame_coefficient_change():
    net = _randomise(AsConvSR(AsConvSRConfig(channels=8, temperature=1.0)), seed=5)
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 16, 16, generator=g)
    frames = [base * (1.0 + 0.3 * torch.rand(1, generator=g)) for _ in range(30)]  # exposure flicker

    def change(decay):
        up = AsConvSRUpscaler(net, decay)
        prev, total = None, 0.0
        for f in frames:
            up(f)
            cur = torch.cat([c.flatten() for c in up.coefficients])
            if prev is not None:
                total += float((cur - prev).abs().sum())
            prev = cur
        return total

    raw, smooth = change(0.0), change(0.8)
    assert raw > 0
    assert smooth < 0.6 * raw  # an EMA of 0.8 damps white jitter by ~(1-d)/(1+d) ~ 0.11 per step; 0.6 is lenient
