"""The TAAU candidate of the upscaling QW-Net (``ModelConfig.taa_candidate`` with ``upscale_factor > 1``):
its configuration, that a network whose kernels select the candidate reproduces the stand-alone TAAU frame by
frame (the recurrence feeds the network's own output back as the candidate's history), and that the integer
twin filters it as the fake-quant model does."""

from dataclasses import asdict

import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.model.build import build_model
from qwplugin.model.config import ModelConfig
from qwplugin.model.filter_net import CENTRE_TAP
from qwplugin.model.recurrent import run_sequence
from qwplugin.model.upscale_int import IntegerUpscaleQWNet, export_upscale_network
from qwplugin.ops.kernels import TAPS
from qwplugin.quant.switch import set_quantized
from qwplugin.taa import TAAConfig
from qwplugin.taau import TAAUConfig, TemporalUpscaler
from qwplugin.train.quant_init import calibrate_activation_ranges


def _inputs(n=2, t=5, h=10, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    color = torch.rand(n, t, 3, h, w, generator=g) * 2.0
    motion = torch.randn(n, t, 2, h, w, generator=g) * 0.7
    depth = torch.rand(n, t, 1, h, w, generator=g) + 1.0
    jitter = torch.rand(n, t, 2, generator=g) - 0.5  # a different phase per element, as a training batch
    resets = torch.zeros(n, t, dtype=torch.bool)
    resets[n - 1, t - 2] = True  # one element resets mid-sequence
    return color, motion, resets, depth, jitter


def test_config_resolves_the_tuned_taau_and_refuses_taa_only_fields():
    cfg = ModelConfig.preset("tiny", upscale_factor=2.0, taa_candidate="tuned")
    assert cfg.taa_candidate == asdict(TAAUConfig()) and cfg.taa_candidate_config == TAAUConfig()
    assert cfg.in_channels == ModelConfig.preset("tiny", upscale_factor=2.0).in_channels + 3
    assert cfg.reads_depth and not cfg.use_depth  # the tuned TAAU dilates and rejects by depth
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    native = ModelConfig.preset("tiny", taa_candidate="tuned")
    assert native.taa_candidate == asdict(TAAConfig()) and native.taa_candidate_config == TAAConfig()
    with pytest.raises(InvalidArgument) as info:
        ModelConfig.preset("tiny", upscale_factor=2.0, taa_candidate={"unjitter": True})  # a TAA field
    assert info.value.field == "taa_candidate" and "TAAUConfig" in str(info.value)
    with pytest.raises(InvalidArgument) as info:
        ModelConfig.preset("tiny", upscale_factor=2.0, taa_candidate={"alpha": 2.0})  # TAAU's own range check
    with pytest.raises(InvalidArgument) as info:
        ModelConfig.preset("tiny", kind="unet", taa_candidate="tuned")
    assert info.value.field == "taa_candidate"


@pytest.mark.parametrize("display_hw", [(20, 24), (15, 18)], ids=["2x", "1.5x"])
@torch.no_grad()
def test_a_network_that_selects_the_candidate_is_the_taau(display_hw):
    """Kernels forced onto the candidate's centre tap (all 1x1 weights 0, that logit 60): the recurrence must
    equal the stand-alone :class:`TemporalUpscaler` run element by element with its own jitter and resets, at
    the scale the model was built for (2x) and at 1.5x, a scale the display extractor runs but was not trained
    at: the candidate, the display motion and the history warp must follow the sizes, not
    ``config.upscale_factor``."""
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, taa_candidate="tuned"))
    for name, conv in list(model.filter.down.items()) + list(model.filter.up.items()):
        conv.weight.zero_()
        conv.bias.zero_()
        conv.bias[2 * TAPS + CENTRE_TAP if name == "down0" else TAPS if name.startswith("up") else CENTRE_TAP] = 60.0
    color, motion, resets, depth, jitter = _inputs()
    out = run_sequence(model, color, motion, resets, depth=depth, jitter_px=jitter, display_hw=display_hw)
    n, t, _, h, w = color.shape
    dh, dw = display_hw
    assert out.shape == (n, t, 3, dh, dw)
    cfg = TAAUConfig(sharpen=0.0)
    for k in range(n):
        taau = TemporalUpscaler((dw, dh), cfg)
        for i in range(t):
            ref = taau.step(color[k:k + 1, i], motion[k:k + 1, i], reset=bool(i == 0 or resets[k, i]),
                            jitter_px=tuple(jitter[k, i].tolist()), depth=depth[k:k + 1, i])
            # float32 round trips through the network domain x / (1 + x): relative 1e-6 of values up to ~2
            assert torch.allclose(out[k, i], ref[0], atol=2e-5, rtol=1e-5), (k, i, float((out[k, i] - ref[0]).abs().max()))


def test_a_missing_or_misshapen_candidate_is_refused():
    model = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, taa_candidate="tuned"))
    c, hist, jit = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16), torch.zeros(1, 2)
    with pytest.raises(InvalidArgument) as info:
        model(c, hist, jit)
    assert info.value.field == "candidate_nw"
    with pytest.raises(InvalidArgument) as info:
        model(c, hist, jit, None, torch.rand(1, 3, 8, 8))  # render size, not display size
    assert info.value.field == "candidate_nw"


@pytest.mark.parametrize("extractor", ["display", "render"])
def test_the_integer_twin_filters_the_candidate_as_the_fake_quant_model(extractor):
    torch.manual_seed(1)
    model = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, taa_candidate="tuned", filter_init="taa",
                                           upscale_extractor=extractor))
    color, motion, resets, depth, jitter = _inputs(n=1, t=4, h=16, w=16, seed=2)
    args = (color, motion, resets)
    calibrate_activation_ranges(model, lambda: run_sequence(model, *args, depth=depth, jitter_px=jitter))
    set_quantized(model, True)
    net = IntegerUpscaleQWNet(export_upscale_network(model), model.config)
    net.use_backend("reference")
    with torch.no_grad():
        fake = run_sequence(model, *args, depth=depth, jitter_px=jitter, return_network_domain=True)
        exact = run_sequence(net, *args, depth=depth, jitter_px=jitter, return_network_domain=True)
    diff = (exact - fake).abs()
    # the same tolerance as the candidate-free twin (test_model_upscale_train.py): fake-quant rounding ties
    assert float(diff.mean()) < 1e-5 and float(diff.max()) < 1e-3, (float(diff.mean()), float(diff.max()))
