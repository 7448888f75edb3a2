"""The renderer-free synthetic dataset: exact motion, jittered samples, box-filtered references, index."""

import numpy as np
import pytest

from qwplugin.data.index import read_index
from qwplugin.data.synthetic import _draw_pattern, evaluate_pattern, render_frame, write_synthetic_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import read_sequence
from qwplugin.ops.halton import jitter_offset_px


def test_integer_motion_moves_the_reference_exactly():
    p = dict(_draw_pattern(np.random.default_rng(4)), velocity_px=np.array([2.0, -1.0]))
    _, ref0, _ = render_frame(p, 0, 24, 20, 16)
    _, ref1, _ = render_frame(p, 1, 24, 20, 16)
    # motion = -velocity = (-2, +1): pixel (r, c) of frame 1 was at (r + 1, c - 2) in frame 0
    np.testing.assert_array_equal(ref1[0:19, 2:24], ref0[1:20, 0:22])


def test_colour_is_a_point_sample_at_the_jitter_and_reference_averages_the_pixel():
    p = dict(_draw_pattern(np.random.default_rng(5)), velocity_px=np.array([0.25, 0.5]))
    k = 3
    color, ref, jitter = render_frame(p, k, 10, 8, 4)
    assert jitter == jitter_offset_px(k)
    r, c = 5, 7
    x, y = c + 0.5 + jitter[0] - k * 0.25, r + 0.5 + jitter[1] - k * 0.5
    np.testing.assert_allclose(color[r, c], evaluate_pattern(np.array(x), np.array(y), p), rtol=1e-6)
    taps = [evaluate_pattern(np.array(c + ox - k * 0.25), np.array(r + oy - k * 0.5), p)
            for oy in (0.25, 0.75) for ox in (0.25, 0.75)]
    np.testing.assert_allclose(ref[r, c], np.mean(taps, axis=0), rtol=1e-6)


def test_written_dataset_holds_the_last_sequence_out(tmp_path):
    index = write_synthetic_dataset(tmp_path, sequences=3, frames=2, width=8, height=6, spp=4, seed=1)
    assert read_index(tmp_path).to_dict() == index.to_dict()
    assert [(e.scene, e.split) for e in index.sequences] == [("synthetic_0", "train"), ("synthetic_1", "train"),
                                                             ("synthetic_2", "val")]
    seq = read_sequence(tmp_path / "seq_0001")
    assert seq.color.shape == (2, 6, 8, 3) and seq.reset.tolist() == [True, False]
    assert np.ptp(seq.motion_px[..., 0]) == 0  # one global motion
    with pytest.raises(InvalidArgument, match="perfect square"):
        write_synthetic_dataset(tmp_path / "x", sequences=3, spp=5)
    with pytest.raises(InvalidArgument):
        write_synthetic_dataset(tmp_path / "y", sequences=1)
