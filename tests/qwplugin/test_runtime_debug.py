"""The opt-in debug checker: each check fires on its mistake and none fires on a clean stream."""

import warnings

import numpy as np
import pytest

from qwplugin import Context, ContextDesc, DebugCheckWarning, QWPluginWarning
from runtime_frames import SIZE, CurrentFrameModel, H, W, pan_frame, replace_frame, texture


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


@pytest.mark.parametrize("flip, check", [((-1.0, -1.0), "motion_sign"), ((1.0, -1.0), "motion_y_flipped")])
def test_motion_convention_mistakes(flip, check):
    # A diagonal pan so that both the sign and the y axis matter; the host sends the flipped motion. The test
    # double keeps the previous input as the history, so the check is judged on exact reprojection (an
    # untrained QW-Net blurs its history so much that the 2x margin is not reached on a 12x16 image).
    frames = []
    for t in range(6):
        f = pan_frame(t, speed_px=2.0)
        ys, xs = np.meshgrid(np.arange(H) + 0.5 + f.jitter_px[1], np.arange(W) + 0.5 + f.jitter_px[0], indexing="ij")
        color = texture(xs - 2.0 * t, ys - 2.0 * t)
        motion = np.full((H, W, 2), -2.0, np.float32) * np.array(flip, np.float32)
        frames.append(replace_frame(f, color=color, motion_px=motion))
    checks, _ = _checks_fired(frames, model=CurrentFrameModel())
    assert check in checks
    assert "motion_sign" not in checks or check == "motion_sign"
    correct = [replace_frame(f, motion_px=np.full((H, W, 2), -2.0, np.float32)) for f in frames]
    assert _checks_fired(correct, model=CurrentFrameModel())[0] == []


def test_nan_colour_is_reported():
    f1 = pan_frame(1)
    color = f1.color.copy()
    color[0, 0, 0] = np.nan
    checks, _ = _checks_fired([pan_frame(0), replace_frame(f1, color=color)])
    assert checks == ["color_nonfinite"]
