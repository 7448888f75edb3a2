"""Dataset generation: held-out scenes, determinism for a seed, resume after a kill, and training on it."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.dataset import default_val_scenes, generate_dataset, is_complete, plan_dataset
from qwplugin.data.index import read_index
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import read_sequence

pytestmark = pytest.mark.gl
SCENES = ["wires_fence", "specular", "mixed"]
ARGS = dict(sequences=3, frames=3, width=32, height=24, spp=4, seed=11, scenes=SCENES, progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    generate_dataset(root / "a", **ARGS)
    return root


def test_plan_holds_whole_scenes_out():
    entries = plan_dataset(["a", "b", "c", "d"], ["d"], sequences=8, val_sequences=2)
    assert [e.scene for e in entries if e.split == "val"] == ["d", "d"]
    assert {e.scene for e in entries if e.split == "train"} == {"a", "b", "c"}
    assert default_val_scenes(["x", "mixed", "y"]) == ["mixed"]
    assert default_val_scenes(["a", "b", "c", "d"]) == ["d"]
    with pytest.raises(InvalidArgument, match="validation scene"):
        plan_dataset(["a", "b"], ["z"], 4, 1)
    with pytest.raises(InvalidArgument):
        plan_dataset(["a", "b"], ["b"], 4, 4)


def test_index_and_sequences(dataset):
    index = read_index(dataset / "a")
    assert index.validation_scenes == ["mixed"]
    assert [(e.scene, e.split) for e in index.sequences] == [("specular", "train"), ("wires_fence", "train"),
                                                             ("mixed", "val")]
    for e in index.sequences:
        seq = read_sequence(dataset / "a" / e.name)
        assert seq.scene == e.scene and seq.color.shape == (3, 24, 32, 3) and seq.reference.shape == (3, 24, 32, 3)
        assert seq.spp == 4 and bool(seq.reset[0])
        assert np.isfinite(seq.color).all() and np.isfinite(seq.motion_px).all()
    assert not any(p.name.startswith(".tmp_") for p in (dataset / "a").iterdir())


def test_deterministic_and_resumable(dataset):
    # A second generation with the same seed, "killed" twice: one sequence missing, one half-written
    # into its temp folder. The command skips finished sequences and redoes the others identically.
    b = dataset / "b"
    shutil.copytree(dataset / "a", b)
    shutil.rmtree(b / "seq_0001")
    (b / "index.json").unlink()
    os.replace(b / "seq_0002", b / ".tmp_seq_0002")  # an interrupted sequence (renamed back is a full redo)
    (b / ".tmp_seq_0002" / "frame_0002.exr").unlink()
    kept = (b / "seq_0000" / "frame_0000.exr").stat().st_mtime_ns
    generate_dataset(b, **ARGS)
    assert (b / "seq_0000" / "frame_0000.exr").stat().st_mtime_ns == kept  # not re-rendered
    assert not (b / ".tmp_seq_0002").exists() and is_complete(b / "seq_0002", 3)
    assert read_index(b).to_dict() == read_index(dataset / "a").to_dict()
    for name in ("seq_0001", "seq_0002"):
        sa, sb = read_sequence(dataset / "a" / name), read_sequence(b / name)
        for field in ("color", "reference", "motion_px", "depth_view", "jitter_px", "time_s"):
            np.testing.assert_array_equal(getattr(sa, field), getattr(sb, field), err_msg=f"{name} {field}")


@pytest.mark.slow
def test_cli_then_training_a_tiny_model(tmp_path):
    root = tmp_path / "ds"
    cmd = [sys.executable, "-m", "engine_bridge.dataset", "--out", str(root), "--sequences", "3", "--frames", "4",
           "--size", "32x32", "--spp", "4", "--seed", "3", "--scenes", "wires_fence,specular,mixed"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 validation" in proc.stdout

    # Training runs in its own process: importing torch.optim (-> torch._dynamo -> triton) in a process
    # that has loaded Mesa's llvmpipe crashes (two LLVMs); the training CLI never loads OpenGL.
    cfg = json.loads(Path("configs/tiny_test.json").read_text())
    cfg["data"]["root"] = str(root)
    cfg["optimizer"]["name"] = "adam"
    cfg["stages"] = [{"name": "fp32", "quantized": False, "steps": 16, "lr": 0.01, "schedule": "flat"}]
    cfg["eval_every"] = 8
    (tmp_path / "tiny.json").write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "qwplugin.train", "--config", str(tmp_path / "tiny.json"),
                           "--out", str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "run" / "eval.csv") as f:
        evals = list(csv.DictReader(f))
    assert [int(r["step"]) for r in evals] == [8, 16]
    # Validation loss on the held-out rendered scene goes down over the 16 steps.
    assert float(evals[-1]["val_loss"]) < float(evals[0]["val_loss"])
