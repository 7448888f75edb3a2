"""Training runs: the loss goes down, kill-and-resume equals an uninterrupted run, CSV logs, stages."""

import json

import pytest
import torch

from qwplugin.data.dataset import SequenceDataset, to_tensors
from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.model.build import build_model
from qwplugin.quant.switch import is_quantized, set_quantized
from qwplugin.train.checkpoint import load_checkpoint
from qwplugin.train.config import TrainConfig, load_config
from qwplugin.train.csvlog import CsvLog
from qwplugin.train.evaluate import evaluate
from qwplugin.train.loop import model_config_from, train


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_data")
    write_synthetic_dataset(root, sequences=3, frames=4, width=32, height=32, spp=4, seed=3)
    return root


def tiny_config(root, **overrides) -> TrainConfig:
    cfg = load_config("configs/tiny_test.json")  # the shipped tiny config, pointed at the test data
    cfg.data.root = str(root)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def test_tiny_training_reduces_the_loss(data_root, tmp_path):
    cfg = tiny_config(data_root)
    cfg.optimizer.name = "adam"  # Ranger's RAdam warm-up makes its first steps tiny
    cfg.stages = cfg.stages[:1]
    # 100 steps (~4 s): on the synthetic data the tiny model drops the loss by ~16% (by ~2-9% in 24-60 steps,
    # too close to noise); a broken loop (no update, wrong sign, detached recurrence) leaves it flat or worse.
    cfg.stages[0].steps, cfg.stages[0].lr, cfg.stages[0].schedule = 100, 0.01, "flat"
    cfg.eval_every = cfg.checkpoint_every = 100
    result = train(cfg, tmp_path / "run", progress=False)
    assert result["step"] == 100
    # The loss on the training sequences (full frames, all 4 frames, recurrent) before and after.
    ds = SequenceDataset(data_root, "train")
    blocks = [to_tensors(ds.block(i)) for i in range(len(ds))]
    torch.manual_seed(cfg.seed)
    initial = build_model(model_config_from(cfg.model))  # the same seeded initialisation as the run
    trained = build_model(model_config_from(cfg.model))
    trained.load_state_dict(load_checkpoint(tmp_path / "run" / "stage_fp32.pt")["model"])
    fig_before, fig_after = evaluate(initial, blocks), evaluate(trained, blocks)
    before, after = fig_before.loss, fig_after.loss
    assert after < 0.9 * before, (before, after)
    assert fig_after.psnr_db > fig_before.psnr_db + 1.0, (fig_before.psnr_db, fig_after.psnr_db)
    rows = CsvLog(tmp_path / "run" / "train.csv", ["step"]).read()
    assert [int(r["step"]) for r in rows] == list(range(1, 101))


def _tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_kill_and_resume_equals_uninterrupted_run(data_root, tmp_path):
    cfg = tiny_config(data_root)  # 8 FP32 + 4 int4 steps, checkpoint every 3, eval every 6
    full = train(cfg, tmp_path / "full", progress=False)
    assert full["step"] == 12
    # "Kill" after step 5 (last checkpoint at 3: steps 4-5 are lost), then after step 10 (inside QAT).
    part = train(cfg, tmp_path / "resumed", progress=False, stop_after=5)
    assert part["step"] == 5 and load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 3
    train(cfg, tmp_path / "resumed", progress=False, stop_after=10)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 9
    train(cfg, tmp_path / "resumed", progress=False)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert a["step"] == b["step"] == 12
    # Exact: same seed, same batches from (seed, step), same thread count -> bit-identical weights.
    assert _tensors_equal(a["model"], b["model"])
    for name in ("fp32", "int4"):
        sa = load_checkpoint(tmp_path / "full" / f"stage_{name}.pt")
        sb = load_checkpoint(tmp_path / "resumed" / f"stage_{name}.pt")
        assert _tensors_equal(sa["model"], sb["model"]) and sa["figures"] == sb["figures"]
    # Optimizer state (Ranger moments and Lookahead slow weights) too.
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) if isinstance(sa[k], torch.Tensor) else sa[k] == sb[k] for k in sa)
    # Logs: the redone steps replace the lost ones; one row per step, same values.
    rows_a = CsvLog(tmp_path / "full" / "train.csv", ["step"]).read()
    rows_b = CsvLog(tmp_path / "resumed" / "train.csv", ["step"]).read()
    assert [r["step"] for r in rows_b] == [str(s) for s in range(1, 13)]
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]
    evals = CsvLog(tmp_path / "resumed" / "eval.csv", ["step"]).read()
    assert [int(r["step"]) for r in evals] == [6, 8, 12]
    assert all(float(r["val_psnr_db"]) > 0 and float(r["noaa_psnr_db"]) > 0 for r in evals)


def test_stage_two_is_quantized_and_starts_from_stage_one(data_root, tmp_path):
    cfg = tiny_config(data_root)
    train(cfg, tmp_path / "run", progress=False)
    fp32 = load_checkpoint(tmp_path / "run" / "stage_fp32.pt")
    int4 = load_checkpoint(tmp_path / "run" / "stage_int4.pt")
    assert (fp32["quantized"], fp32["step"]) == (False, 8) and (int4["quantized"], int4["step"]) == (True, 12)
    model = build_model(model_config_from(cfg.model))
    model.load_state_dict(int4["model"])
    # Clipping maxima were calibrated then trained: they moved away from their initial 1.0.
    max_logs = [v for k, v in int4["model"].items() if k.endswith("max_log")]
    assert max_logs and any(abs(float(v)) > 1e-3 for v in max_logs)
    # Stage 2 trained on: its conv weights differ from stage 1's final ones.
    assert any(not torch.equal(fp32["model"][k], int4["model"][k]) for k in fp32["model"] if k.endswith("weight"))
    assert is_quantized(set_quantized(model, True))


def test_resume_refuses_a_different_model(data_root, tmp_path):
    from qwplugin.errors import InvalidArgument

    cfg = tiny_config(data_root)
    train(cfg, tmp_path / "run", progress=False, stop_after=3)
    cfg.model = {"preset": "tiny", "kind": "unet"}
    with pytest.raises(InvalidArgument, match="different model"):
        train(cfg, tmp_path / "run", progress=False)


def test_unet_baseline_trains_with_the_same_command(data_root, tmp_path):
    import subprocess
    import sys

    cfg_path = tmp_path / "unet.json"
    raw = json.loads(open("configs/tiny_test.json").read())
    raw["model"]["kind"] = "unet"
    raw["data"]["root"] = str(data_root)
    raw["stages"][0]["steps"], raw["stages"][1]["steps"] = 3, 3
    cfg_path.write_text(json.dumps(raw))
    proc = subprocess.run([sys.executable, "-m", "qwplugin.train", "--config", str(cfg_path), "--out",
                           str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["step"] == 6
    assert load_checkpoint(tmp_path / "run" / "stage_int4.pt")["model_config"]["kind"] == "unet"


def test_kernel_logit_penalty_keeps_logits_small(data_root, tmp_path):
    logit_sq = {}
    for penalty in (0.0, 1.0):
        cfg = tiny_config(data_root)
        cfg.optimizer.name = "adam"
        cfg.stages = cfg.stages[:1]
        cfg.stages[0].steps, cfg.stages[0].lr, cfg.stages[0].schedule = 30, 0.02, "flat"
        cfg.kernel_logit_penalty = penalty
        train(cfg, tmp_path / f"run{penalty}", progress=False)
        rows = CsvLog(tmp_path / f"run{penalty}" / "train.csv", ["step"]).read()
        logit_sq[penalty] = [float(r["logit_sq"]) for r in rows]
    # Same seed and batches: step 1 sees the same logits; then the penalty pulls them down.
    assert logit_sq[0.0][0] == pytest.approx(logit_sq[1.0][0]) and logit_sq[0.0][0] > 0
    assert sum(logit_sq[1.0][-10:]) < 0.5 * sum(logit_sq[0.0][-10:]), (logit_sq[0.0][-10:], logit_sq[1.0][-10:])
    cfg = tiny_config(data_root)
    cfg.kernel_logit_penalty = -1.0
    from qwplugin.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="kernel_logit_penalty"):
        TrainConfig.from_dict(cfg.to_dict())


def test_kernel_logit_penalty_stages_reach_only_the_named_stages(data_root):
    from qwplugin.errors import InvalidArgument
    from qwplugin.train.loop import Trainer

    cfg = tiny_config(data_root, kernel_logit_penalty=1.0, kernel_logit_penalty_stages=["down0"])
    trainer = Trainer(cfg, device="cpu", progress=False)
    trainer.model = build_model(model_config_from(cfg.model))
    trainer._watch_kernel_logits()
    block = to_tensors(SequenceDataset(data_root, "train").block(0))
    trainer._collect_logits = True
    trainer.model(block["color"][:1], block["color"][:1], block["depth"][:1])
    trainer._collect_logits = False
    recorded = {name: float(v.detach()) for name, v in trainer._logit_sq}
    logged, penalised = trainer._kernel_logit_terms()
    assert "down0" in recorded and len(recorded) > 2
    assert float(logged) == pytest.approx(sum(recorded.values()) / len(recorded))
    assert float(penalised) == pytest.approx(recorded["down0"])
    penalised.backward()
    filt = trainer.model.filter
    for name, conv in list(filt.down.items()) + list(filt.up.items()):
        grad = conv.weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == (name == "down0"), name
    for bad in ([], ["mid3"], "down0"):
        raw = cfg.to_dict()
        raw["kernel_logit_penalty_stages"] = bad
        with pytest.raises(InvalidArgument, match="kernel_logit_penalty_stages"):
            TrainConfig.from_dict(raw)
