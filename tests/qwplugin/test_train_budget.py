"""Fitting a config to a wall-time budget (scripts/device/train.sh) and exporting a budgeted run."""

import json

import pytest

from qwplugin.errors import InvalidArgument
from qwplugin.train.budget import EVALUATIONS, QAT_COST, SAFETY, export_latest, fit_config, measure_probe
from qwplugin.train.csvlog import CsvLog
from qwplugin.train.loop import EVAL_COLUMNS, TRAIN_COLUMNS


def test_fit_keeps_the_split_and_fits_the_budget():
    base = {"eval_every": 500, "checkpoint_every": 50,
            "stages": [{"name": "fp32", "quantized": False, "steps": 9000, "warmup_steps": 900},
                       {"name": "int4", "quantized": True, "steps": 1000, "warmup_steps": 100}]}
    step_s, eval_s, budget = 0.05, 2.0, 300.0
    fit = fit_config(base, step_s, eval_s, budget)
    fp32, int4 = (s["steps"] for s in fit["stages"])
    planned = (fp32 + QAT_COST * int4) * step_s + (EVALUATIONS + 2) * eval_s
    assert SAFETY * budget - step_s * (1 + QAT_COST) <= planned <= SAFETY * budget  # fills the planned share
    assert fp32 / int4 == pytest.approx(9, rel=0.02)
    assert [s["warmup_steps"] for s in fit["stages"]] == [round(900 * fp32 / 9000), round(100 * int4 / 1000)]
    assert fit["eval_every"] == (fp32 + int4) // EVALUATIONS and fit["checkpoint_every"] == 50
    assert base["stages"][0]["steps"] == 9000  # the input is not modified
    tiny = fit_config(base, 10.0, 100.0, 30.0)  # hopeless budget: the minimum, not zero or negative
    assert [s["steps"] for s in tiny["stages"]] == [4, 4]
    with pytest.raises(InvalidArgument):
        fit_config(base, 0.0, 1.0, 10.0)
    with pytest.raises(InvalidArgument):
        fit_config({"stages": []}, 1.0, 1.0, 10.0)


def test_measure_probe(tmp_path):
    train = CsvLog(tmp_path / "train.csv", TRAIN_COLUMNS)
    for step, seconds in enumerate([5.0, 0.2, 0.3, 0.25], start=1):
        train.append({"step": step, "seconds": seconds})
    ev = CsvLog(tmp_path / "eval.csv", EVAL_COLUMNS)
    ev.append({"step": 4, "train_seconds": 5.75, "wall_hours": (5.75 + 3.0) / 3600})
    step_s, eval_s = measure_probe(tmp_path)
    assert step_s == 0.25 and eval_s == pytest.approx(3.0)  # the first (warm-up) step is left out
    with pytest.raises(InvalidArgument):
        measure_probe(tmp_path / "none")


def test_export_latest_adds_the_unfinished_stage(tmp_path):
    from qwplugin.data.synthetic import write_synthetic_dataset
    from qwplugin.train.config import load_config
    from qwplugin.train.loop import train

    write_synthetic_dataset(tmp_path / "data", sequences=3, frames=4, width=16, height=16, spp=1, seed=2)
    cfg = load_config("configs/tiny_test.json")
    cfg.data.root, cfg.data.crop = str(tmp_path / "data"), 16
    cfg.stages[0].steps, cfg.stages[1].steps, cfg.eval_every, cfg.checkpoint_every = 2, 4, 3, 1
    train(cfg, tmp_path / "run", progress=False, stop_after=3)  # fp32 done, int4 stopped at its eval (step 3)
    paths = export_latest(tmp_path / "run", tmp_path / "w")
    assert sorted(p.name for p in paths) == ["qwnet-fp32.safetensors", "qwnet-int4.safetensors"]
    meta = json.loads((tmp_path / "w" / "manifest.json").read_text())["files"]
    # The int4 stage also writes its float QAT state dict (for fine-tuning) next to the integer program.
    assert set(meta) == {"qwnet-fp32.safetensors", "qwnet-int4.safetensors", "qwnet-int4-qat.safetensors"}
    with pytest.raises(InvalidArgument):
        export_latest(tmp_path / "empty", tmp_path / "w")
