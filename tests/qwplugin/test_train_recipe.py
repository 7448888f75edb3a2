"""The training recipe: schedules, EMA, truncated BPTT, bit-exact resume, curves, time budget."""

import json
import math

import pytest
import torch

from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.model import ModelConfig, build_model, run_sequence
from qwplugin.ops.colour import to_network
from qwplugin.train.checkpoint import load_checkpoint
from qwplugin.train.config import StageConfig, TrainConfig, load_config
from qwplugin.train.csvlog import CsvLog
from qwplugin.train.ema import WeightEMA
from qwplugin.train.evaluate import evaluate
from qwplugin.train.export import export_stage
from qwplugin.train.loop import _val_blocks, model_config_from, train
from qwplugin.train.loss import qwnet_loss


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe_data")
    write_synthetic_dataset(root, sequences=4, frames=10, width=24, height=24, spp=4, seed=5, val_sequences=1,
                            random_start_phase=True)
    return root


def recipe_config(root) -> TrainConfig:
    """The new recipe on the tiny model: warm-up + step decay, EMA, 2 windows of 3 frames per sample."""
    cfg = load_config("configs/tiny_test.json")
    cfg.data.root, cfg.data.crop, cfg.data.frames, cfg.data.chunks = str(root), 16, 3, 2
    cfg.ema_decay, cfg.checkpoint_every, cfg.eval_every, cfg.threads = 0.9, 2, 4, 1
    cfg.optimizer.name = "adam"  # Ranger's RAdam warm-up makes its first steps tiny: weights would barely move
    cfg.stages[0] = StageConfig("fp32", False, 8, 0.003, "step", warmup_steps=2, decay_every=3, decay_factor=0.5)
    cfg.stages[1] = StageConfig("int4", True, 4, 0.0005, "cosine", warmup_steps=1, final_lr=0.0001)
    return TrainConfig.from_dict(cfg.to_dict())


def test_schedules():
    warm_cos = StageConfig("a", False, 12, 1.0, "cosine", warmup_steps=2, final_lr=0.1)
    assert [warm_cos.lr_at(s) for s in (0, 1)] == [0.5, 1.0]
    assert warm_cos.lr_at(2) == 1.0 and warm_cos.lr_at(7) == pytest.approx(0.55) and warm_cos.lr_at(12) == 0.1
    step = StageConfig("b", False, 20, 1.0, "step", warmup_steps=4, decay_every=5, decay_factor=0.1, final_lr=0.005)
    assert [step.lr_at(s) for s in (3, 4, 8, 9, 14, 19)] == [1.0, 1.0, 1.0, pytest.approx(0.1),
                                                            pytest.approx(0.01), 0.005]
    base = load_config("configs/tiny_test.json").to_dict()
    for change, field in ((lambda d: d.update(ema_decay=1.0), "ema_decay"),
                          (lambda d: d["data"].update(chunks=0), "data.chunks"),
                          (lambda d: d["stages"][0].update(schedule="step"), "stages[0].decay_every"),
                          (lambda d: d.update(checkpoint_minutes=0), "checkpoint_minutes")):
        bad = json.loads(json.dumps(base))
        change(bad)
        with pytest.raises(InvalidArgument) as info:
            TrainConfig.from_dict(bad)
        assert info.value.field == field


def test_weight_ema_formula_and_swap():
    torch.manual_seed(0)
    model = build_model("tiny")
    ema = WeightEMA(model, 0.99)
    w0 = model.features.convs["enc0_0"].weight.detach().clone()
    expected = w0.clone()
    for n in range(3):
        with torch.no_grad():
            model.features.convs["enc0_0"].weight.add_(1.0)
        d = min(0.99, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * model.features.convs["enc0_0"].weight.detach()
        ema.update(model)
    assert torch.allclose(ema.shadow["features.convs.enc0_0.weight"], expected, atol=1e-6)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.applied(model):
        assert torch.equal(model.features.convs["enc0_0"].weight, ema.shadow["features.convs.enc0_0.weight"])
    assert all(torch.equal(raw[k], v) for k, v in model.state_dict().items())  # restored bit for bit
    with pytest.raises(InvalidArgument):
        WeightEMA(model, 1.0)


def test_carried_history_equals_one_long_unroll_and_blocks_the_gradient():
    """Two windows with the detached history carried give the long unroll's outputs and its loss terms."""
    torch.manual_seed(1)
    model = build_model(ModelConfig.preset("tiny"))
    g = torch.Generator().manual_seed(2)
    colors, refs = torch.rand(2, 6, 3, 8, 8, generator=g), torch.rand(2, 6, 3, 8, 8, generator=g)
    motion = (torch.rand(2, 6, 2, 8, 8, generator=g) - 0.5) * 2
    resets = torch.zeros(2, 6, dtype=torch.bool)
    full = run_sequence(model, colors, motion, resets, return_network_domain=True)
    first = run_sequence(model, colors[:, :3], motion[:, :3], resets[:, :3], return_network_domain=True)
    second_in = colors[:, 3:].clone().requires_grad_(True)
    carried = first[:, -1].detach()
    second = run_sequence(model, second_in, motion[:, 3:], resets[:, 3:], return_network_domain=True,
                          prev_output_nw=carried)
    assert torch.allclose(torch.cat([first, second], 1), full, atol=1e-6)
    # Without the carried history the second window restarts from a reset: different outputs.
    restarted = run_sequence(model, colors[:, 3:], motion[:, 3:], resets[:, 3:], return_network_domain=True)
    assert not torch.allclose(restarted[:, 0], second[:, 0], atol=1e-3)
    # The loss of the second window with the previous frame counts frame 3's temporal pair: the temporal
    # sums of the two windows add up to the long sequence's.
    ref_nw = to_network(refs)
    whole = qwnet_loss(full, ref_nw, motion, resets)
    a = qwnet_loss(first, ref_nw[:, :3], motion[:, :3], resets[:, :3])
    b = qwnet_loss(second, ref_nw[:, 3:], motion[:, 3:], resets[:, 3:], prev_out_nw=carried,
                   prev_ref_nw=ref_nw[:, 2])
    assert float(whole.temporal.detach()) == pytest.approx(
        (2 * float(a.temporal.detach()) + 3 * float(b.temporal.detach())) / 5, rel=1e-5)
    b.total.backward()
    assert second_in.grad is not None and all(p.grad is None or torch.isfinite(p.grad).all()
                                              for p in model.parameters())
    with pytest.raises(InvalidArgument):
        qwnet_loss(second, ref_nw[:, 3:], motion[:, 3:], resets[:, 3:], prev_out_nw=carried)


def _rows(path):
    return CsvLog(path, ["step"]).read()


def test_resume_halfway_repeats_the_straight_run_bit_for_bit(data_root, tmp_path):
    cfg = recipe_config(data_root)  # 8 FP32 + 4 QAT steps, 2 windows per sample, EMA
    straight = train(cfg, tmp_path / "straight", progress=False)
    assert straight["step"] == 12 and straight["stopped"] == "done"
    # N/2 steps, "killed" (the last checkpoint is at step 6, an episode end), then resumed to the end;
    # a second kill inside the QAT stage's first episode (step 9: back to the stage-end checkpoint at 8).
    half = train(cfg, tmp_path / "resumed", progress=False, stop_after=6)
    assert half["stopped"] == "stop_after" and load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 6
    train(cfg, tmp_path / "resumed", progress=False, stop_after=9)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 8
    train(cfg, tmp_path / "resumed", progress=False)

    a, b = _rows(tmp_path / "straight" / "train.csv"), _rows(tmp_path / "resumed" / "train.csv")
    assert [r["step"] for r in b] == [str(s) for s in range(1, 13)]
    assert [r["chunk"] for r in a] == ["0", "1"] * 6  # two windows per episode, restarting at the stage start
    for column in ("loss", "spatial", "temporal", "lr"):
        assert [r[column] for r in a] == [r[column] for r in b], column  # repr floats: bit for bit
    assert len({r["loss"] for r in a}) == 12  # the losses are not trivially equal
    ca, cb = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("straight", "resumed"))
    for key in ("model", "ema_model"):
        assert ca[key].keys() == cb[key].keys() and all(torch.equal(ca[key][k], cb[key][k]) for k in ca[key])
    assert not all(torch.equal(ca["model"][k], ca["ema_model"][k]) for k in ca["model"])
    for sa, sb in zip(ca["optimizer"]["state"].values(), cb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) if isinstance(sa[k], torch.Tensor) else sa[k] == sb[k] for k in sa)
    assert ca["ema_updates"] == cb["ema_updates"] == 4  # the QAT stage's EMA restarted at its start
    assert torch.equal(ca["rng"]["torch"], cb["rng"]["torch"])
    assert torch.equal(ca["rng"]["numpy"]["keys"], cb["rng"]["numpy"]["keys"])
    assert ca["rng"]["python"] == cb["rng"]["python"]
    ea, eb = _rows(tmp_path / "straight" / "eval.csv"), _rows(tmp_path / "resumed" / "eval.csv")
    assert [r["step"] for r in ea] == [r["step"] for r in eb] == ["4", "8", "12"]
    assert [r["val_psnr_db"] for r in ea] == [r["val_psnr_db"] for r in eb]


def test_validation_and_export_use_the_ema_and_the_curves_are_logged(data_root, tmp_path):
    cfg = recipe_config(data_root)
    cfg.stages = cfg.stages[:1]
    cfg.eval_flip = True
    train(cfg, tmp_path / "run", progress=False)
    stage = load_checkpoint(tmp_path / "run" / "stage_fp32.pt")
    figures = json.loads(stage["figures"])
    assert figures["weights"] == "ema" and "val_flip" in figures and 0 < figures["val_flip"] < 1
    # The logged PSNR is the EMA weights' (re-measured here), not the raw weights'.
    model = build_model(model_config_from(cfg.model))
    model.load_state_dict(stage["ema_model"])
    blocks = _val_blocks(cfg)
    assert evaluate(model, blocks).psnr_db == pytest.approx(figures["val_psnr_db"], abs=1e-3)
    model.load_state_dict(stage["model"])
    assert evaluate(model, blocks).psnr_db != pytest.approx(figures["val_psnr_db"], abs=1e-3)
    # Export writes the EMA weights and says so.
    from qwplugin.runtime.weights import load_weights_file

    path = export_stage(tmp_path / "run" / "stage_fp32.pt", tmp_path / "weights")
    loaded = load_weights_file(path)
    assert all(torch.equal(loaded.model.state_dict()[k], stage["ema_model"][k]) for k in stage["ema_model"])
    assert loaded.metadata["training"]["weights"].startswith("EMA")
    # Curves: eval.csv rows against steps and wall hours.
    rows = _rows(tmp_path / "run" / "eval.csv")
    assert [int(r["step"]) for r in rows] == [4, 8]
    hours = [float(r["wall_hours"]) for r in rows]
    assert 0 < hours[0] < hours[1] < 1 and all(0 < float(r["val_flip"]) < 1 for r in rows)
    assert all(math.isfinite(float(r["val_psnr_db"])) for r in rows)


def test_time_budget_stops_at_an_episode_end_with_an_exportable_checkpoint(data_root, tmp_path):
    cfg = recipe_config(data_root)
    cfg.eval_every = cfg.checkpoint_every = 1000
    result = train(cfg, tmp_path / "run", progress=False, time_budget_s=1e-3)
    assert result["stopped"] == "time_budget" and result["step"] == 2  # the first episode's end
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["step"] == 2 and json.loads(ckpt["figures"])["step"] == 2
    assert export_stage(tmp_path / "run" / "checkpoint.pt", tmp_path / "weights").exists()
    with pytest.raises(InvalidArgument):
        train(cfg, tmp_path / "run", progress=False, time_budget_s=0)


def test_init_from_warm_starts_from_a_stage_file_or_weights_file_and_refuses_another_model(data_root, tmp_path):
    cfg = recipe_config(data_root)
    cfg.stages = cfg.stages[:1]
    cfg.stages[0].steps = 2
    train(cfg, tmp_path / "source", progress=False)
    stage = load_checkpoint(tmp_path / "source" / "stage_fp32.pt")
    weights = export_stage(tmp_path / "source" / "stage_fp32.pt", tmp_path / "weights")

    # One step at a learning rate too small to matter: the warm-started run's first loss is the loss of
    # the source's EMA weights on that batch, not of a fresh initialisation.
    for init in (tmp_path / "source" / "stage_fp32.pt", weights):
        warm = TrainConfig.from_dict({**cfg.to_dict(), "init_from": str(init)})
        warm.stages[0].steps, warm.stages[0].lr, warm.stages[0].warmup_steps = 1, 1e-12, 0
        train(warm, tmp_path / f"warm_{init.suffix[1:]}", progress=False)
    cold = TrainConfig.from_dict(cfg.to_dict())
    cold.stages[0].steps, cold.stages[0].lr, cold.stages[0].warmup_steps = 1, 1e-12, 0
    train(cold, tmp_path / "cold", progress=False)
    loss = {d: float(_rows(tmp_path / d / "train.csv")[0]["loss"]) for d in ("warm_pt", "warm_safetensors", "cold")}
    assert loss["warm_pt"] == loss["warm_safetensors"] != loss["cold"]
    end = load_checkpoint(tmp_path / "warm_pt" / "checkpoint.pt")["model"]
    assert all(torch.allclose(end[k], stage["ema_model"][k], atol=1e-6) for k in stage["ema_model"])

    # Display-only output sharpening and the history warp change no layer: a run with them may start from
    # weights without them.
    sharp = TrainConfig.from_dict({**cfg.to_dict(), "init_from": str(weights)})
    sharp.model = {**sharp.model, "output_sharpen": 0.2, "history_warp": "catmull_rom"}
    sharp.stages[0].steps = 1
    assert train(sharp, tmp_path / "sharp", progress=False)["step"] == 1

    other = cfg.to_dict()
    other["model"] = {**other["model"], "use_depth": not model_config_from(cfg.model).use_depth}
    with pytest.raises(InvalidArgument) as info:
        train(TrainConfig.from_dict({**other, "init_from": str(weights)}), tmp_path / "other", progress=False)
    assert info.value.field == "init_from"
    with pytest.raises(InvalidArgument) as info:
        TrainConfig.from_dict({**cfg.to_dict(), "init_from": "weights.bin"})
    assert info.value.field == "init_from"
    with pytest.raises(InvalidArgument) as info:
        train(TrainConfig.from_dict({**cfg.to_dict(), "init_from": str(tmp_path / "missing.pt")}),
              tmp_path / "missing", progress=False)
    assert info.value.field == "init_from"
