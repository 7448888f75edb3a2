"""The sequence folder format: write then read back, metadata, validation."""

import json

import numpy as np
import pytest

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.io.sequence import SequenceWriter, read_sequence

H, W = 6, 8


def frame(rng, i):
    half = lambda a: a.astype(np.float16).astype(np.float32)  # noqa: E731 - values exact in half storage
    return dict(color=half(rng.random((H, W, 3)) * 4), motion_px=half(rng.standard_normal((H, W, 2)) * 3),
                depth_view=(rng.random((H, W)) * 50 + 0.1).astype(np.float32),
                reference=half(rng.random((H, W, 3))), time_s=i / 30, jitter_px=(0.25 * i - 0.5, 0.1),
                reset=i == 0, view=np.eye(4) * (i + 1), projection=np.diag([1.0, 2.0, 3.0, 0.0]))


def test_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    frames = [frame(rng, i) for i in range(3)]
    with SequenceWriter(tmp_path / "seq", "unit", W, H, spp=64, fps=30) as w:
        for f in frames:
            w.add_frame(**f)
    seq = read_sequence(tmp_path / "seq")
    assert len(seq) == 3 and (seq.scene, seq.width, seq.height, seq.spp, seq.fps) == ("unit", W, H, 64, 30.0)
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(seq.color[i], f["color"])
        np.testing.assert_array_equal(seq.reference[i], f["reference"])
        np.testing.assert_array_equal(seq.motion_px[i], f["motion_px"])
        np.testing.assert_array_equal(seq.depth_view[i], f["depth_view"])  # float32 plane: exact
        np.testing.assert_array_equal(seq.view[i], f["view"])
        np.testing.assert_array_equal(seq.projection[i], f["projection"])
        np.testing.assert_array_equal(seq.jittered_projection[i], f["projection"])
        assert tuple(seq.jitter_px[i]) == f["jitter_px"] and seq.time_s[i] == f["time_s"]
    assert seq.reset.tolist() == [True, False, False]
    meta = json.loads((tmp_path / "seq" / "sequence.json").read_text())
    assert meta["format"] == "qwplugin-sequence" and meta["frames"][1]["file"] == "frame_0001.exr"


def test_without_reference(tmp_path):
    rng = np.random.default_rng(4)
    f = frame(rng, 0)
    f.pop("reference")
    with SequenceWriter(tmp_path / "s", "unit", W, H, spp=0, fps=24) as w:
        w.add_frame(**f)
    seq = read_sequence(tmp_path / "s")
    assert seq.reference is None and seq.color.shape == (1, H, W, 3)


def test_validation(tmp_path):
    rng = np.random.default_rng(5)
    w = SequenceWriter(tmp_path / "v", "unit", W, H, spp=4, fps=30)
    bad = frame(rng, 0)
    bad["color"] = bad["color"][:, :-1]
    with pytest.raises(InvalidArgument, match="color"):
        w.add_frame(**bad)
    nan = frame(rng, 0)
    nan["motion_px"][0, 0, 0] = np.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        w.add_frame(**nan)
    no_ref = frame(rng, 0)
    no_ref.pop("reference")
    with pytest.raises(InvalidArgument, match="reference"):
        w.add_frame(**no_ref)
    w.add_frame(**frame(rng, 0))
    w.close()
    with pytest.raises(InvalidOperation):
        w.add_frame(**frame(rng, 1))
    with pytest.raises(InvalidArgument, match="already holds"):
        SequenceWriter(tmp_path / "v", "unit", W, H, spp=4, fps=30)
    with pytest.raises(InvalidArgument, match="sequence.json"):
        read_sequence(tmp_path / "nothing")


def test_render_settings_round_trip_and_old_files_load(tmp_path):
    rng = np.random.default_rng(6)
    with SequenceWriter(tmp_path / "new", "unit", W, H, spp=64, fps=30, input_mip_bias=-1.0,
                        reference_mip_bias=0.0, reference_sample_mip_bias=-3.0, jitter_phase_count=16,
                        jitter_start_phase=14) as w:
        for i in range(3):
            w.add_frame(**frame(rng, i), jitter_phase=(14 + i) % 16)
    seq = read_sequence(tmp_path / "new")
    assert (seq.input_mip_bias, seq.reference_mip_bias, seq.reference_sample_mip_bias) == (-1.0, 0.0, -3.0)
    assert (seq.jitter_phase_count, seq.jitter_start_phase) == (16, 14)
    assert seq.jitter_phase.tolist() == [14, 15, 0] and seq.jitter_phase.dtype == np.int64

    # A file from before these fields (none of them written): loads, the attributes are None.
    with SequenceWriter(tmp_path / "old", "unit", W, H, spp=64, fps=30) as w:
        w.add_frame(**frame(rng, 0))
    meta = json.loads((tmp_path / "old" / "sequence.json").read_text())
    assert not {"input_mip_bias", "jitter_start_phase", "jitter_phase_count"} & set(meta)
    assert "jitter_phase" not in meta["frames"][0]
    old = read_sequence(tmp_path / "old")
    assert old.input_mip_bias is None and old.reference_mip_bias is None and old.jitter_phase is None
    assert old.jitter_start_phase is None and len(old) == 1

    with pytest.raises(InvalidArgument, match="input_mip_bias"):
        SequenceWriter(tmp_path / "b1", "unit", W, H, spp=4, fps=30, input_mip_bias=float("nan"))
    with pytest.raises(InvalidArgument, match="together"):
        SequenceWriter(tmp_path / "b2", "unit", W, H, spp=4, fps=30, jitter_start_phase=3)
    with pytest.raises(InvalidArgument, match="start phase"):
        SequenceWriter(tmp_path / "b3", "unit", W, H, spp=4, fps=30, jitter_phase_count=16, jitter_start_phase=16)
    w = SequenceWriter(tmp_path / "b4", "unit", W, H, spp=64, fps=30, jitter_phase_count=16, jitter_start_phase=0)
    with pytest.raises(InvalidArgument, match="jitter_phase"):
        w.add_frame(**frame(rng, 0), jitter_phase=16)
