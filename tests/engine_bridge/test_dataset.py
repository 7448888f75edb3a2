"""Dataset generation: held-out scenes, the scene sets kept apart, random start phases, determinism for a
seed, resume after a kill, and training on it."""

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
from engine_bridge.dataset import (default_scenes, default_val_scenes, generate_dataset, is_complete, plan_dataset,
                                   sequence_settings)
from engine_bridge.scene import sets
from qwplugin.data.index import read_index
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import read_sequence
from qwplugin.ops.halton import jitter_offset_px

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


def test_default_scenes_come_from_the_sets():
    assert default_scenes() == [*sets.TRAINING_GENERATORS, *sets.VALIDATION_GENERATORS]
    assert default_val_scenes(default_scenes()) == list(sets.VALIDATION_GENERATORS) == ["mixed"]
    entries = plan_dataset(default_scenes(), default_val_scenes(default_scenes()), sequences=16, val_sequences=2)
    assert {e.scene for e in entries if e.split == "train"} == set(sets.TRAINING_GENERATORS)
    assert {e.scene for e in entries if e.split == "val"} == {"mixed"}


def test_sets_stay_apart(tmp_path):
    test_file = str(sets.TEST_SCENE_DIR / "brick_plaza.json")
    assert sets.split_of(test_file) == "test"
    with pytest.raises(InvalidArgument, match="test-set"):  # as a training scene
        plan_dataset(["wires_fence", "specular", test_file], ["specular"], 4, 1)
    with pytest.raises(InvalidArgument, match="test-set"):  # as the val split
        plan_dataset(["wires_fence", test_file], [test_file], 4, 1)
    with pytest.raises(InvalidArgument, match="validation-set"):  # mixed pushed into the train split
        plan_dataset(["wires_fence", "mixed"], ["wires_fence"], 4, 1)
    with pytest.raises(InvalidArgument, match="test-set"):  # refused before anything is rendered
        generate_dataset(tmp_path / "t", **{**ARGS, "scenes": ["wires_fence", test_file, "mixed"]})
    with pytest.raises(InvalidArgument, match="seed") as err:
        generate_dataset(tmp_path / "v", **{**ARGS, "seed": sets.VALIDATION_SEED})
    assert err.value.field == "--seed"
    with pytest.raises(InvalidArgument, match="seed"):
        sequence_settings("specular", sets.VALIDATION_SEED, 0)
    assert not (tmp_path / "t").exists() and not (tmp_path / "v").exists()


def test_start_phases_are_drawn_per_sequence_and_cover_the_cycle():
    from engine_bridge.scene.loader import load_scene

    phases = []
    for i in range(160):
        _, start, phase = sequence_settings("specular", 11, i)
        # drawn from the sequence's own generator, after the scene and the start time
        rng = np.random.default_rng([11, i])
        load_scene("specular", rng=rng)
        assert start == rng.uniform(0.0, 4.0) and phase == rng.integers(0, 16)
        phases.append(phase)
    counts = np.bincount(phases, minlength=16)
    # every phase starts some sequence, so (start + k) % 16 takes every value at every frame position k;
    # 160 uniform draws: 10 expected per phase (measured 4..18 for this seed)
    assert counts.size == 16 and counts.min() >= 2 and counts.max() <= 24, counts
    assert sequence_settings("specular", 11, 5)[2] == phases[5]  # deterministic


def test_index_and_sequences(dataset):
    index = read_index(dataset / "a")
    assert index.validation_scenes == ["mixed"]
    assert [(e.scene, e.split) for e in index.sequences] == [("specular", "train"), ("wires_fence", "train"),
                                                             ("mixed", "val")]
    assert index.generator["mip_bias"] == -1.0 and index.generator["phase_count"] == 16
    for i, e in enumerate(index.sequences):
        seq = read_sequence(dataset / "a" / e.name)
        assert seq.scene == e.scene and seq.color.shape == (3, 24, 32, 3) and seq.reference.shape == (3, 24, 32, 3)
        assert seq.spp == 4 and bool(seq.reset[0])
        assert np.isfinite(seq.color).all() and np.isfinite(seq.motion_px).all()
        # recorded: biases (input -1, reference 0 with -log2(2) per sub-sample of 2x2), the start phase,
        # and frame k at Halton phase (start + k) % 16
        assert (seq.input_mip_bias, seq.reference_mip_bias, seq.reference_sample_mip_bias) == (-1.0, 0.0, -1.0)
        start = sequence_settings(e.scene, ARGS["seed"], i)[2]
        assert seq.jitter_start_phase == start and seq.jitter_phase_count == 16
        assert seq.jitter_phase.tolist() == [(start + k) % 16 for k in range(3)]
        np.testing.assert_array_equal(seq.jitter_px, [jitter_offset_px((start + k) % 16) for k in range(3)])
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


def test_resume_redoes_sequences_rendered_with_other_settings(dataset):
    # a finished sequence from before the mip bias was recorded (or with another bias) is not reused
    c = dataset / "c"
    shutil.copytree(dataset / "a", c)
    meta_path = c / "seq_0000" / "sequence.json"
    meta = json.loads(meta_path.read_text())
    del meta["input_mip_bias"]
    meta_path.write_text(json.dumps(meta))
    assert is_complete(c / "seq_0000", 3) and not is_complete(c / "seq_0000", 3, {"input_mip_bias": -1.0})
    kept = (c / "seq_0001" / "frame_0000.exr").stat().st_mtime_ns
    generate_dataset(c, **ARGS)
    assert json.loads(meta_path.read_text())["input_mip_bias"] == -1.0  # re-rendered
    assert (c / "seq_0001" / "frame_0000.exr").stat().st_mtime_ns == kept  # same settings: reused


@pytest.mark.slow
def test_cli_then_training_a_tiny_model(tmp_path):
    root = tmp_path / "ds"
    cmd = [sys.executable, "-m", "engine_bridge.dataset", "--out", str(root), "--sequences", "3", "--frames", "4",
           "--size", "32x32", "--spp", "4", "--seed", "3", "--scenes", "wires_fence,specular,mixed",
           "--mip-bias", "-0.5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 validation" in proc.stdout
    assert read_sequence(root / "seq_0000").input_mip_bias == -0.5
    slow = [sys.executable, "-m", "engine_bridge.dataset", "--out", str(tmp_path / "fps"), "--sequences", "2",
            "--frames", "2", "--size", "16x16", "--spp", "1", "--scenes", "specular,mixed"]
    proc = subprocess.run(slow + ["--fps", "24"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((tmp_path / "fps" / "seq_0000" / "sequence.json").read_text())
    assert meta["fps"] == 24.0  # --fps reaches the renderer and the record
    for fps in ("0", "nan"):
        refused = subprocess.run(slow + ["--fps", fps], capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "fps" in refused.stderr
    bad = subprocess.run(cmd[:-2] + ["--seed", str(sets.VALIDATION_SEED)], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "seed" in bad.stderr

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
