"""The render command in upscaling mode: sizes, mip bias and jitter rules, display-size references equal to a
native render at the display size, G-buffer equal to a native render at the render size."""

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.raster.probe_scenes import textured_ground_scene
from engine_bridge.render import main, render_sequence, upscale_settings
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import read_sequence


def test_upscale_settings_rules():
    assert upscale_settings((256, 144)) == ((256, 144), None, -1.0, 16)  # native: the old defaults
    assert upscale_settings((64, 48), scale="performance") == ((32, 24), (64, 48), -2.0, 32)
    render, display, bias, phases = upscale_settings((1920, 1080), scale="balanced")
    assert render == (1129, 635) and display == (1920, 1080) and phases == 23
    assert bias == pytest.approx(np.log2(1129 / 1920) - 1.0)
    assert upscale_settings((40, 30), display_size="60x45") == ((40, 30), (60, 45), np.log2(40 / 60) - 1.0, 18)
    assert upscale_settings((40, 30), display_size="40x30") == ((40, 30), None, -1.0, 16)
    assert upscale_settings((64, 48), scale=2, mip_bias=-1.5, phase_count=8) == ((32, 24), (64, 48), -1.5, 8)
    for kwargs, field in ((dict(display_size="30x30"), "--display-size"), (dict(display_size="200x30"), "--display-size"),
                          (dict(display_size="axb"), "--display-size"), (dict(scale="fast"), "--scale"),
                          (dict(scale="4"), "--scale"), (dict(scale="2", display_size="80x60"), "--display-size/--scale")):
        with pytest.raises(InvalidArgument) as info:
            upscale_settings((40, 30), **kwargs)
        assert info.value.field == field


@pytest.mark.gl
def test_upscaled_sequence_matches_native_renders_at_both_sizes(tmp_path):
    from engine_bridge.scene.model import CameraKey

    keys = [CameraKey(0.0, (0.0, 1.6, 2.0), (0.0, 0.8, -4.0), 60.0),
            CameraKey(1.0, (1.0, 1.6, 2.0), (0.5, 0.8, -4.0), 60.0)]
    scene = textured_ground_scene(camera_keys=keys)
    kw = dict(frames=2, spp=4, fps=10.0, mip_bias=-2.0, phase_count=32)
    up = read_sequence(render_sequence(scene, tmp_path / "up", width=16, height=12, display_size=(32, 24), **kw))
    low = read_sequence(render_sequence(scene, tmp_path / "low", width=16, height=12, **kw))
    high = read_sequence(render_sequence(scene, tmp_path / "high", width=32, height=24, **kw))
    assert up.render_size == (16, 12) and up.display_size == (32, 24) and up.reference.shape == (2, 24, 32, 3)
    assert (up.input_mip_bias, up.jitter_phase_count, up.reference_sample_mip_bias) == (-2.0, 32, -1.0)
    # Colour, motion (render pixels) and depth are the native render at the render size ...
    for name in ("color", "motion_px", "depth_view"):
        np.testing.assert_array_equal(getattr(up, name), getattr(low, name))
    assert np.abs(up.motion_px[1]).max() > 0.1  # the probe camera moves: a real motion check
    # ... and the reference is the native reference at the display size (same view, same LOD rule).
    np.testing.assert_array_equal(up.reference, high.reference)
    np.testing.assert_array_equal(up.projection, low.projection)


@pytest.mark.gl
def test_cli_scale_option(tmp_path, capsys):
    assert main(["--scene", "probe_ground", "--frames", "1", "--size", "24x18", "--scale", "1.5", "--spp", "1",
                 "--out", str(tmp_path / "s")]) == 0
    seq = read_sequence(tmp_path / "s")
    assert seq.render_size == (16, 12) and seq.display_size == (24, 18) and seq.jitter_phase_count == 18
    assert seq.input_mip_bias == pytest.approx(np.log2(16 / 24) - 1.0)
    assert "display 24x18" in capsys.readouterr().out
    assert main(["--scene", "probe_ground", "--size", "24x18", "--display-size", "100x18",
                 "--out", str(tmp_path / "t")]) == 2


@pytest.mark.gl
def test_dataset_with_a_display_size_records_it_and_resumes(tmp_path):
    from engine_bridge.dataset import generate_dataset, is_complete

    kw = dict(sequences=2, frames=1, width=16, height=12, spp=1, seed=3, progress=False, mip_bias=-2.0,
              phase_count=32, display_size=(32, 24))
    index = generate_dataset(tmp_path / "ds", **kw)
    assert index.generator["display_size"] == [32, 24]
    seq = read_sequence(tmp_path / "ds" / "seq_0000")
    assert seq.render_size == (16, 12) and seq.display_size == (32, 24) and seq.reference.shape == (1, 24, 32, 3)
    stamp = (tmp_path / "ds" / "seq_0000" / "reference_0000.exr").stat().st_mtime_ns
    generate_dataset(tmp_path / "ds", **kw)  # resumes: nothing re-rendered
    assert (tmp_path / "ds" / "seq_0000" / "reference_0000.exr").stat().st_mtime_ns == stamp
    # A native sequence is not taken for an upscaled one (and vice versa the native expectation ignores it).
    assert not is_complete(tmp_path / "ds" / "seq_0000", 1, {"display_width": 16})
    assert is_complete(tmp_path / "ds" / "seq_0000", 1, {"width": 16})
