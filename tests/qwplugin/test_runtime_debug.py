"""The opt-in debug checker: each check fires on its mistake and none fires on a clean stream."""

import warnings

import numpy as np
import pytest

from qwplugin import Context, ContextDesc, DebugCheckWarning, QWPluginWarning
from runtime_frames import SIZE, H, W, pan_frame, replace_frame, texture


def _checks_fired(frames, debug=True, model=None):
    ctx = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu", debug_checks=debug), model=model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for f in frames:
            ctx.dispatch(f)
    checks = [w.message.check for w in caught if issubclass(w.category, DebugCheckWarning)]
    assert all(issubclass(w.category, QWPluginWarning) for w in caught if isinstance(w.message, DebugCheckWarning))
    return checks, ctx.stats.debug_checks_fired


def test_clean_stream_fires_nothing():
    frames = [pan_frame(t, speed_px=1.5) for t in range(20)]
    frames.append(pan_frame(20, phase=2.0, reset=True))  # a cut, correctly flagged
    frames += [pan_frame(t, phase=2.0, reset=False) for t in range(21, 24)]
    checks, fired = _checks_fired(frames)
    assert checks == [] and fired == {}


def test_disabled_checker_is_silent():
    frames = [pan_frame(t, frame_time_ms=0.016) for t in range(3)]
    assert _checks_fired(frames, debug=False) == ([], {})


def test_frame_time_in_seconds():
    checks, _ = _checks_fired([pan_frame(t, frame_time_ms=0.016) for t in range(3)])
    assert checks == ["frame_time_seconds"]  # rate limited: once, not every frame


def test_zero_jitter():
    checks, fired = _checks_fired([pan_frame(t, jitter_px=(0.0, 0.0)) for t in range(9)])
    assert checks == ["jitter_zero"] and fired == {"jitter_zero": 2}  # frames 7 and 8; warned once


def test_jitter_in_ndc_units():
    frames = [pan_frame(t) for t in range(16)]
    frames = [replace_frame(f, jitter_px=(f.jitter_px[0] * 2 / 400, f.jitter_px[1] * 2 / 300)) for f in frames]  # NDC, 400x300
    checks, _ = _checks_fired(frames)
    assert checks == ["jitter_scale"]


def test_motion_in_ndc_units():
    frames = [pan_frame(t, speed_px=1.0) for t in range(4)]
    frames = [replace_frame(f, motion_px=f.motion_px * (2.0 / 400)) for f in frames]  # NDC of a 400-px-wide image
    checks, fired = _checks_fired(frames)
    assert "motion_ndc" in checks and fired["motion_ndc"] == 2  # frames 2 and 3 (3 in a row needed)


def test_camera_cut_without_reset():
    frames = [pan_frame(t) for t in range(3)] + [pan_frame(3, phase=2.5, reset=False)]
    frames[3] = replace_frame(frames[3], color=frames[3].color * 6.0)
    checks, _ = _checks_fired(frames)
    assert checks == ["jump_without_reset"]


def test_teleport_motion_without_reset():
    frames = [pan_frame(t) for t in range(3)]
    frames.append(replace_frame(pan_frame(3), motion_px=np.full((H, W, 2), 40.0, np.float32)))
    checks, _ = _checks_fired(frames)
    assert checks == ["jump_without_reset"]


def _diagonal_pan(frames=6, speed_px=2.0, flip=(1.0, 1.0), direction=(1.0, 1.0)):
    """A texture panning ``speed_px * direction`` per frame, rendered at pixel centres + jitter; the host
    sends the contract's motion times ``flip`` (so ``flip=(1, 1)`` is correct)."""
    out = []
    dx, dy = speed_px * direction[0], speed_px * direction[1]
    for t in range(frames):
        f = pan_frame(t, speed_px=speed_px)
        ys, xs = np.meshgrid(np.arange(H) + 0.5 + f.jitter_px[1], np.arange(W) + 0.5 + f.jitter_px[0], indexing="ij")
        color = texture(xs - dx * t, ys - dy * t)
        motion = np.empty((H, W, 2), np.float32)
        motion[..., 0], motion[..., 1] = -dx * flip[0], -dy * flip[1]
        out.append(replace_frame(f, color=color, motion_px=motion))
    return out


@pytest.mark.parametrize("flip, check", [((-1.0, -1.0), "motion_sign"), ((1.0, -1.0), "motion_y_flipped")])
def test_motion_convention_mistakes(flip, check):
    # A diagonal pan so that both the sign and the y axis matter; the host sends the flipped motion. The
    # check reprojects the previous *input*, so the (untrained, blurring) network does not matter.
    checks, fired = _checks_fired(_diagonal_pan(flip=flip))
    assert checks == [check]                       # only this motion check, warned once
    assert fired[check] == 3                       # frames 3, 4, 5: 3 judged frames in a row needed
    assert _checks_fired(_diagonal_pan())[0] == []  # the correct motion: nothing


def test_motion_convention_message_names_mistake_and_fix():
    ctx = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu", debug_checks=True))
    with pytest.warns(DebugCheckWarning) as record:
        for f in _diagonal_pan(flip=(1.0, -1.0)):
            ctx.dispatch(f)
    text = str(record[0].message)
    assert record[0].message.check == "motion_y_flipped"
    assert "with y negated" in text and "negate the y component" in text
    assert "motion_px must point from the current pixel to where it was in the previous frame" in text
    assert "+y down" in text


def test_purely_vertical_motion_reports_either_flip():
    # with motion along y only, negating y and negating the motion are the same correction
    checks, _ = _checks_fired(_diagonal_pan(flip=(1.0, -1.0), direction=(0.0, 1.0)))
    assert checks == ["motion_sign"]


def test_horizontal_motion_never_judges_the_y_flip():
    # a y flip of horizontal motion changes nothing (and costs nothing): it is never reported
    checks, _ = _checks_fired(_diagonal_pan(flip=(1.0, -1.0), direction=(1.0, 0.0)))
    assert checks == []


def test_motion_convention_not_judged_across_resets():
    # flipped motion, but every other frame starts a new stream (Frame.reset or Context.reset()):
    # never 3 judged frames in a row
    frames = _diagonal_pan(frames=8, flip=(-1.0, -1.0))
    frames = [replace_frame(f, reset=(t % 2 == 0)) for t, f in enumerate(frames)]
    assert _checks_fired(frames)[0] == []
    ctx = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu", debug_checks=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t, f in enumerate(_diagonal_pan(frames=8, flip=(-1.0, -1.0))):
            if t % 2 == 0:
                ctx.reset()
            ctx.dispatch(f)
    assert not [w for w in caught if issubclass(w.category, DebugCheckWarning)]


def test_motion_convention_keeps_its_own_copy_of_the_previous_frame():
    # a host that renders into one reused array (as the GL bridge's read-back does) must not blind the check
    frames = _diagonal_pan(flip=(-1.0, -1.0))
    shared = np.empty_like(frames[0].color)
    ctx = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu", debug_checks=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for f in frames:
            shared[...] = f.color
            ctx.dispatch(replace_frame(f, color=shared))
    assert [w.message.check for w in caught if issubclass(w.category, DebugCheckWarning)] == ["motion_sign"]


def test_convention_ratios_exact_reprojection():
    # the previous frame shifted by an integer motion: the right candidate reprojects exactly (ratio 0)
    import torch

    from qwplugin.runtime.debug import CONVENTION_MIN_SAMPLES, convention_ratios

    h, w = 24, 32
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    prev = torch.from_numpy(texture(xs, ys)).permute(2, 0, 1)[None]
    cur = torch.from_numpy(texture(xs - 2.0, ys - 3.0)).permute(2, 0, 1)[None]  # moved (+2, +3)
    motion = torch.empty(1, 2, h, w)
    motion[:, 0], motion[:, 1] = -2.0, 3.0  # y flipped: the correct motion is (-2, -3)
    rr, cc = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    r = convention_ratios(cur, motion, (0.0, 0.0), 1.0, prev, (0.0, 0.0), 1.0, rr.flatten(), cc.flatten())
    ratio, n = r["motion_y_flipped"]
    assert ratio < 1e-6 and n == (h - 6) * (w - 4) >= CONVENTION_MIN_SAMPLES  # all 4 candidates inside
    assert r["motion_sign"][0] > 0.5 and r["motion_mismatch"][0] > 0.5


def test_sample_grid_is_capped_and_covers_the_frame():
    import torch

    from qwplugin.runtime.debug import CONVENTION_MAX_SAMPLES, DebugChecker

    checker = DebugChecker()
    for h, w in ((12, 16), (540, 960), (2160, 3840)):
        rows, cols = checker._sample_grid(h, w, torch.device("cpu"))
        assert len(rows) == len(cols) <= CONVENTION_MAX_SAMPLES
        assert len(rows) > CONVENTION_MAX_SAMPLES // 2 or len(rows) == h * w
        stride = int(cols[1] - cols[0])
        assert set(rows.unique().diff().tolist()) <= {stride}
        assert set(cols.unique().diff().tolist()) <= {stride}
        assert 0 <= rows.min() < stride and rows.max() >= h - stride and cols.max() >= w - stride


def test_nan_colour_is_reported():
    f1 = pan_frame(1)
    color = f1.color.copy()
    color[0, 0, 0] = np.nan
    checks, _ = _checks_fired([pan_frame(0), replace_frame(f1, color=color)])
    assert checks == ["color_nonfinite"]


def test_backend_info_says_what_the_model_reads():
    # what an integrator checks next to the debug checker: jitter is never a network input, depth only
    # when the model's config says so (and then the context requires it)
    from qwplugin.model.config import ModelConfig
    from runtime_frames import DepthRecorder

    ctx = Context(ContextDesc(render_size=SIZE, model="qwnet", precision="int4", backend="cpu"))
    info = ctx.backend_info
    assert info.uses_jitter is False and info.uses_depth is False and ctx.uses_depth is False
    assert any("jitter_px is not used by the model" in n and "depth is not used" in n for n in info.notes)
    depth_ctx = Context(ContextDesc(render_size=SIZE, backend="cpu"),
                        model=DepthRecorder(ModelConfig.preset("tiny", use_depth=True)))
    assert depth_ctx.backend_info.uses_depth is True and depth_ctx.backend_info.uses_jitter is False
    assert any("model inputs: colour, history, depth" in n for n in depth_ctx.backend_info.notes)
