"""Augmentations (crop, flips with motion, exposure), the dataset index and the torch dataset."""

import os

import numpy as np
import pytest
import torch

from qwplugin.data.augment import AugmentParams, apply_params, draw_params
from qwplugin.data.dataset import SequenceDataset, collate
from qwplugin.data.index import read_index
from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.ops.warp import warp_backward


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_synthetic_dataset(root, sequences=3, frames=4, width=20, height=16, spp=4, seed=1)
    return root


def _scrolling_block(width=12, height=10, t=3, vx=1.0, vy=-1.0):
    """A pattern moving by an integer (vx, vy) per frame, with its exact motion (-vx, -vy)."""
    rng = np.random.default_rng(0)
    base = rng.random((height + 20, width + 20, 3)).astype(np.float32)
    frames = [base[10 - int(k * vy):10 - int(k * vy) + height, 10 - int(k * vx):10 - int(k * vx) + width]
              for k in range(t)]
    color = np.stack(frames)
    motion = np.empty((t, height, width, 2), np.float32)
    motion[..., 0], motion[..., 1] = -vx, -vy
    return {"color": color, "reference": color.copy(), "motion_px": motion,
            "depth": np.ones((t, height, width, 1), np.float32)}


@pytest.mark.parametrize("flip_x,flip_y", [(False, False), (True, False), (False, True), (True, True)])
def test_flipped_motion_still_warps_previous_onto_current(flip_x, flip_y):
    block = _scrolling_block()
    out = apply_params(block, AugmentParams(0, 0, 10, 12, flip_x, flip_y, 1.0))
    color = torch.from_numpy(out["color"]).permute(0, 3, 1, 2)
    motion = torch.from_numpy(out["motion_px"]).permute(0, 3, 1, 2)
    warped, valid = warp_backward(color[:-1], motion[1:])
    # Integer motion: where the sample stays inside the frame the warp is an exact copy.
    mask = valid.bool().expand_as(warped)
    assert mask.sum() > 0
    assert torch.equal(warped[mask], color[1:][mask])


def test_crop_and_exposure():
    block = _scrolling_block()
    out = apply_params(block, AugmentParams(2, 3, 5, 6, False, False, 4.0))
    assert out["color"].shape == (3, 5, 6, 3)
    np.testing.assert_array_equal(out["color"], block["color"][:, 2:7, 3:9] * np.float32(4.0))
    np.testing.assert_array_equal(out["reference"], block["reference"][:, 2:7, 3:9] * np.float32(4.0))
    np.testing.assert_array_equal(out["motion_px"], block["motion_px"][:, 2:7, 3:9])  # exposure leaves motion
    np.testing.assert_array_equal(out["depth"], block["depth"][:, 2:7, 3:9])


def test_draw_params_range_and_determinism():
    draws = [draw_params(np.random.default_rng([5, i]), 16, 20, 8, True, 1.0) for i in range(200)]
    assert all(0 <= p.top <= 8 and 0 <= p.left <= 12 and 0.5 <= p.exposure <= 2.0 for p in draws)
    assert {p.flip_x for p in draws} == {True, False} and {p.flip_y for p in draws} == {True, False}
    assert draw_params(np.random.default_rng([5, 3]), 16, 20, 8, True, 1.0) == draws[3]
    with pytest.raises(InvalidArgument, match="crop"):
        draw_params(np.random.default_rng(0), 16, 20, 17)


def test_index_holds_validation_scenes_out(tiny_root):
    index = read_index(tiny_root)
    train_scenes = {s.scene for s in index.split("train")}
    val_scenes = {s.scene for s in index.split("val")}
    assert val_scenes and train_scenes and not (train_scenes & val_scenes)
    assert set(index.validation_scenes) == val_scenes
    with pytest.raises(InvalidArgument):
        read_index(tiny_root / "nonexistent")


def test_dataset_samples(tiny_root):
    ds = SequenceDataset(tiny_root, "train", crop=8, frames=3, flips=True, exposure_log2_range=1.0, seed=2)
    assert len(ds) == 2
    item = ds[0]
    assert item["color"].shape == (3, 3, 8, 8) and item["motion_px"].shape == (3, 2, 8, 8)
    assert item["depth"].shape == (3, 1, 8, 8) and item["resets"].tolist() == [True, False, False]
    again = ds[0]
    assert all(torch.equal(item[k], again[k]) for k in item)  # seeded by (seed, index)
    a = collate([ds.sample(np.random.default_rng([1, 7])) for _ in range(2)])
    b = collate([ds.sample(np.random.default_rng([1, 7])) for _ in range(2)])
    assert a["color"].shape == (2, 3, 3, 8, 8) and all(torch.equal(a[k], b[k]) for k in a)
    val = SequenceDataset(tiny_root, "val")
    assert val[0]["color"].shape == (4, 3, 16, 20)
    with pytest.raises(InvalidArgument, match="frames"):
        SequenceDataset(tiny_root, "train", frames=9)[0]


def test_mmap_storage_is_bit_identical_shared_and_rebuilt_on_change(tmp_path):
    root = tmp_path / "data"
    write_synthetic_dataset(root, sequences=3, frames=4, width=20, height=16, spp=4, seed=3)
    kw = dict(crop=8, frames=3, flips=True, exposure_log2_range=1.0, seed=2)
    memory = SequenceDataset(root, "train", storage="memory", **kw)
    mapped = SequenceDataset(root, "train", **kw)  # default "mmap": decodes, writes the cache, maps it
    for i in range(len(memory)):
        a, b = memory.block(i), mapped.block(i)
        assert isinstance(b["color"], np.memmap) and b["color"].dtype == np.float16  # half EXR planes
        assert b["depth"].dtype == np.float32  # depth is a float32 plane: kept exact
        for k in a:
            np.testing.assert_array_equal(np.asarray(b[k], a[k].dtype), a[k])
    for s in range(5):
        x, y = memory.sample(np.random.default_rng([9, s])), mapped.sample(np.random.default_rng([9, s]))
        assert all(x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]) for k in x)
    # A second reader maps the cache written by the first (no decoding); a changed sequence is re-decoded.
    name = mapped.entries[0].name
    cache = root / ".cache" / name
    assert (cache / "meta.json").exists()
    stamp = (cache / "color.npy").stat().st_mtime_ns
    again = SequenceDataset(root, "train", **kw)
    again.block(0)
    assert (cache / "color.npy").stat().st_mtime_ns == stamp
    exr = sorted((root / name).glob("*.exr"))[0]
    os.utime(exr, ns=(exr.stat().st_atime_ns, exr.stat().st_mtime_ns + 10**9))
    SequenceDataset(root, "train", **kw).block(0)
    assert (cache / "color.npy").stat().st_mtime_ns != stamp
    with pytest.raises(InvalidArgument, match="storage"):
        SequenceDataset(root, "train", storage="disk")


def test_mmap_storage_falls_back_to_memory_when_the_folder_is_read_only(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_synthetic_dataset(root, sequences=3, frames=4, width=20, height=16, spp=4, seed=3)
    ds = SequenceDataset(root, "train")
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(PermissionError("read-only")))
    block = ds.block(0)
    assert not isinstance(block["color"], np.memmap) and block["color"].dtype == np.float32
    assert not list((root / ".cache").glob(".tmp_*"))
