"""Sequence files with a display size (temporal upscaling) and old files without one."""

import json

import numpy as np
import pytest

from qwplugin.errors import InvalidArgument
from qwplugin.io.exr import read_exr
from qwplugin.io.sequence import SequenceWriter, read_sequence

H, W = 6, 8


def _frame(rng, i, ref_shape):
    half = lambda a: a.astype(np.float16).astype(np.float32)  # noqa: E731 - values exact in half storage
    return dict(color=half(rng.random((H, W, 3)) * 4), motion_px=half(rng.standard_normal((H, W, 2))),
                depth_view=(rng.random((H, W)) * 50 + 0.1).astype(np.float32), reference=half(rng.random(ref_shape)),
                time_s=i / 30, jitter_px=(0.1 * i - 0.3, 0.1), reset=i == 0, view=np.eye(4), projection=np.eye(4))


def test_display_size_reference_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    frames = [_frame(rng, i, (2 * H, 2 * W, 3)) for i in range(3)]
    with SequenceWriter(tmp_path / "s", "unit", W, H, spp=16, fps=30, display_size=(2 * W, 2 * H)) as w:
        for f in frames:
            w.add_frame(**f)
    seq = read_sequence(tmp_path / "s")
    assert seq.render_size == (W, H) and seq.display_size == (2 * W, 2 * H)
    assert seq.color.shape == (3, H, W, 3) and seq.reference.shape == (3, 2 * H, 2 * W, 3)
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(seq.reference[i], f["reference"])
        np.testing.assert_array_equal(seq.color[i], f["color"])
    meta = json.loads((tmp_path / "s" / "sequence.json").read_text())
    assert (meta["width"], meta["height"], meta["display_width"], meta["display_height"]) == (W, H, 2 * W, 2 * H)
    assert meta["frames"][1]["reference_file"] == "reference_0001.exr"
    assert "reference.R" not in read_exr(tmp_path / "s" / "frame_0001.exr")


def test_wrong_sizes_are_refused_naming_the_field(tmp_path):
    rng = np.random.default_rng(2)
    with SequenceWriter(tmp_path / "a", "unit", W, H, spp=4, fps=30, display_size=(2 * W, 2 * H)) as w:
        with pytest.raises(InvalidArgument) as info:
            w.add_frame(**_frame(rng, 0, (H, W, 3)))  # a render-size reference
        assert info.value.field == "reference"
    for display in ((W - 1, H), (4 * W, H), (0, H)):
        with pytest.raises(InvalidArgument) as info:
            SequenceWriter(tmp_path / "b", "unit", W, H, spp=4, fps=30, display_size=display)
        assert info.value.field == "display_size"


def test_native_files_keep_their_layout_and_old_files_still_read(tmp_path):
    rng = np.random.default_rng(3)
    f = _frame(rng, 0, (H, W, 3))
    with SequenceWriter(tmp_path / "n", "unit", W, H, spp=4, fps=30) as w:
        w.add_frame(**f)
    meta_path = tmp_path / "n" / "sequence.json"
    meta = json.loads(meta_path.read_text())
    assert (meta["display_width"], meta["display_height"]) == (W, H)
    assert "reference_file" not in meta["frames"][0]
    assert "reference.R" in read_exr(tmp_path / "n" / "frame_0000.exr")  # reference in the frame's EXR, as before
    # A file written before display sizes were recorded:
    del meta["display_width"], meta["display_height"]
    meta_path.write_text(json.dumps(meta))
    seq = read_sequence(tmp_path / "n")
    assert seq.display_size == seq.render_size == (W, H)
    np.testing.assert_array_equal(seq.reference[0], f["reference"])
