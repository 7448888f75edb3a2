"""Training windows start at random frames: every Halton jitter phase appears at every window position."""

import numpy as np
import pytest

from qwplugin.data.dataset import SequenceDataset, halton_phases
from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.io.sequence import read_sequence
from qwplugin.ops.halton import jitter_offset_px

WINDOW = 8


@pytest.fixture(scope="module")
def long_root(tmp_path_factory):
    """Sequences of 24 frames that all start at phase 0 (the old generator's habit)."""
    root = tmp_path_factory.mktemp("phases_long")
    write_synthetic_dataset(root, sequences=4, frames=24, width=8, height=8, spp=1, seed=11, val_sequences=1)
    return root


def test_halton_phases_of_stored_jitter(long_root):
    seq = read_sequence(long_root / "seq_0000")
    assert list(halton_phases(seq.jitter_px)) == [k % 16 for k in range(24)]
    assert list(halton_phases(np.array([jitter_offset_px(5), (0.3, 0.3)]))) == [5, -1]


def test_random_window_starts_cover_all_16_phases_at_every_window_position(long_root):
    ds = SequenceDataset(long_root, "train", frames=WINDOW, flips=True, exposure_log2_range=1.0)
    firsts, positions = [], [set() for _ in range(WINDOW)]
    for s in range(400):
        sample = ds.sample(np.random.default_rng([5, s]))
        phase = sample["phase"].numpy()
        assert phase.shape == (WINDOW,)
        assert list(phase) == [(phase[0] + k) % 16 for k in range(WINDOW)]  # consecutive frames
        # The phase labels the jitter the frame was rendered with (flips negate the offset's axes).
        jit = np.abs(sample["jitter_px"].numpy())
        table = np.abs(np.array([jitter_offset_px(int(p)) for p in phase], np.float32))
        np.testing.assert_allclose(jit, table, atol=1e-6)
        firsts.append(int(phase[0]))
        for k in range(WINDOW):
            positions[k].add(int(phase[k]))
    counts = np.bincount(firsts, minlength=16)
    assert (counts > 0).all(), counts              # all 16 phases start a window
    assert counts.min() >= 0.3 * 400 / 17, counts  # roughly uniformly (17 starts; phase 0 has two)
    assert all(p == set(range(16)) for p in positions)
    coverage = ds.phase_coverage()
    assert sorted(coverage) == list(range(16)) and coverage[0] == 2 * 3 and coverage[5] == 3


def test_window_is_the_frames_the_phase_says(long_root):
    ds = SequenceDataset(long_root, "train", frames=WINDOW)  # no crop, flips or exposure
    block = ds.block(0)
    for s in range(30):
        rng = np.random.default_rng([9, s])
        sample = ds._sample_of(0, rng)
        start = int(sample["phase"][0])  # phase-0 sequences: start k has phase k % 16
        starts = [start] + ([16] if start == 0 else [])
        assert any(np.array_equal(sample["color"].permute(0, 2, 3, 1).numpy(), block["color"][k:k + WINDOW])
                   for k in starts)
        assert bool(sample["resets"][0]) and not sample["resets"][1:].any()


def test_short_sequences_need_random_start_phases(tmp_path):
    # Windows as long as the sequences: the start is fixed, so only the sequences' own start phases appear.
    fixed = tmp_path / "fixed"
    write_synthetic_dataset(fixed, sequences=40, frames=WINDOW, width=8, height=8, spp=1, seed=2, val_sequences=1)
    assert SequenceDataset(fixed, "train", frames=WINDOW).phase_coverage() == {0: 39}
    shuffled = tmp_path / "random"
    write_synthetic_dataset(shuffled, sequences=40, frames=WINDOW, width=8, height=8, spp=1, seed=2,
                            val_sequences=1, random_start_phase=True)
    coverage = SequenceDataset(shuffled, "train", frames=WINDOW).phase_coverage()
    assert sum(coverage.values()) == 39 and len(coverage) >= 12  # 39 draws of 16 phases
    # Same patterns as without random phases: only the jitter moved.
    a, b = read_sequence(fixed / "seq_0003"), read_sequence(shuffled / "seq_0003")
    assert np.array_equal(a.reference, b.reference) and np.array_equal(a.motion_px, b.motion_px)
