"""History rectification (variance clipping of the warped history) and the TAA-like filter start."""

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.model.build import build_model
from qwplugin.model.config import ModelConfig
from qwplugin.model.filter_net import TAA_INIT
from qwplugin.model.input_unit import assemble_input, prepare_history, rectify_history
from qwplugin.ops.kernels import TAPS


def _rectify_loop(color: np.ndarray, history: np.ndarray, gamma: float) -> np.ndarray:
    """Per-pixel reference: (3, H, W) float64 arrays, neighbourhood with replicated edges."""
    c, h, w = color.shape
    out = np.empty_like(history)
    for y in range(h):
        for x in range(w):
            ys = [min(max(y + dy, 0), h - 1) for dy in (-1, 0, 1)]
            xs = [min(max(x + dx, 0), w - 1) for dx in (-1, 0, 1)]
            nb = color[:, ys][:, :, xs].reshape(c, 9)
            mean, std = nb.mean(1), nb.std(1)
            lo, hi = np.maximum(nb.min(1), mean - gamma * std), np.minimum(nb.max(1), mean + gamma * std)
            out[:, y, x] = np.clip(history[:, y, x], lo, hi)
    return out


@pytest.mark.parametrize("gamma", [0.5, 1.5, 4.0])
def test_rectify_history_matches_a_per_pixel_loop(gamma):
    g = torch.Generator().manual_seed(1)
    color, history = torch.rand(1, 3, 9, 11, generator=g), torch.rand(1, 3, 9, 11, generator=g)
    got = rectify_history(color, history, gamma)[0].double().numpy()
    want = _rectify_loop(color[0].double().numpy(), history[0].double().numpy(), gamma)
    np.testing.assert_allclose(got, want, atol=2e-6)  # float32 moments vs float64: ~1e-7 relative
    assert (got != history[0].numpy()).mean() > 0.2  # much of a random history lies outside the box


def test_rectified_history_leaves_a_consistent_history_alone_and_is_off_by_default():
    ramp = torch.linspace(0.1, 0.8, 8)
    color = (ramp[None, :] + ramp[:, None]).expand(1, 3, 8, 8) / 2  # smooth: each pixel is its 3x3 mean
    assert torch.equal(rectify_history(color, color, 1.5), color)  # history == current: inside its own box
    history = torch.rand(1, 3, 8, 8)
    assert prepare_history(color, history, ModelConfig.preset("tiny")) is history
    for field, bad in (("history_rectification", "clamp"), ("filter_init", "zeros"), ("rectification_gamma", 0)):
        with pytest.raises(InvalidArgument) as info:
            ModelConfig.preset("tiny", **{field: bad})
        assert info.value.field == field


def test_new_fields_at_their_defaults_keep_old_configs_equal():
    old = ModelConfig.preset("fast").to_dict()
    assert "history_rectification" not in old and "filter_init" not in old
    new = ModelConfig.preset("fast", history_rectification="variance_clip", filter_init="taa")
    assert ModelConfig.from_dict(new.to_dict()) == new


def test_taa_init_kernels_are_the_stated_blend():
    model = build_model(ModelConfig.preset("tiny", filter_init="taa"))
    filt = model.filter
    down0 = torch.softmax(filt.down["down0"].bias.detach(), 0)
    assert float(down0[4]) == pytest.approx(TAA_INIT["current_centre"], abs=1e-6)
    assert float(down0[:TAPS].sum()) == pytest.approx(1 - TAA_INIT["history_centre"], abs=1e-6)
    assert float(down0[TAPS + 4]) == pytest.approx(TAA_INIT["history_centre"] - 1e-4, abs=1e-6)
    for name, conv in filt.up.items():
        assert float(torch.softmax(conv.bias.detach(), 0)[TAPS]) == pytest.approx(TAA_INIT["up_own"], abs=1e-6), name
    # With the (small) feature weights zeroed, the full-resolution stage is exactly that blend.
    with torch.no_grad():
        for conv in list(filt.down.values()) + list(filt.up.values()):
            conv.weight.zero_()
        color, history = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
        feats, scales = model.features(assemble_input(color, history, None, False, False))
        _, stages = filt(feats, scales, color, history, return_stages=True)
    pad = torch.nn.functional.pad(color, (1, 1, 1, 1), mode="replicate")
    ring = sum(pad[..., dy:dy + 16, dx:dx + 16] for dy in range(3) for dx in range(3)) - color
    want = (TAA_INIT["current_centre"] * color + TAA_INIT["current_ring"] / 8 * ring
            + (TAA_INIT["history_centre"] - 1e-4) * history)
    assert (stages[0] - want).abs().max() < 2e-4  # the history ring's 1e-4 of weight is the rest


def test_integer_network_rectifies_like_the_float_model():
    from qwplugin.intexec.export import export_network
    from qwplugin.intexec.network import IntegerQWNet
    from qwplugin.quant import set_quantized

    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", history_rectification="variance_clip", rectification_gamma=1.0)
    model = build_model(cfg)
    set_quantized(model, True)
    model.eval()
    net = IntegerQWNet(export_network(model), cfg)
    net.use_backend("fakequant")
    color, history = torch.rand(1, 3, 16, 16) * 0.9, torch.rand(1, 3, 16, 16) * 0.9
    with torch.no_grad():
        want, got = model(color, history), net(color, history)
        unrectified = IntegerQWNet(export_network(model), ModelConfig.preset("tiny"))
        unrectified.use_backend("fakequant")
        other = unrectified(color, history)
    assert (got - want).abs().mean() < 1e-3
    assert (other - want).abs().mean() > 10 * (got - want).abs().mean()
