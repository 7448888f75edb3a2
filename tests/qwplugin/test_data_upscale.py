"""The dataset's upscaling samples: display-size references whose crop is the render crop's window of the
scene (checked on a sequence whose pixels encode their own coordinates), native samples as before."""

import numpy as np
import pytest
import torch

from qwplugin.data.augment import apply_params, crop_period, draw_params
from qwplugin.data.dataset import SequenceDataset, collate
from qwplugin.data.index import DatasetIndex, SequenceEntry, write_index
from qwplugin.data.synthetic import write_synthetic_dataset, write_synthetic_upscale_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import SequenceWriter
from qwplugin.model.upscale_input import render_texel_index


def write_coordinate_dataset(root, render, display, frames=3):
    """Colour (row, column, frame) of every render pixel; the reference's display pixel holds the
    (row, column, frame) of the render texel under its centre (:func:`render_texel_index`), so an aligned
    display crop reads back exactly the coordinates of its render crop (values < 2048: exact in half)."""
    (h, w), (hd, wd) = render, display
    rows, cols = render_texel_index(hd, h).numpy(), render_texel_index(wd, w).numpy()
    eye = np.eye(4)
    entries = [SequenceEntry(f"seq_{i}", f"coords_{i}", "train" if i == 0 else "val") for i in range(2)]
    for e in entries:
        with SequenceWriter(root / e.name, e.scene, w, h, 1, 30.0, overwrite=True, display_size=(wd, hd)) as wr:
            for t in range(frames):
                ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
                color = np.stack([ii, jj, np.full_like(ii, t)], -1).astype(np.float32)
                ref = color[rows][:, cols]
                wr.add_frame(color, np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32), time_s=t / 30,
                             jitter_px=(0.25, -0.25), reset=t == 0, view=eye, projection=eye, reference=ref)
    write_index(root, DatasetIndex(entries, ["coords_0"], ["coords_1"], {}))


@pytest.mark.parametrize("render,display,crop", [((20, 24), (40, 48), 8), ((20, 24), (30, 36), 8),
                                                  ((12, 16), (36, 48), 6)])
def test_upscaling_crops_are_aligned_and_references_display_size(tmp_path, render, display, crop):
    write_coordinate_dataset(tmp_path, render, display)
    ds = SequenceDataset(tmp_path, "train", crop=crop, frames=2, flips=True, storage="memory")
    (h, w), (hd, wd) = render, display
    sy, sx = hd / h, wd / w
    seen_flips, seen_origins = set(), set()
    for k in range(24):
        s = ds.sample(np.random.default_rng(k))
        c, ref = s["color"], s["reference"]
        dh, dw = round(crop * sy), round(crop * sx)
        assert c.shape == (2, 3, crop, crop) and ref.shape == (2, 3, dh, dw)
        assert s["display_hw"].tolist() == [dh, dw] and s["motion_px"].shape[-2:] == (crop, crop)
        fx, fy = bool(c[0, 1, 0, 0] > c[0, 1, 0, -1]), bool(c[0, 0, 0, 0] > c[0, 0, -1, 0])
        top, left = int(c[0, 0].min()), int(c[0, 1].min())  # the render crop's origin, whatever the flips
        t0 = int(c[0, 2, 0, 0])
        # the display crop is the same window of the scene: origin and size times the scale, mirrored alike
        want = torch.from_numpy(np.array(ds.block(0)["reference"][t0:t0 + 2], np.float32)).permute(0, 3, 1, 2)
        want = want[:, :, round(top * sy):round(top * sy) + dh, round(left * sx):round(left * sx) + dw]
        want = want.flip(-1) if fx else want
        assert torch.equal(ref, want.flip(-2) if fy else want)
        if not (fx or fy):  # and each display pixel holds the render pixel under its centre, in the render crop
            r_rows, r_cols = render_texel_index(dh, crop), render_texel_index(dw, crop)
            assert torch.equal(ref, c[:, :, r_rows][:, :, :, r_cols])
        seen_flips.add((fx, fy))
        seen_origins.add((top, left))
        assert torch.equal(s["jitter_px"][0], torch.tensor([-0.25 if fx else 0.25, 0.25 if fy else -0.25]))
    assert len(seen_flips) == 4 and len(seen_origins) > 4  # the test saw flips and many crop positions
    if crop_period(h, hd) > 1:  # 1.5x: crop origins are snapped to whole display pixels (even render pixels)
        assert all(top % 2 == 0 and left % 2 == 0 for top, left in seen_origins)


def test_a_crop_that_cannot_be_aligned_is_refused_naming_the_field(tmp_path):
    write_coordinate_dataset(tmp_path, (20, 24), (30, 36))
    with pytest.raises(InvalidArgument) as err:
        SequenceDataset(tmp_path, "train", crop=7, frames=2).sample(np.random.default_rng(0))
    assert err.value.field == "crop"
    assert crop_period(170, 256) == 85 and crop_period(128, 256) == 1


def test_the_synthetic_upscaling_dataset_has_display_references_and_its_phase_cycle(tmp_path):
    write_synthetic_upscale_dataset(tmp_path, sequences=2, frames=4, width=8, height=6, scale=2, spp=4)
    ds = SequenceDataset(tmp_path, "train", crop=4, frames=4, storage="memory")
    block = ds.block(0)
    assert block["color"].shape == (4, 6, 8, 3) and block["reference"].shape == (4, 12, 16, 3)
    assert np.array_equal(np.diff(block["phase"]) % 32, np.ones(3))  # 32 phases at 2x (FSR 2 rule), consecutive
    batch = collate([ds.sample(np.random.default_rng(k)) for k in range(3)])
    assert batch["reference"].shape == (3, 4, 3, 8, 8) and batch["display_hw"].tolist() == [[8, 8]] * 3


def test_native_samples_are_as_before(tmp_path):
    """Native sequences: no display_hw, references at the render crop, and the same values as cropping the
    block directly at the drawn position (the sampling path of native data is untouched)."""
    write_synthetic_dataset(tmp_path, sequences=2, frames=3, width=16, height=16, spp=4)
    ds = SequenceDataset(tmp_path, "train", crop=8, frames=2, storage="memory")
    ds.flips = True
    for seed in range(6):
        s = ds.sample(np.random.default_rng(seed))
        assert set(s) == {"color", "reference", "motion_px", "depth", "resets", "jitter_px", "phase"}
        assert s["reference"].shape == s["color"].shape == (2, 3, 8, 8)
        # the pre-upscaling sampling, step by step: sequence, window start, draw_params, apply_params
        rng = np.random.default_rng(seed)
        block = ds.block(int(rng.integers(0, len(ds))))
        start = int(rng.integers(0, 3 - 2 + 1))
        window = {k: block[k][start:start + 2] for k in ("color", "reference", "motion_px", "depth")}
        out = apply_params(window, draw_params(rng, 16, 16, 8, True, 0.0))
        for key in window:
            assert torch.equal(s[key], torch.from_numpy(out[key]).permute(0, 3, 1, 2)), key
