"""Models: shapes and padding, convex filter stages, forward/backward in FP32 and fake-quant, config."""

import pytest
import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument
from qwplugin.model import ModelConfig, build_model
from qwplugin.model.input_unit import assemble_input, gradient_magnitude, normalise_depth
from qwplugin.ops.padding import pad_to_multiple
from qwplugin.quant import set_quantized


def _inputs(n=1, h=8, w=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=gen), torch.rand(n, 3, h, w, generator=gen), \
        torch.rand(n, 1, h, w, generator=gen) * 20


@pytest.mark.parametrize("kind", ["qwnet", "unet"])
@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("extras", [False, True])
def test_forward_backward_tiny(kind, quantized, extras):
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", kind=kind, input_processing=extras, use_depth=extras, quantized=quantized)
    model = build_model(cfg)
    assert model.config is cfg
    assert model.features.convs["enc0_0"].in_channels == (11 if extras else 6)
    color, history, depth = _inputs(2, 12, 10)
    history.requires_grad_(True)
    out = model(color, history, depth)
    assert out.shape == (2, 3, 12, 10)
    assert float(out.detach().min()) >= 0.0
    if kind == "qwnet":  # convex combinations of [0, 1) inputs; the released U-Net ends in a ReLU (unbounded)
        assert float(out.detach().max()) < 1.0
    (out * torch.rand_like(out)).sum().backward()
    for name, p in model.named_parameters():
        if quantized or "max_log" not in name:  # FP32 mode does not use the clipping maxima
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert float(p.grad.abs().sum()) > 0, name
    assert history.grad is not None and float(history.grad.abs().sum()) > 0


@pytest.mark.parametrize("size", [(5, 7), (13, 9), (1, 1), (16, 16)])
def test_odd_sizes_are_padded_and_cropped(size):
    model = build_model("tiny")
    h, w = size
    color, history, _ = _inputs(1, h, w)
    out = model(color, history)
    assert out.shape == (1, 3, h, w)
    # same as running on explicitly replicate-padded inputs and taking the top-left window
    padded = model(pad_to_multiple(color, 4), pad_to_multiple(history, 4))
    assert torch.equal(out, padded[..., :h, :w])


def test_first_stage_is_a_convex_combination_of_its_18_taps():
    torch.manual_seed(1)
    model = build_model("tiny")
    with torch.no_grad():  # sharpen the kernels so the test is not trivially satisfied by an average
        model.filter.down["down0"].weight.mul_(30)
    color, history, _ = _inputs(1, 8, 8, seed=2)
    net_in = assemble_input(color, history, None, False, False)
    with torch.no_grad():
        feats, scales = model.features(net_in)
        out, down = model.filter(feats, scales, color, history, return_stages=True)
    r0 = down[0]
    taps = torch.cat([F.unfold(F.pad(img, (1, 1, 1, 1), mode="replicate"), 3).view(1, 3, 9, 8, 8)
                      for img in (color, history)], dim=2)  # (1, 3, 18, H, W)
    eps = 1e-6  # float32 rounding of a 18-term weighted sum of values in [0, 1)
    assert bool((r0 >= taps.amin(2) - eps).all()) and bool((r0 <= taps.amax(2) + eps).all())
    # and it is not merely the plain average of the taps
    assert float((r0 - taps.mean(2)).abs().max()) > 1e-3
    # every later stage is convex too: the output stays within the range of all inputs
    lo, hi = torch.minimum(color, history).amin(), torch.maximum(color, history).amax()
    assert float(out.min()) >= float(lo) - eps and float(out.max()) <= float(hi) + eps


def test_softmax_kernel_of_constant_images_returns_the_constant():
    model = build_model("tiny")
    c = torch.full((1, 3, 8, 8), 0.25)
    with torch.no_grad():
        out = model(c, c.clone())
    torch.testing.assert_close(out, c, rtol=0, atol=1e-6)  # convex weights sum to 1


def test_input_unit_and_depth():
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 6, 8) * 0.1
    g = gradient_magnitude(ramp)
    # normalised Sobel of a ramp with slope 0.1/px is 0.1 away from the replicated left/right edges
    torch.testing.assert_close(g[..., 1:-1], torch.full((1, 1, 6, 6), 0.1), rtol=0, atol=1e-5)
    assert torch.equal(normalise_depth(torch.tensor([0.0, 1.0, 3.0, -1.0])), torch.tensor([1.0, 0.5, 0.25, 1.0]))
    color, history, depth = _inputs(1, 4, 4)
    x = assemble_input(color, history, depth, True, True)
    assert x.shape == (1, 11, 4, 4)
    assert torch.equal(x[:, :3], color) and torch.equal(x[:, 3:6], history)
    gray = 0.2126 * color[:, 0:1] + 0.7152 * color[:, 1:2] + 0.0722 * color[:, 2:3]
    torch.testing.assert_close(x[:, 6:7], gray)
    assert torch.equal(x[:, 10:11], 1.0 / (1.0 + depth))


def test_depth_required_when_configured_and_bad_inputs_rejected():
    model = build_model(ModelConfig.preset("tiny", use_depth=True))
    color, history, depth = _inputs(1, 8, 8)
    with pytest.raises(InvalidArgument) as info:
        model(color, history)
    assert info.value.field == "depth"
    model(color, history, depth)
    with pytest.raises(InvalidArgument):
        model(color, history[:, :2])
    with pytest.raises(InvalidArgument):
        model(color, history[..., :4])


def test_config_round_trip_and_errors():
    for name in ("paper", "tiny"):
        cfg = ModelConfig.preset(name, kind="unet", input_processing=True)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    paper = ModelConfig.preset("paper")
    assert paper.levels == 5 and paper.size_multiple == 16 and paper.in_channels == 6
    assert paper.encoder_channels == (32, 64, 96, 128, 160) and paper.decoder_convs == (2, 1, 1, 1)
    with pytest.raises(InvalidArgument):
        ModelConfig.preset("huge")
    with pytest.raises(InvalidArgument) as info:
        ModelConfig.from_dict({"kind": "qwnet", "bogus": 1})
    assert info.value.field == "bogus"
    with pytest.raises(InvalidArgument):
        ModelConfig(kind="resnet")
    with pytest.raises(InvalidArgument):
        ModelConfig(encoder_channels=(8, 8), encoder_convs=(1, 1), decoder_convs=(1, 1))
    with pytest.raises(InvalidArgument):
        build_model(42)


@pytest.mark.slow
def test_paper_forward_small():
    torch.manual_seed(0)
    for kind in ("qwnet", "unet"):
        model = build_model(ModelConfig.preset("paper", kind=kind))
        assert sum(p.numel() for n, p in model.features.named_parameters() if n.endswith("weight")) == 1_234_624
        for quantized in (False, True):
            set_quantized(model, quantized)
            color, history, _ = _inputs(1, 32, 32)
            out = model(color, history)
            out.mean().backward()
            assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_kernel_logit_cap_bounds_the_softmax_and_keeps_gradients():
    from qwplugin.model.filter_net import FilterNetwork

    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", kernel_logit_cap=3.0)
    assert "kernel_logit_cap" not in ModelConfig.preset("tiny").to_dict()  # old configs compare equal
    assert ModelConfig.from_dict(cfg.to_dict()).kernel_logit_cap == 3.0
    with pytest.raises(InvalidArgument, match="kernel_logit_cap"):
        ModelConfig.preset("tiny", kernel_logit_cap=0.0)
    filt = FilterNetwork(cfg)
    feats = torch.rand(1, cfg.encoder_channels[0], 6, 6) * 1000  # features that saturate an uncapped softmax
    with torch.no_grad():
        weights = filt._weights(filt.down["down0"], feats, None)
    # |logit| <= 3: the largest of 18 weights is at most e^3 / (e^3 + 17 e^-3) ~ 0.96, the smallest above 0.
    bound = torch.exp(torch.tensor(3.0)) / (torch.exp(torch.tensor(3.0)) + 17 * torch.exp(torch.tensor(-3.0)))
    assert float(weights.max()) <= float(bound) + 1e-6 and float(weights.min()) > 0
    torch.testing.assert_close(weights.sum(1), torch.ones(1, 6, 6))
    uncapped = FilterNetwork(ModelConfig.preset("tiny"))
    uncapped.load_state_dict(filt.state_dict())
    with torch.no_grad():
        assert float(uncapped._weights(uncapped.down["down0"], feats, None).max()) > 0.999  # saturated
