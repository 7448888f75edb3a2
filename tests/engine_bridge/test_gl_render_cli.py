"""The headless render command: sequence contents, time step, jitter, resets at cuts, references."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.raster.probe_scenes import textured_ground_scene
from engine_bridge.render import parse_size, render_sequence
from engine_bridge.scene.model import CameraKey
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import read_sequence
from qwplugin.ops.halton import jitter_offset_px

pytestmark = pytest.mark.gl
REPO = Path(__file__).resolve().parents[2]


def test_parse_size():
    assert parse_size("960x540") == (960, 540)
    for bad in ("960", "0x5", "axb"):
        with pytest.raises(InvalidArgument, match="size"):
            parse_size(bad)


def test_render_sequence_with_a_camera_cut(tmp_path):
    fps = 10.0
    keys = [CameraKey(0.0, (0.0, 1.6, 2.0), (0.0, 0.8, -4.0), 60.0),
            CameraKey(0.15, (0.3, 1.6, 2.0), (0.3, 0.8, -4.0), 60.0),
            CameraKey(0.25, (2.0, 3.0, 3.0), (0.0, 0.5, -3.0), 50.0, cut=True),  # between frames 2 and 3
            CameraKey(1.0, (2.5, 3.0, 3.0), (0.0, 0.5, -3.0), 50.0)]
    scene = textured_ground_scene(camera_keys=keys)
    out = render_sequence(scene, tmp_path / "seq", frames=5, width=32, height=24, spp=4, fps=fps,
                          backend="auto")
    seq = read_sequence(out)
    assert len(seq) == 5 and seq.color.shape == (5, 24, 32, 3) and seq.reference.shape == (5, 24, 32, 3)
    np.testing.assert_allclose(seq.time_s, np.arange(5) / fps, atol=1e-12)
    assert seq.reset.tolist() == [True, False, False, True, False]
    np.testing.assert_array_equal(seq.jitter_px, [jitter_offset_px(i) for i in range(5)])
    assert np.abs(seq.motion_px[0]).max() == 0 and np.abs(seq.motion_px[3]).max() == 0  # reset frames
    assert np.abs(seq.motion_px[1]).max() > 0.5  # moving camera
    state = scene.evaluate(seq.time_s[4])
    np.testing.assert_allclose(seq.view[4], state.view, atol=1e-12)
    np.testing.assert_allclose(seq.projection[4], state.projection(32 / 24), atol=1e-12)
    assert (seq.depth_view > 0).all() and np.isfinite(seq.reference).all()

    from engine_bridge.gl import create_context
    from engine_bridge.raster import Renderer

    with create_context(), Renderer(scene, 32, 24) as r:
        ref = r.render_reference(seq.time_s[2], 4)
    np.testing.assert_allclose(seq.reference[2], ref, rtol=2.0 ** -10, atol=1e-6)  # half storage


def test_render_sequence_records_start_phase_and_mip_biases(tmp_path):
    import inspect

    from engine_bridge.raster import sampling

    # render.py repeats the sampling defaults (it must not import OpenGL): they have to agree
    params = inspect.signature(render_sequence).parameters
    assert params["mip_bias"].default == sampling.DEFAULT_INPUT_MIP_BIAS == -1.0
    assert params["reference_mip_bias"].default == sampling.DEFAULT_REFERENCE_MIP_BIAS == 0.0
    out = render_sequence(textured_ground_scene(), tmp_path / "seq", frames=4, width=32, height=24, spp=16,
                          start_phase=14)
    seq = read_sequence(out)
    # frame i uses Halton phase (14 + i) % 16: wraps after two frames
    assert seq.jitter_start_phase == 14 and seq.jitter_phase_count == 16
    assert seq.jitter_phase.tolist() == [14, 15, 0, 1]
    np.testing.assert_array_equal(seq.jitter_px, [jitter_offset_px(p) for p in (14, 15, 0, 1)])
    # defaults: input -1 (FSR 2 at native size), reference 0 with -log2(4) per sub-sample of 4x4
    assert (seq.input_mip_bias, seq.reference_mip_bias, seq.reference_sample_mip_bias) == (-1.0, 0.0, -2.0)
    with pytest.raises(InvalidArgument, match="start_phase"):
        render_sequence(textured_ground_scene(), tmp_path / "bad", frames=1, width=8, height=8, spp=0,
                        start_phase=16)


@pytest.mark.slow
def test_cli_module_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "engine_bridge.render", "--scene", "probe_ground", "--frames",
                           "2", "--size", "32x24", "--spp", "4", "--fps", "30", "--mip-bias", "-0.5",
                           "--start-phase", "3", "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seq = read_sequence(tmp_path / "o")
    assert len(seq) == 2 and seq.scene == "probe_ground" and seq.spp == 4
    assert seq.input_mip_bias == -0.5 and seq.jitter_phase.tolist() == [3, 4]
    bad = subprocess.run([sys.executable, "-m", "engine_bridge.render", "--scene", "probe_ground", "--size",
                          "32by24", "--out", str(tmp_path / "p")], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "size" in bad.stderr
