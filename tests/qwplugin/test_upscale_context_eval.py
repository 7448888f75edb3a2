"""The evaluation of upscaling sequences (no GL): methods built with the sequence's display size, scores at the
display size equal to an independent computation, temporal metrics with display-pixel motion, non-upscalers
refused, the TAAU baseline."""

from __future__ import annotations

import numpy as np
import pytest

from qwplugin import Frame, make
from qwplugin.errors import InvalidArgument
from qwplugin.eval import SceneInput, evaluate
from qwplugin.eval import metrics as M
from qwplugin.eval.methods import check_upscaling_methods
from qwplugin.eval.run import display_motion
from qwplugin.io.sequence import Sequence

W, H, DW, DH, T = 12, 8, 24, 16, 6


def _sequence(seed: int = 0) -> Sequence:
    rng = np.random.default_rng(seed)
    ref = rng.uniform(0, 2, (T, DH, DW, 3)).astype(np.float32)
    color = ref.reshape(T, H, 2, W, 2, 3).mean(axis=(2, 4)).astype(np.float32)  # box-downsampled reference
    motion = rng.uniform(-1, 1, (T, H, W, 2)).astype(np.float32)
    eye = np.tile(np.eye(4), (T, 1, 1))
    return Sequence(color=color, reference=ref, motion_px=motion, depth_view=np.ones((T, H, W), np.float32),
                    jitter_px=rng.uniform(-0.5, 0.5, (T, 2)), time_s=np.arange(T) / 30.0,
                    reset=np.array([True] + [False] * (T - 1)), view=eye, projection=eye, jittered_projection=eye,
                    scene="synthetic", width=W, height=H, spp=4, fps=30.0, display_width=DW, display_height=DH)


def test_display_motion_is_the_render_texel_motion_in_display_pixels():
    motion = np.random.default_rng(1).uniform(-2, 2, (H, W, 2)).astype(np.float32)
    # exact 2x: each render texel covers 2 x 2 display pixels; computed here by repetition instead
    want = np.repeat(np.repeat(motion, 2, axis=0), 2, axis=1) * 2.0
    np.testing.assert_array_equal(display_motion(motion, (W, H), (DW, DH)), want)
    assert display_motion(motion, (W, H), (W, H)) is motion


def test_upscaling_sequence_is_scored_at_display_size():
    seq = _sequence()
    result = evaluate([SceneInput("synthetic", [("run", seq)])], ["noaa+bilinear", "taau"], warmup=1,
                      progress=False, with_flip=False)
    (scene,) = result.scenes
    assert scene.size == (DW, DH) and scene.render_size == (W, H)
    assert scene.color.shape == (DH, DW, 3) and scene.reference.shape == (DH, DW, 3)
    assert all(out.shape == (DH, DW, 3) for out in scene.outputs.values())
    assert result.baseline == "taau"
    run = scene.runs[0]
    m = make("noaa+bilinear", (W, H), display_size=(DW, DH))  # the same scores, computed independently
    prev = None
    for i in range(T):
        out = m.dispatch(Frame(color=seq.color[i], motion_px=seq.motion_px[i], jitter_px=tuple(seq.jitter_px[i]),
                               reset=i == 0))
        out_d, ref_d = M.to_display(out, 1.0), M.to_display(seq.reference[i], 1.0)
        if i >= 1:
            assert run.per_frame["noaa+bilinear"]["psnr_db"][i] == M.psnr_db(ref_d, out_d)
            want = M.temporal_metrics(out_d, prev[0], ref_d, prev[1],
                                      np.repeat(np.repeat(seq.motion_px[i], 2, 0), 2, 1) * 2.0)
            assert (run.per_frame["noaa+bilinear"]["temporal"][i], run.per_frame["noaa+bilinear"]["flicker"][i]) \
                == pytest.approx(want, rel=0, abs=0)
        prev = (out_d, ref_d)


def test_a_method_that_does_not_upscale_is_refused():
    with pytest.raises(InvalidArgument) as err:
        evaluate([SceneInput("synthetic", [("run", _sequence())])], ["taa"], warmup=1, progress=False)
    assert err.value.field == "display_size" and "taa+lanczos" in str(err.value)
    with pytest.raises(InvalidArgument) as err:
        check_upscaling_methods(["taau", "qwnet-int4", "taa+lanczos"])
    assert err.value.field == "--methods" and err.value.actual == "qwnet-int4"
    check_upscaling_methods(["taau", "noaa+lanczos", "qwnet-fp32+lanczos=whatever.safetensors".split("=")[0]])
    # specs resolve their base as make() does: a TAAU config file, the upscaling QW-Net with a weights file
    check_upscaling_methods(["taau-unsharpened=x.json", "mine-up2-int4=w.safetensors", "qwnet-fast-up2-fp32"])
    with pytest.raises(InvalidArgument) as err:
        check_upscaling_methods(["taa-tuned=x.json", "mine-int4=w.safetensors"])
    assert err.value.actual == "taa-tuned=x.json, mine-int4=w.safetensors"
