"""The strong TAA's options (qwplugin.taa): dilation, depth disocclusion, jitter-aware filter, perceptual
clipping, adaptive feedback, output-only sharpening, and the depth requirement at the boundary."""

import math

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.taa import (
    TAAConfig,
    TemporalAA,
    dilate_motion,
    reconstruct_current,
    reconstruction_weights,
    rgb_to_ycocg,
    taa_resolve,
    taa_sharpen,
    tonemap_ycocg,
    untonemap_ycocg,
)


def grey(values_hw) -> torch.Tensor:
    v = torch.as_tensor(values_hw, dtype=torch.float32)
    return v[None, None].expand(1, 3, *v.shape).clone()


def checker(h, w, low, high) -> torch.Tensor:
    """Grey checkerboard, ``low`` where (row + col) is even: gives the 3x3 boxes some variance, so a huge
    ``gamma`` really switches clipping off (a flat neighbourhood snaps any history onto its mean)."""
    odd = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2).float()
    return grey(low + (high - low) * odd)


def test_dilation_takes_the_motion_of_the_closest_depth_on_an_edge():
    # A near object (depth 2, motion +3 px) occupies columns 4..; the background (depth 10) has motion -1.
    h, w = 6, 8
    depth = torch.full((1, 1, h, w), 10.0)
    depth[..., 4:] = 2.0
    motion = torch.zeros(1, 2, h, w)
    motion[:, 0] = -1.0
    motion[:, 0, :, 4:] = 3.0
    dilated, nearest = dilate_motion(motion, depth)
    # Column 3 is background but touches the near object: it takes the object's motion and depth.
    assert torch.all(dilated[:, 0, :, 3] == 3.0) and torch.all(nearest[..., 3] == 2.0)
    # Columns 0..2 see only background; columns 4.. are the object itself.
    assert torch.all(dilated[:, 0, :, :3] == -1.0) and torch.all(dilated[:, 0, :, 4:] == 3.0)
    assert torch.all(dilated[:, 1] == 0.0)


def test_dilation_tie_keeps_the_first_neighbour_in_scan_order():
    depth = torch.ones(1, 1, 3, 3)
    motion = torch.arange(18, dtype=torch.float32).view(1, 2, 3, 3)
    dilated, _ = dilate_motion(motion, depth)
    # Centre pixel (1,1): all depths equal, so the (-1,-1) neighbour, i.e. pixel (0,0), wins.
    assert dilated[0, 0, 1, 1] == motion[0, 0, 0, 0] and dilated[0, 1, 1, 1] == motion[0, 1, 0, 0]


def test_disoccluded_pixel_takes_the_current_sample():
    # Previous frame: a near object (depth 1) covered columns 2..4. Now it is gone, the background (depth
    # 10, static) shows there. History holds the object's colour; the current frame the background's.
    h, w = 4, 8
    cfg = TAAConfig.classic(alpha=0.1, gamma=1e6, depth_rejection=True, depth_tolerance=0.1)
    prev_depth = torch.full((1, 1, h, w), 10.0)
    prev_depth[..., 2:5] = 1.0
    depth = torch.full((1, 1, h, w), 10.0)
    history = grey(torch.full((h, w), 0.5))
    history[..., 2:5] = 4.0
    current = checker(h, w, 0.5, 0.51)
    out = taa_resolve(current, torch.zeros(1, 2, h, w), history, cfg, depth=depth, history_depth=prev_depth)
    # The 2x2 footprint of columns 3 (inside the old object) are all depth 1 < 10 * 0.9: rejected.
    assert torch.equal(out[..., 3], current[..., 3])
    # Without the test (gamma huge: no clipping) the ghost would stay: 10% current, 90% history.
    ghost = taa_resolve(current, torch.zeros(1, 2, h, w), history, cfg.without_depth())
    assert ghost[0, 0, 0, 3] > 3.0
    # Far from the old object the history is kept: the output is the blend, not the current sample.
    assert torch.equal(out[..., 0], ghost[..., 0]) and not torch.equal(out[..., 0], current[..., 0])


def test_depth_within_tolerance_keeps_the_history():
    h, w = 4, 4
    cfg = TAAConfig.classic(alpha=0.1, gamma=1e6, depth_rejection=True, depth_tolerance=0.1)
    history = grey(torch.full((h, w), 2.0))
    current = checker(h, w, 1.0, 1.01)
    depth = torch.full((1, 1, h, w), 10.0)
    out = taa_resolve(current, torch.zeros(1, 2, h, w), history, cfg, depth=depth,
                      history_depth=torch.full_like(depth, 9.5))  # 5% nearer: same surface
    # At an even pixel: luma-weighted blend of 1 (w 0.1/2) and 2 (w 0.9/3): (0.05 + 0.6) / (0.05 + 0.3).
    assert out[0, 0, 2, 2].item() == pytest.approx((0.05 * 1 + 0.3 * 2) / (0.05 + 0.3), abs=1e-5)


def _effective_weight(cfg, motion_px: float) -> float:
    """Blend weight of the current frame measured from the output at an even pixel: current 0 and history 1
    (so the luma weights are a / 1 and (1 - a) / 2); a uniform motion of ``motion_px`` to the right."""
    h, w = 8, 32
    current = checker(h, w, 0.0, 0.01)
    history = grey(torch.ones(h, w))
    motion = torch.zeros(1, 2, h, w)
    motion[:, 0] = motion_px
    out = taa_resolve(current, motion, history, cfg)[0, 0, 4, 4].item()
    # out = (1-a)/2 / (a + (1-a)/2)  ->  a = (1 - out) / (1 + out)
    return (1.0 - out) / (1.0 + out)


@pytest.mark.parametrize("motion_px", [0.0, 0.5, 1.0, 2.0, 5.0])
def test_feedback_rises_with_motion_length_as_specified(motion_px):
    cfg = TAAConfig.classic(alpha=0.05, gamma=1e6, motion_feedback=0.1, feedback_max=0.4)
    expected = min(0.05 + 0.1 * motion_px, 0.4)
    assert _effective_weight(cfg, motion_px) == pytest.approx(expected, abs=1e-5)
    assert _effective_weight(TAAConfig.classic(alpha=0.05, gamma=1e6), motion_px) == pytest.approx(0.05, abs=1e-5)


def test_feedback_rises_with_the_clip_distance():
    # Neighbourhood flat at 0 with one bright pixel gives a tiny box; a history of 1 lies far outside it.
    h, w = 8, 8
    current = grey(torch.zeros(h, w))
    current[..., 4, 4] = 0.09
    history = grey(torch.ones(h, w))
    history[..., :2] = current[..., :2]  # inside its box there: clip fraction 0
    base = TAAConfig.classic(alpha=0.05, gamma=1.0)
    with_clip = TAAConfig.classic(alpha=0.05, gamma=1.0, clip_feedback=0.5)
    # At pixel (4, 3) the history is clipped almost onto the box: clip fraction close to 1, so the current
    # weight approaches 0.05 + 0.5. Compare the output with the explicit blend of the clipped history.
    plain = taa_resolve(current, torch.zeros(1, 2, h, w), history, base)
    adaptive = taa_resolve(current, torch.zeros(1, 2, h, w), history, with_clip)
    assert adaptive[0, 1, 4, 3] < plain[0, 1, 4, 3]  # more of the (dark) current frame
    assert torch.equal(adaptive[..., :, 0], plain[..., :, 0])  # history inside the box: no change


def test_reconstruction_weights_follow_the_gaussian_of_the_sample_distance():
    jitter = (0.3, -0.2)
    weights = reconstruction_weights(jitter, 0.47)
    expected = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            d2 = (dx + 0.3) ** 2 + (dy - 0.2) ** 2
            expected.append(math.exp(-d2 / (2 * 0.47 ** 2)))
    expected = np.array(expected) / sum(expected)
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    # The sample nearest to the pixel centre (the pixel's own, at distance 0.36) dominates.
    assert weights.argmax() == 4


def test_reconstruction_filter_keeps_flat_images_and_pulls_towards_the_neighbours():
    flat = grey(torch.full((5, 5), 0.7))
    assert torch.allclose(reconstruct_current(flat, (0.4, -0.1), 0.47), flat, atol=1e-6)
    spike = grey(torch.zeros(5, 5))
    spike[..., 2, 2] = 1.0
    # With a jitter of +0.5 px in x, the sample of pixel (2,2) lies halfway to pixel (2,3), which gets the
    # same weight from it as pixel (2,2) itself.
    out = reconstruct_current(spike, (0.5, 0.0), 0.47)
    assert out[0, 0, 2, 2] == pytest.approx(out[0, 0, 2, 3].item(), rel=1e-6)
    assert out[0, 0, 2, 1] < 0.1 * out[0, 0, 2, 2]


def test_luma_tonemap_round_trips():
    p = rgb_to_ycocg(torch.rand(1, 3, 4, 4) * 20.0)
    assert torch.allclose(untonemap_ycocg(tonemap_ycocg(p)), p, rtol=1e-5, atol=1e-6)


def test_sharpening_touches_the_output_only():
    cfg = TAAConfig.classic(alpha=0.2, sharpen=0.5)
    taa, plain = TemporalAA(cfg), TemporalAA(TAAConfig.classic(alpha=0.2))
    torch.manual_seed(0)
    for t in range(4):
        color = torch.rand(1, 3, 8, 8) * 2.0
        out = taa.step(color, torch.zeros(1, 2, 8, 8), reset=t == 0)
        ref = plain.step(color, torch.zeros(1, 2, 8, 8), reset=t == 0)
        assert torch.equal(taa.history, plain.history)  # the history is never sharpened
        assert torch.allclose(out, taa_sharpen(ref, 0.5))
        assert not torch.allclose(out, ref)
    # Sharpening an edge increases contrast but stays within the local min and max (no ringing).
    edge = grey(torch.tensor([[0.2] * 4 + [1.0] * 4] * 4))
    s = taa_sharpen(edge, 1.0)
    assert s[0, 0, 0, 3] < 0.2 + 1e-6 and s.min() >= 0.2 - 1e-6 and s.max() <= 1.0 + 1e-5


def test_depth_is_required_when_the_configuration_uses_it():
    taa = TemporalAA(TAAConfig.classic(dilate_motion=True))
    color = torch.rand(1, 3, 4, 4)
    taa.step(color, torch.zeros(1, 2, 4, 4), reset=True, depth=torch.ones(1, 1, 4, 4))
    before = taa.history
    with pytest.raises(InvalidArgument) as info:
        taa.step(color, torch.zeros(1, 2, 4, 4))
    assert info.value.field == "depth"
    with pytest.raises(InvalidArgument):
        taa.step(color, torch.zeros(1, 2, 4, 4), depth=torch.ones(1, 1, 4, 5))
    assert torch.equal(taa.history, before)
    # Without depth options, depth is ignored.
    TemporalAA(TAAConfig.classic()).step(color, torch.zeros(1, 2, 4, 4))


def test_config_checks_and_classic():
    assert TAAConfig.classic() == TAAConfig.from_dict(TAAConfig.classic().to_dict())
    assert not TAAConfig.classic().uses_depth and TAAConfig.classic(depth_rejection=True).uses_depth
    for bad in (dict(filter="lanczos"), dict(feedback_max=0.01), dict(sharpen=-1.0), dict(motion_feedback=-0.1),
                dict(unjitter=True, filter="gaussian"), dict(depth_tolerance=0.0), dict(alpha=True)):
        with pytest.raises(InvalidArgument):
            TAAConfig.classic(**bad)
    with pytest.raises(InvalidArgument):
        TAAConfig.classic(sharpness=1.0)


def test_defaults_are_the_recorded_tuned_configuration():
    # configs/taa_tuned.json is the sweep's winner (engine_bridge.tune_taa, docs/taa.md); the dataclass defaults
    # must be exactly it, so a silent edit of either fails here.
    import json
    from pathlib import Path

    recorded = json.loads((Path(__file__).resolve().parents[2] / "configs" / "taa_tuned.json").read_text())
    assert TAAConfig().to_dict() == TAAConfig.from_dict(recorded).to_dict() == recorded
    assert TAAConfig() != TAAConfig.classic()
