"""Quantizer invariants: grid fixed points, ranges, per-channel scales, gradients, shared concat scales."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.model import ModelConfig, build_model
from qwplugin.quant import (
    ActQuantUnsigned,
    QuantConv2d,
    WeightQuantPerChannel,
    is_quantized,
    round_ste,
    set_quantized,
)


def test_round_is_half_to_even_with_identity_gradient():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -7.5, 7.5], requires_grad=True)
    y = round_ste(x)
    assert torch.equal(y, torch.tensor([0.0, 2.0, 2.0, -0.0, -8.0, 8.0]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(6))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(codes=st.lists(st.integers(-7, 7), min_size=8, max_size=8), exponent=st.integers(-12, 4),
       bits=st.sampled_from([4, 8]))
def test_weights_on_grid_pass_unchanged(codes, exponent, bits):
    qmax = 2 ** (bits - 1) - 1
    step = 2.0**exponent  # power of two: wmax / qmax == step exactly
    w = torch.tensor(codes, dtype=torch.float32).view(2, 1, 2, 2)
    w[:, 0, 0, 0] = qmax  # every channel reaches the top of the grid, so its scale is exactly `step`
    w = w * step
    q = WeightQuantPerChannel(bits)
    assert torch.equal(q(w), w)
    int_codes, scale = q.to_int(w)
    assert torch.equal(scale, torch.full((2,), step))
    assert torch.equal(int_codes.float() * step, w)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(codes=st.lists(st.integers(0, 15), min_size=6, max_size=6), amax=st.floats(0.01, 100.0))
def test_activations_on_grid_pass_unchanged(codes, amax):
    q = ActQuantUnsigned(4, amax, quantized=True)
    x = torch.tensor(codes, dtype=torch.float32) * q.scale().detach()
    assert torch.equal(q(x), x)
    int_codes, scale = q.to_int(x)
    assert torch.equal(int_codes, torch.tensor(codes, dtype=torch.uint8))


def test_outputs_stay_in_range():
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(6, 4, 3, 3, generator=gen) * 10
    for bits in (4, 8):
        q = WeightQuantPerChannel(bits)
        codes, scale = q.to_int(w)
        assert codes.dtype == torch.int8
        assert int(codes.min()) >= -(2 ** (bits - 1)) and int(codes.max()) <= 2 ** (bits - 1) - 1
        # with s = max|w| / qmax the extreme weight of each channel lands exactly on +-qmax
        assert torch.equal(codes.flatten(1).abs().amax(1), torch.full((6,), 2 ** (bits - 1) - 1, dtype=torch.int8))
        assert torch.equal(q(w), codes.float() * scale.view(-1, 1, 1, 1))
    a = ActQuantUnsigned(4, 2.0, quantized=True)
    x = torch.randn(1000, generator=gen) * 5
    y = a(x).detach()
    step = float(a.scale().detach())
    assert float(y.min()) == 0.0 and float(y.max()) == pytest.approx(15 * step)
    codes, _ = a.to_int(x)
    assert codes.dtype == torch.uint8 and int(codes.max()) == 15 and int(codes.min()) == 0
    assert torch.equal(codes.float() * a.scale().detach(), y)
    a8 = ActQuantUnsigned(8, 1.0, quantized=True)
    assert int(a8.to_int(x)[0].max()) == 255


def test_scales_are_per_output_channel():
    gen = torch.Generator().manual_seed(6)
    w = torch.randn(3, 2, 3, 3, generator=gen)
    q = WeightQuantPerChannel(4)
    codes, scale = q.to_int(w)
    assert torch.equal(scale, w.abs().flatten(1).amax(1) / 7)
    w2 = w.clone()
    w2[1] *= 64.0  # a power of two: channel 1's codes are unchanged, its scale grows 64x, others untouched
    codes2, scale2 = q.to_int(w2)
    assert torch.equal(codes2, codes)
    assert torch.equal(scale2, scale * torch.tensor([1.0, 64.0, 1.0]))


def test_gradients_reach_weights_bias_and_clipping_max():
    torch.manual_seed(0)
    inq = ActQuantUnsigned(8, 1.0, quantized=True)
    conv = QuantConv2d(3, 4, 3, weight_bits=4, quantized=True)
    with torch.no_grad():
        conv.bias.normal_()
    outq = ActQuantUnsigned(4, 0.5, quantized=True)
    x = torch.rand(2, 3, 6, 6)
    y = outq(F.relu(conv(inq(x), inq.scale())))
    (y * torch.rand_like(y)).sum().backward()
    for p in (conv.weight, conv.bias, inq.max_log, outq.max_log):
        assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0


def test_clipped_values_push_the_max_up():
    # PACT: every value above the max -> y = 15 * s_a, d(sum y)/d(max_log) = 15 * s_a * n > 0
    a = ActQuantUnsigned(4, 1.0, quantized=True)
    a(torch.full((10,), 5.0)).sum().backward()
    assert float(a.max_log.grad) == pytest.approx(10 * 1.0, rel=1e-6)


def test_fp32_mode_is_plain_conv_and_quantized_bias_is_on_the_accumulator_grid():
    torch.manual_seed(1)
    conv = QuantConv2d(2, 3, 3, weight_bits=4)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.rand(1, 2, 5, 5)
    assert torch.equal(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1))
    set_quantized(conv, True)
    with pytest.raises(InvalidOperation):
        conv(x)
    s_in = torch.tensor(1.0 / 255)
    wc, ws = conv.weight_to_int()
    bc, acc = conv.bias_to_int(s_in)
    assert bc.dtype == torch.int32 and torch.equal(acc, ws * s_in)
    expected = F.conv2d(x, wc.float() * ws.view(-1, 1, 1, 1), bc.float() * acc, padding=1)
    assert torch.equal(conv(x, s_in), expected)


def test_concatenated_tensors_share_one_quantizer_and_scale():
    model = set_quantized(build_model(ModelConfig.preset("tiny")), True)
    fe = model.features
    levels = model.config.levels
    seen = {f"cat{d}": [] for d in range(levels - 1)}
    hooks = [fe.act_quants[name].register_forward_hook(lambda m, i, o, name=name: seen[name].append(o))
             for name in seen]
    model(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    for h in hooks:
        h.remove()
    for d in range(levels - 1):
        name = f"cat{d}"
        # the skip of level d and the (pre-upsampling) output of level d + 1 go through the same quantizer
        assert fe.out_quant[f"enc{d}_{model.config.encoder_convs[d] - 1}"] == name
        deeper = f"dec{d + 1}_{model.config.decoder_convs[d + 1] - 1}" if d + 1 < levels - 1 \
            else f"enc{d + 1}_{model.config.encoder_convs[d + 1] - 1}"
        assert fe.out_quant[deeper] == name
        assert len(seen[name]) == 2
        step = fe.act_quants[name].scale().detach()
        for t in seen[name]:
            codes = t.detach() / step
            assert torch.allclose(codes, codes.round(), atol=1e-4)  # both lie on one grid
            assert float(codes.max()) <= 15 + 1e-4
    # no quantizer object is registered twice (export sees each once)
    ids = [id(m) for m in fe.act_quants.values()]
    assert len(ids) == len(set(ids))


def test_bit_widths_per_layer():
    model = set_quantized(build_model(ModelConfig.preset("tiny")), True)
    for name, conv in model.features.convs.items():
        codes, _ = conv.weight_to_int()
        bits = 8 if name == "enc0_0" else 4
        assert conv.weight_bits == bits
        assert int(codes.abs().max()) == 2 ** (bits - 1) - 1, name
    for conv in list(model.filter.down.values()) + list(model.filter.up.values()):
        assert conv.weight_bits == 8
    assert model.features.input_quant.bits == 8


def test_set_quantized_switches_everything():
    model = build_model(ModelConfig.preset("tiny", kind="unet"))
    c, h = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    fp32 = model(c, h)
    assert not is_quantized(model)
    set_quantized(model, True)
    assert is_quantized(model)
    assert all(m.quantized for m in model.modules() if hasattr(m, "quantized"))
    assert not torch.equal(model(c, h), fp32)
    set_quantized(model, False)
    assert torch.equal(model(c, h), fp32)
    with pytest.raises(InvalidArgument):
        set_quantized(model, 1)
    with pytest.raises(InvalidArgument):
        ActQuantUnsigned(4, 0.0)
    with pytest.raises(InvalidArgument):
        WeightQuantPerChannel(1)
