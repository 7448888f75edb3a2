"""The debug checker's motion convention test on the project's own rendered scenes.

Short sequences of the built-in ``mixed`` (moving camera) and ``fast_motion`` (static camera, objects
crossing) scenes are rendered headless by the mini engine; a ``Context`` with ``debug_checks=True`` is
then fed the G-buffer with the classic host mistakes made deliberately. The correct motion must raise no
debug warning at all; a y-flipped motion must raise ``motion_y_flipped`` (and no other motion check), a
negated motion ``motion_sign``, a motion scaled 4x ``motion_mismatch``.
"""

import warnings

import numpy as np
import pytest
import torch

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from qwplugin import Context, ContextDesc, DebugCheckWarning, Frame
from qwplugin.runtime.debug import CONVENTION_FRAMES, CONVENTION_RATIO, FIX_HINT

pytestmark = [pytest.mark.gl, pytest.mark.slow]

FPS = 30.0
# (scene, width, height, first time s, frames): mixed pans and dollies (motion in x and y everywhere);
# fast_motion has a static camera, only its objects move (the ball also vertically), hence the larger size.
SEQUENCES = {"mixed": ("mixed", 128, 96, 1.3, 8), "fast_motion": ("fast_motion", 256, 192, 1.0, 6)}
MOTION_CHECKS = {"motion_y_flipped", "motion_sign", "motion_mismatch"}


@pytest.fixture(scope="module")
def sequences():
    """{name: (colours (N, H, W, 3), motions (N, H, W, 2), jitters (N, 2), resets (N,))} rendered once."""
    from engine_bridge.gl import create_context
    from engine_bridge.raster import Renderer
    from engine_bridge.render import resolve_scene

    ctx = create_context()
    out = {}
    try:
        for key, (name, w, h, t0, frames) in SEQUENCES.items():
            scene = resolve_scene(name)
            colors, motions, jitters, resets = [], [], [], []
            with Renderer(scene, w, h) as renderer:
                prev_t = None
                for i in range(frames):
                    t = t0 + i / FPS
                    reset = prev_t is None or scene.has_cut_between(prev_t, t)
                    jitter = renderer.jitter_for_frame(i)
                    renderer.render_gbuffer(t, None if reset else prev_t, jitter)
                    arrays = renderer.read_gbuffer()
                    colors.append(arrays.color.copy())
                    motions.append(arrays.motion_px.copy())
                    jitters.append(jitter)
                    resets.append(reset)
                    prev_t = t
            out[key] = (np.stack(colors), np.stack(motions), np.asarray(jitters), np.asarray(resets))
    finally:
        ctx.close()
    return out


def _feed(seq, mistake):
    """Dispatch the sequence with the motion as ``mistake`` makes it; returns (warnings, context stats)."""
    colors, motions, jitters, resets = seq
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small frames: one thread is much faster on a shared, loaded CPU
    try:
        return _dispatch_all(colors, motions, jitters, resets, mistake)
    finally:
        torch.set_num_threads(threads)


def _dispatch_all(colors, motions, jitters, resets, mistake):
    n, h, w = colors.shape[:3]
    ctx = Context(ContextDesc(render_size=(w, h), model="qwnet-tiny", precision="fp32", backend="cpu",
                              debug_checks=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(n):
            motion = np.ascontiguousarray(mistake(motions[i]), np.float32)
            jitter = tuple(float(v) for v in jitters[i])
            ctx.dispatch(Frame(color=colors[i], motion_px=motion, jitter_px=jitter, reset=bool(resets[i]),
                               frame_time_ms=33.3))
    stats = ctx.stats
    ctx.close()
    return [c.message for c in caught if issubclass(c.category, DebugCheckWarning)], stats


def test_sequences_have_the_motion_the_checks_need(sequences):
    # guards the premise: enough moving pixels (and vertical motion) for the y-flip to matter at all
    for key, (colors, motions, _, resets) in sequences.items():
        assert resets[0] and not resets[1:].any(), key
        speed = np.linalg.norm(motions[1:], axis=-1)
        assert (speed >= 0.5).mean() > (0.3 if key == "mixed" else 0.01), key
        assert (np.abs(motions[1:, ..., 1]) >= 0.5).sum() > 200, key


@pytest.mark.parametrize("key", list(SEQUENCES))
def test_correct_motion_raises_nothing(sequences, key):
    messages, stats = _feed(sequences[key], lambda m: m)
    assert [m.check for m in messages] == [] and stats.debug_checks_fired == {}


@pytest.mark.parametrize("key", list(SEQUENCES))
@pytest.mark.parametrize("mistake, check", [
    (lambda m: m * np.float32([1.0, -1.0]), "motion_y_flipped"),   # +y up (GL NDC/UV)
    (lambda m: -m, "motion_sign"),                                  # previous -> current
], ids=["y_flipped", "negated"])
def test_each_mistake_raises_its_check(sequences, key, mistake, check):
    messages, stats = _feed(sequences[key], mistake)
    motion_checks = {m.check for m in messages} & MOTION_CHECKS
    assert motion_checks == {check}
    # warned once (rate limited), found on every judged frame from the 3rd one on
    assert [m.check for m in messages].count(check) == 1
    n = len(sequences[key][0])
    assert CONVENTION_FRAMES <= n - 1
    assert 1 <= stats.debug_checks_fired[check] <= n - CONVENTION_FRAMES
    text = str(next(m for m in messages if m.check == check))
    assert FIX_HINT in text
    factor = float(text.split("reprojects onto this one ")[1].split("x better")[0].lstrip(">"))
    assert factor > CONVENTION_RATIO  # the message states how much better the correction explains the frames


def test_gross_scale_mistake_raises_mismatch(sequences):
    # motion 4x too large (e.g. NDC motion scaled by (W, H) and again by 2): zero motion explains the
    # frames better than the motion given, and no flip does
    messages, _ = _feed(sequences["fast_motion"], lambda m: 4.0 * m)
    assert {m.check for m in messages} & MOTION_CHECKS == {"motion_mismatch"}
