"""TAAU (qwplugin.taau): convergence to the display-resolution reference on a static scene, sample placement
following the jitter, input validation naming the field, config round trip and tuned defaults."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.ops.halton import jitter_offset_px, jitter_phase_count
from qwplugin.taau import TAAUConfig, TemporalUpscaler, reconstruct_display, render_texel_map

# An explicit configuration (not the tuned defaults, which a sweep may change): sigma 0.5 display px.
CONFIG = TAAUConfig(alpha=0.25, gamma=1.5, filter_sigma_px=0.5, motion_feedback=0.1, feedback_max=0.8,
                    sharpen=0.0).without_depth()


def _pattern(x, y):
    """A smooth HDR RGB test image of continuous display-pixel coordinates (wavelengths 13-23 display px)."""
    return np.stack([1.0 + 0.5 * np.sin(2 * np.pi * x / 17.0) * np.cos(2 * np.pi * y / 13.0),
                     0.8 + 0.3 * np.cos(2 * np.pi * (x + y) / 19.0),
                     0.5 + 0.2 * np.sin(2 * np.pi * x / 23.0)])


def _box_reference(big_w, big_h, k=8):
    """The display-resolution reference: each display pixel's box average of k x k point samples."""
    offsets = (np.arange(k) + 0.5) / k
    ys, xs = np.mgrid[0:big_h, 0:big_w].astype(np.float64)
    return sum(_pattern(xs + a, ys + b) for a in offsets for b in offsets) / (k * k)


def _accumulate(render, display, config, cycles=2, jitter_sign=1.0):
    """Run the TAAU over ``cycles`` full jitter cycles of a static scene; returns the last output (3,H,W)."""
    (w, h), (big_w, big_h) = render, display
    phases = jitter_phase_count(w, big_w)
    up = TemporalUpscaler(display, config)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    sx, sy = big_w / w, big_h / h
    for t in range(phases * cycles):
        jx, jy = jitter_offset_px(t, phases)
        # Render pixel (i, j) with jitter (jx, jy) sees the scene at display position ((j+.5+jx) sx, (i+.5+jy) sy).
        color = _pattern((xs + 0.5 + jitter_sign * jx) * sx, (ys + 0.5 + jitter_sign * jy) * sy)
        out = up.step(torch.from_numpy(color).float()[None], torch.zeros(1, 2, h, w), reset=t == 0,
                      jitter_px=(jx, jy))
    return out[0].numpy()


@pytest.mark.parametrize("render, display", [((24, 18), (48, 36)), ((32, 24), (48, 36))])
def test_static_scene_converges_to_the_display_reference(render, display):
    """2x and 1.5x: after 2 cycles of the 8 ratio^2 phases the output matches the display-resolution box
    reference. Interior only (2 display px from the edge, where one-sided samples bias the kernel).
    Tolerances: without clipping (gamma 100) only the sigma-0.5 px kernel's blur remains (about 1-2% of the
    amplitude 0.5 at these wavelengths): max < 0.03, mean < 0.008 (measured 0.020 / 0.0040 at 2x, 0.018 /
    0.0037 at 1.5x). With the configured clip (gamma 1.5: the render-resolution box cuts peaks the render
    samples miss): max < 0.08, mean < 0.008 (measured 0.052 / 0.0044 and 0.024 / 0.0037). Samples placed on
    the wrong side (jitter sign flipped) give mean 0.042 / 0.025: the check catches that bug."""
    reference = _box_reference(*display)[:, 2:-2, 2:-2]
    out = _accumulate(render, display, TAAUConfig(**{**CONFIG.to_dict(), "gamma": 100.0}))[:, 2:-2, 2:-2]
    err = np.abs(out - reference)
    assert err.max() < 0.03 and err.mean() < 0.008, (err.max(), err.mean())
    clipped = np.abs(_accumulate(render, display, CONFIG)[:, 2:-2, 2:-2] - reference)
    assert clipped.max() < 0.08 and clipped.mean() < 0.008, (clipped.max(), clipped.mean())
    # The same check fails when the samples are put at the wrong positions (the test can catch that bug) ...
    wrong = np.abs(_accumulate(render, display, CONFIG, jitter_sign=-1.0)[:, 2:-2, 2:-2] - reference)
    assert wrong.mean() > 2.5 * clipped.mean()
    # ... and the accumulation beats a spatial upscale of one unjittered render frame.
    (w, h), (big_w, big_h) = render, display
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    frame = torch.from_numpy(_pattern((xs + 0.5) * big_w / w, (ys + 0.5) * big_h / h)).float()[None]
    bilinear = F.interpolate(frame, size=(big_h, big_w), mode="bilinear", align_corners=False)[0].numpy()
    assert np.abs(bilinear[:, 2:-2, 2:-2] - reference).mean() > 1.5 * clipped.mean()


@pytest.mark.parametrize("scale, jitter, expected", [
    (2, (0.2, 0.2), (9, 7)), (2, (-0.2, 0.2), (8, 7)), (2, (0.2, -0.2), (9, 6)), (2, (-0.2, -0.2), (8, 6)),
    (1.5, (0.3, -0.3), (7, 4)), (1.5, (-0.45, 0.45), (6, 5)),
])
def test_a_single_bright_sample_lands_in_the_display_pixel_under_its_true_position(scale, jitter, expected):
    """Render pixel (row 3, col 4) is bright; with jitter (jx, jy) it sampled the scene at display position
    ((4.5 + jx) s, (3.5 + jy) s): the display pixel containing that point must be the brightest, both in the
    reset frame's reconstruction and after blending into a dark history."""
    w, h = 8, 6
    display = (int(w * scale), int(h * scale))
    x = (4.5 + jitter[0]) * scale
    y = (3.5 + jitter[1]) * scale
    assert (int(x), int(y)) == expected  # the parametrisation is what the geometry says
    color = torch.zeros(1, 3, h, w)
    color[0, :, 3, 4] = 1.0
    motion = torch.zeros(1, 2, h, w)
    current, confidence = reconstruct_display(color, jitter, display, CONFIG)
    luma = current[0].sum(0)
    assert tuple(int(v) for v in np.unravel_index(int(luma.argmax()), luma.shape))[::-1] == expected
    up = TemporalUpscaler(display, CONFIG)
    up.step(torch.zeros(1, 3, h, w), motion, reset=True)
    out = up.step(color, motion, jitter_px=jitter)[0].sum(0)
    top2 = torch.topk(out.flatten(), 2).values
    assert tuple(int(v) for v in np.unravel_index(int(out.argmax()), out.shape))[::-1] == expected
    assert top2[1] < 0.8 * top2[0]  # a clear winner, not a tie with the neighbour
    # The confidence there is the Gaussian of the sample's display-pixel distance to that pixel's centre.
    d2 = (x - expected[0] - 0.5) ** 2 + (y - expected[1] - 0.5) ** 2
    assert float(confidence[0, 0, expected[1], expected[0]]) == pytest.approx(np.exp(-d2 / (2 * 0.5 ** 2)),
                                                                             rel=1e-5)


def test_render_texel_map_is_the_exact_floor():
    for w, big_w in ((8, 16), (12, 18), (1129, 1920), (7, 20), (5, 5)):
        r, f = render_texel_map(w, big_w)
        x = np.arange(big_w)
        exact = np.floor((x + 0.5) * w / big_w)  # float64 is exact enough here to compare integers
        np.testing.assert_array_equal(r.numpy(), exact)
        np.testing.assert_allclose(f.numpy(), (x + 0.5) * w / big_w - exact, atol=1e-6)
        assert f.min() >= 0 and f.max() < 1


def test_wrong_sizes_are_refused_naming_the_field():
    up = TemporalUpscaler((32, 24), TAAUConfig())
    ok = dict(color_linear=torch.rand(1, 3, 12, 16), motion_px=torch.zeros(1, 2, 12, 16),
              depth=torch.ones(1, 1, 12, 16))
    out = up.step(**ok, reset=True)
    assert tuple(out.shape) == (1, 3, 24, 32)
    history = up.history
    bad = [("color_linear", dict(ok, color_linear=torch.rand(1, 3, 6, 8), motion_px=torch.zeros(1, 2, 6, 8),
                                 depth=torch.ones(1, 1, 6, 8))),  # 4x: outside the 1..3 range
           ("color_linear", dict(ok, color_linear=torch.rand(1, 3, 24, 40), motion_px=torch.zeros(1, 2, 24, 40),
                                 depth=torch.ones(1, 1, 24, 40))),  # wider than the display
           ("motion_px", dict(ok, motion_px=torch.zeros(1, 2, 24, 32))),  # display-size motion
           ("depth", dict(ok, depth=torch.ones(1, 1, 24, 32))),  # display-size depth
           ("depth", dict(ok, depth=None))]
    for field, kwargs in bad:
        with pytest.raises(InvalidArgument) as info:
            up.step(**kwargs)
        assert info.value.field == field
    assert torch.equal(up.history, history)  # refused inputs leave the history untouched
    with pytest.raises(InvalidArgument) as info:
        TemporalUpscaler((0, 24))
    assert info.value.field == "display_size"
    with pytest.raises(InvalidArgument) as info:
        TemporalUpscaler((32, 24), TAAUConfig(filter_sigma_px=0.0))
    assert info.value.field == "filter_sigma_px"
    up.close()
    with pytest.raises(InvalidOperation):
        up.step(**ok)


def test_native_scale_reset_and_constant_image():
    """At scale 1 a constant image stays constant through reset and accumulation (normalised kernel)."""
    up = TemporalUpscaler((10, 8), CONFIG)
    for t in range(5):
        out = up.step(torch.full((1, 3, 8, 10), 0.7), torch.zeros(1, 2, 8, 10), reset=t == 0,
                      jitter_px=jitter_offset_px(t))
        assert tuple(out.shape) == (1, 3, 8, 10) and float((out - 0.7).abs().max()) < 1e-6


def test_config_round_trip_and_tuned_defaults_file():
    cfg = TAAUConfig(alpha=0.3, sharpen=0.0)
    assert TAAUConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InvalidArgument):
        TAAUConfig.from_dict({"filter": "gaussian"})
    tuned = json.loads((Path(__file__).parents[2] / "configs" / "taau_tuned.json").read_text())
    assert TAAUConfig.from_dict(tuned) == TAAUConfig()
