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


@pytest.mark.slow
def test_cli_module_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "engine_bridge.render", "--scene", "probe_ground", "--frames",
                           "2", "--size", "32x24", "--spp", "4", "--fps", "30", "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seq = read_sequence(tmp_path / "o")
    assert len(seq) == 2 and seq.scene == "probe_ground" and seq.spp == 4
    bad = subprocess.run([sys.executable, "-m", "engine_bridge.render", "--scene", "probe_ground", "--size",
                          "32by24", "--out", str(tmp_path / "p")], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "size" in bad.stderr
