"""QW-Net for upscaling: samples land where their jitter puts them, a jitter cycle covers the display, the
model's sizes and refusals, the display-resolution recurrence, MAC counts, and native configs unchanged."""

import json
import math
from pathlib import Path

import pytest
import torch

from qwplugin.analysis.macs import mac_report
from qwplugin.errors import InvalidArgument
from qwplugin.model import ModelConfig, build_model, run_sequence
from qwplugin.model.config import PRESETS
from qwplugin.model.upscale import UpscaleQWNet, upscale_mac_report
from qwplugin.model.upscale_input import (display_motion, filled_current, jittered_bilinear, render_texel_index,
                                          zero_upsample)
from qwplugin.ops.halton import jitter_offset_px, jitter_phase_count

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
JITTERS = [(0.0, 0.0), (-0.5, -0.5), (0.49, -0.2), (-0.26, 0.26), (0.24, 0.49), jitter_offset_px(5, 32)]


def expected_pixel(j: int, jitter: float, render: int, display: int) -> tuple[int, float]:
    """Display pixel containing render sample j's position, and the offset from its centre (exact rationals
    via floats in double: the test's own arithmetic, from the contract's definition)."""
    pos = (j + 0.5 + jitter) * display / render
    return math.floor(pos), pos - math.floor(pos) - 0.5


@pytest.mark.parametrize("render,display", [((10, 12), (20, 24)), ((10, 12), (15, 18)), ((6, 8), (18, 24))])
@pytest.mark.parametrize("jitter", JITTERS)
def test_a_single_bright_sample_lands_in_the_display_pixel_under_its_jittered_position(render, display, jitter):
    (h, w), (hd, wd) = render, display
    color = torch.zeros(1, 3, h, w)
    i, j = 3, 5
    color[0, :, i, j] = torch.tensor([4.0, 2.0, 1.0])
    jit = torch.tensor([jitter], dtype=torch.float32)
    values, mask, offset = zero_upsample(color, jit, (hd, wd))
    col, ox = expected_pixel(j, float(jit[0, 0]), w, wd)
    row, oy = expected_pixel(i, float(jit[0, 1]), h, hd)
    nonzero = values[0, 0].nonzero().tolist()
    assert nonzero == [[row, col]], (nonzero, row, col)
    assert torch.equal(values[0, :, row, col], torch.tensor([4.0, 2.0, 1.0]))
    assert int(mask.sum()) == h * w  # every sample landed somewhere, no two in one pixel
    assert abs(float(offset[0, 0, row, col]) - (ox + 0.5)) < 1e-6
    assert abs(float(offset[0, 1, row, col]) - (oy + 0.5)) < 1e-6
    filled = filled_current(color, jit, (hd, wd))[0]
    assert torch.equal(filled[0, :, row, col], torch.tensor([4.0, 2.0, 1.0]))  # the sample itself, not a blend
    assert float(filled[0, 0].max()) == 4.0 and float(filled[0, 0].argmax()) == row * wd + col


def test_the_sample_moves_with_the_jitter_and_the_sign_matters():
    """Jitter +0.45 and -0.45 put the same sample in different display pixels at 2x (right / left half)."""
    color = torch.zeros(1, 3, 4, 4)
    color[0, :, 1, 1] = 1.0
    right = zero_upsample(color, torch.tensor([[0.45, 0.45]]), (8, 8))[0][0, 0].nonzero().tolist()
    left = zero_upsample(color, torch.tensor([[-0.45, -0.45]]), (8, 8))[0][0, 0].nonzero().tolist()
    assert right == [[3, 3]] and left == [[2, 2]]


@pytest.mark.parametrize("render,display", [((10, 12), (20, 24)), ((10, 12), (15, 18)), ((6, 8), (18, 24))])
def test_a_static_scene_over_the_whole_jitter_cycle_covers_every_display_pixel(render, display):
    (h, w), (hd, wd) = render, display
    phases = jitter_phase_count(w, wd)  # 8 x scale^2: 32, 18, 72
    color = torch.rand(1, 3, h, w)
    hits = torch.zeros(hd, wd)
    for p in range(phases):
        hits += zero_upsample(color, torch.tensor([jitter_offset_px(p, phases)]), (hd, wd))[1][0, 0]
    assert int((hits == 0).sum()) == 0, f"{int((hits == 0).sum())} display pixels never hit in {phases} phases"
    assert float(hits.sum()) == phases * h * w
    # without jitter only one display pixel per render pixel is ever hit: the test can fail
    still = zero_upsample(color, torch.zeros(1, 2), (hd, wd))[1][0, 0]
    assert int((still == 0).sum()) == hd * wd - h * w > 0


def test_jittered_bilinear_reproduces_a_linear_scene_at_the_display_pixel_centres():
    """Samples of ``f(x, y) = 0.3 x - 0.2 y`` (display coordinates) taken at their jittered positions,
    interpolated at the display centres, give f there exactly in the interior (bilinear reproduces linear
    functions); a plain bilinear upscale ignoring the jitter is off by the jitter's displacement."""
    h, w, s = 8, 10, 2
    jx, jy = 0.3, -0.4
    jj, ii = torch.meshgrid(torch.arange(w, dtype=torch.float64), torch.arange(h, dtype=torch.float64), indexing="xy")
    f = lambda x, y: 0.3 * x - 0.2 * y  # noqa: E731
    color = f((jj + 0.5 + jx) * s, (ii + 0.5 + jy) * s)[None, None].float()
    out = jittered_bilinear(color, torch.tensor([[jx, jy]]), (h * s, w * s))[0, 0]
    xd, yd = torch.meshgrid(torch.arange(w * s) + 0.5, torch.arange(h * s) + 0.5, indexing="xy")
    want = f(xd, yd).float()
    inner = (slice(2, -2), slice(2, -2))
    assert (out[inner] - want[inner]).abs().max() < 1e-5
    plain = torch.nn.functional.interpolate(color, size=(h * s, w * s), mode="bilinear", align_corners=False)[0, 0]
    assert (plain[inner] - want[inner]).abs().min() > 0.1


def test_display_motion_takes_the_texel_under_the_centre_scaled_to_display_pixels():
    motion = torch.zeros(1, 2, 2, 3)
    motion[0, 0] = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    motion[0, 1] = -0.5
    d = display_motion(motion, (4, 6))
    assert torch.equal(d[0, 0], 2.0 * torch.tensor([[1.0, 1, 2, 2, 3, 3]] * 2 + [[4.0, 4, 5, 5, 6, 6]] * 2))
    assert torch.equal(d[0, 1], torch.full((4, 6), -1.0))
    assert display_motion(motion, (2, 3)) is motion  # native: the very same tensor
    assert render_texel_index(15, 10).tolist() == [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9]


@pytest.mark.parametrize("extractor", ["display", "render"])
def test_the_model_takes_render_size_inputs_and_returns_display_size(extractor):
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, upscale_extractor=extractor))
    assert isinstance(model, UpscaleQWNet)
    color = torch.rand(2, 3, 9, 11, requires_grad=True)
    out = model(color, torch.rand(2, 3, 18, 22), torch.rand(2, 2) - 0.5)
    assert out.shape == (2, 3, 18, 22)
    out.mean().backward()
    assert color.grad.abs().sum() > 0 and all(p.grad is not None for p in model.features.convs.parameters())
    # the output is a convex combination of current samples and history: inputs in [0, 1) stay there
    assert 0.0 <= float(out.detach().min()) and float(out.detach().max()) < 1.0


def test_wrong_sizes_and_missing_inputs_are_refused_naming_the_field():
    model = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, use_depth=True))
    c, hist, jit, depth = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16), torch.zeros(1, 2), torch.rand(1, 1, 8, 8)
    model(c, hist, jit, depth)
    cases = [((torch.rand(1, 3, 16, 16), hist, jit, depth), "color_nw"),  # colour at the display size
             ((c, torch.rand(1, 3, 8, 8), jit, depth), "color_nw"),  # history at the render size
             ((c, torch.rand(1, 3, 26, 26), jit, depth), "color_nw"),  # 3.25x: beyond any mode
             ((c, torch.rand(2, 3, 16, 16), jit, depth), "history_nw"),  # one history per colour frame
             ((c, hist, torch.zeros(2), depth), "jitter_px"),
             ((c, hist, None, depth), "jitter_px"),
             ((c, hist, jit, torch.rand(1, 1, 16, 16)), "depth"),  # depth at the display size
             ((c, hist, jit, None), "depth")]
    for args, field in cases:
        with pytest.raises(InvalidArgument) as err:
            model(*args)
        assert err.value.field == field, (field, err.value)
    render = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, upscale_extractor="render"))
    with pytest.raises(InvalidArgument) as err:
        render(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 17, 16), torch.zeros(1, 2))  # floor(17 / 2) = 8 but not 2x
    assert err.value.field == "color_nw" and "render 8x8 for display 16x17" in str(err.value)
    with pytest.raises(InvalidArgument) as err:
        run_sequence(model, torch.rand(1, 2, 3, 8, 8), torch.zeros(1, 2, 2, 8, 8), torch.zeros(1, 2, dtype=torch.bool),
                     depth=torch.rand(1, 2, 1, 8, 8))
    assert err.value.field == "jitter_px"


def test_the_recurrence_runs_at_display_resolution_and_warps_the_history_there():
    """A reset frame equals the model on its filled current frame; the next frame's history is the previous
    output warped by the display motion (2 display px for 1 render px)."""
    torch.manual_seed(1)
    model = build_model(ModelConfig.preset("tiny", upscale_factor=2.0))
    colors, jitter = torch.rand(1, 2, 3, 8, 8), torch.rand(1, 2, 2) - 0.5
    motion = torch.zeros(1, 2, 2, 8, 8)
    motion[:, 1, 0] = 1.0
    resets = torch.zeros(1, 2, dtype=torch.bool)
    out = run_sequence(model, colors, motion, resets, jitter_px=jitter, return_network_domain=True)
    assert out.shape == (1, 2, 3, 16, 16)
    from qwplugin.ops.colour import to_network

    c0, c1 = to_network(colors[:, 0]), to_network(colors[:, 1])
    cur0 = model.current_display(c0, jitter[:, 0], (16, 16))
    assert torch.allclose(out[:, 0], model(c0, cur0, jitter[:, 0]), atol=1e-6)
    cur1 = model.current_display(c1, jitter[:, 1], (16, 16))
    hist1 = torch.cat([out[:, 0, :, :, 2:], cur1[..., -2:]], dim=-1)  # shifted by 2 display px, edge = current
    assert torch.allclose(out[:, 1], model(c1, hist1, jitter[:, 1]), atol=1e-6)


def test_macs_per_display_pixel_of_the_extractor_options():
    disp = ModelConfig.preset("fast", upscale_factor=2.0)
    rend = ModelConfig.preset("fast", upscale_factor=2.0, upscale_extractor="render")
    a, b = upscale_mac_report(disp, 1080, 1920), upscale_mac_report(rend, 1080, 1920)
    assert a.total == mac_report(disp, 1080, 1920).total + 12 * 1080 * 1920  # + the jitter-aware fill
    unet = lambda r: sum(x.macs for x in r.rows if x.stage.startswith(("encoder", "decoder")))  # noqa: E731
    # the render extractor runs on a quarter of the pixels, with 3 input channels fewer in the first conv
    assert 0.2 < unet(b) / unet(a) < 0.26
    assert a.per_output_pixel > b.per_output_pixel
    with pytest.raises(InvalidArgument):
        upscale_mac_report(ModelConfig.preset("fast"), 1080, 1920)


def test_native_configs_are_unchanged_and_upscaling_fields_round_trip():
    for name in PRESETS:
        d = ModelConfig.preset(name).to_dict()
        assert "upscale_factor" not in d and "upscale_extractor" not in d
        assert ModelConfig.preset(name).in_channels == 6
    assert ModelConfig.preset("fast").to_dict() == {
        "kind": "qwnet", "encoder_channels": [8, 16, 32, 48], "encoder_convs": [1, 1, 2, 2], "decoder_convs": [1, 1, 1],
        "input_processing": False, "use_depth": False, "weight_bits": 4, "first_conv_bits": 8, "filter_bits": 8,
        "act_bits": 4, "input_bits": 8, "act_max_init": 1.0, "input_max_init": 1.0, "quantized": False}
    for path in sorted(CONFIGS.glob("*.json")):
        spec = json.loads(path.read_text()).get("model", {})
        if "upscale_factor" not in spec and "preset" in spec:
            rest = {k: v for k, v in spec.items() if k != "preset"}
            assert "upscale_factor" not in ModelConfig.preset(spec["preset"], **rest).to_dict(), path.name
    up = ModelConfig.preset("tiny", upscale_factor=2, upscale_extractor="render")
    assert ModelConfig.from_dict(up.to_dict()) == up and up.to_dict()["upscale_factor"] == 2.0
    assert ModelConfig.preset("tiny", upscale_factor=2.0).in_channels == 9  # + mask + offset (x, y)
    for bad, field in [({"upscale_factor": 4.0}, "upscale_factor"), ({"upscale_factor": 2.0, "kind": "unet"},
                       "upscale_factor"), ({"upscale_factor": 1.5, "upscale_extractor": "render"}, "upscale_extractor"),
                       ({"upscale_extractor": "both"}, "upscale_extractor")]:
        with pytest.raises(InvalidArgument) as err:
            ModelConfig.preset("tiny", **bad)
        assert err.value.field == field


def test_the_upscaling_training_config_builds_a_2x_model_with_96_px_display_crops():
    from qwplugin.train.config import load_config
    from qwplugin.train.loop import model_config_from

    cfg = load_config(CONFIGS / "qwnet_up2_fast_cpu.json")
    model_cfg = model_config_from(cfg.model)
    assert model_cfg.upscale_factor == 2.0 and model_cfg.upscale_extractor == "display"
    assert model_cfg.encoder_channels == ModelConfig.preset("fast").encoder_channels
    assert cfg.data.crop * 2 == 96 and cfg.data.root == "data/train_up2"
    assert "--scale performance" in cfg.description and "--out data/train_up2" in cfg.description
