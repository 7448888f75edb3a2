"""Fit a training config to a wall-time budget, and export whatever a budgeted run produced.

Used by ``scripts/device/train.sh`` (train for a fixed wall time on a lent GPU machine, or on a CPU with
a tiny budget)::

    python -m qwplugin.train.budget fit --config BASE.json --probe RUN_DIR --budget-s 300 --data DIR --out CFG.json
    python -m qwplugin.train.budget export --run RUN_DIR --out WEIGHTS_DIR

``fit`` reads a short probe run of the same config (``train.csv`` seconds per step, ``eval.csv`` cost of
one evaluation) and rescales the stages so that the whole run fits the budget: the FP32 / QAT split of
the base config is kept, QAT steps are counted ``QAT_COST`` times an FP32 step (fake-quant), warm-ups
and the evaluation interval scale with the steps, about :data:`EVALUATIONS` evaluations are planned, and
:data:`SAFETY` of the budget is used. The
schedule then ends (cosine to its final LR) inside the budget instead of being cut off by it.

``export`` writes every finished stage and, when the run stopped inside a stage, the checkpoint of that
stage (labelled with its step and last figures), via :mod:`qwplugin.train.export`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from qwplugin.cli import command, prog_name
from qwplugin.errors import InvalidArgument

QAT_COST = 1.4
"""Cost of a fake-quant (QAT) step relative to an FP32 step (measured ~1.45 on the CPU dev machine)."""
EVALUATIONS = 6
"""Evaluations planned over a fitted run (the curve's points)."""
MIN_STEPS = 4
"""A fitted run trains at least this many steps per stage."""
SAFETY = 0.9
"""Fraction of the budget planned for (step times drift; the time budget then stops the run anyway)."""


def measure_probe(run_dir: str | Path) -> tuple[float, float]:
    """(seconds per training step, seconds per evaluation) of a probe run.

    The step time is the median of the logged steps after the first (which holds one-off costs); the
    evaluation time is wall time minus training time at the first evaluation row.

    Raises:
        InvalidArgument: no train.csv with at least two steps.
    """
    run = Path(run_dir)
    try:
        with (run / "train.csv").open(newline="") as f:
            seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError) as exc:
        raise InvalidArgument(f"no readable train.csv in {run}", field="probe", expected="a probe run folder",
                              actual=str(exc)) from None
    if len(seconds) < 2:
        raise InvalidArgument("the probe run logged fewer than 2 steps", field="probe", expected=">= 2 steps",
                              actual=str(len(seconds)))
    step_s = statistics.median(seconds[1:])
    eval_s = 0.0
    eval_csv = run / "eval.csv"
    if eval_csv.is_file():
        with eval_csv.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and rows[0].get("wall_hours"):
            eval_s = max(0.0, 3600.0 * float(rows[0]["wall_hours"]) - float(rows[0]["train_seconds"]))
    return step_s, eval_s


def fit_config(raw: dict[str, Any], step_s: float, eval_s: float, budget_s: float) -> dict[str, Any]:
    """A copy of the JSON training config ``raw`` with stage steps fitted to ``budget_s`` seconds.

    Args:
        raw: a training config as parsed JSON (see :mod:`qwplugin.train.config`).
        step_s: seconds per FP32 training step; eval_s: seconds per evaluation.
        budget_s: wall seconds the training run may take (startup excluded).

    Returns:
        The fitted config: each stage's ``steps`` (at least :data:`MIN_STEPS`), ``warmup_steps`` scaled
        alike, ``eval_every`` and ``checkpoint_every`` set for about :data:`EVALUATIONS` evaluations.

    Raises:
        InvalidArgument: non-positive times or budget, or no stage.

    Examples:
        >>> cfg = {"stages": [{"name": "fp32", "quantized": False, "steps": 900, "warmup_steps": 90},
        ...                   {"name": "int4", "quantized": True, "steps": 100, "warmup_steps": 10}]}
        >>> fit = fit_config(cfg, step_s=0.1, eval_s=1.0, budget_s=120.0)
        >>> [s["steps"] for s in fit["stages"]], fit["eval_every"]
        ([865, 96], 160)
    """
    if not (step_s > 0 and eval_s >= 0 and budget_s > 0):
        raise InvalidArgument("times and budget must be positive", field="budget",
                              expected="step_s > 0, eval_s >= 0, budget_s > 0",
                              actual=f"step_s={step_s}, eval_s={eval_s}, budget_s={budget_s}")
    stages = raw.get("stages") or []
    if not stages:
        raise InvalidArgument("config has no stages", field="stages", expected=">= 1 stage", actual="none")
    out = json.loads(json.dumps(raw))
    weights = [s["steps"] * (QAT_COST if s.get("quantized") else 1.0) for s in stages]
    train_budget = SAFETY * budget_s - (EVALUATIONS + len(stages)) * eval_s  # stage ends evaluate too
    cost_units = max(train_budget, 0.0) / step_s                    # FP32-step equivalents that fit
    scale = cost_units / sum(weights)
    total = 0
    for stage, original in zip(out["stages"], stages):
        steps = max(MIN_STEPS, int(math.floor(original["steps"] * scale)))
        stage["warmup_steps"] = min(steps - 1, int(round(original.get("warmup_steps", 0) * steps
                                                         / max(1, original["steps"]))))
        stage["steps"] = steps
        total += steps
    out["eval_every"] = max(1, total // EVALUATIONS)
    out["checkpoint_every"] = max(1, min(out.get("checkpoint_every", total), out["eval_every"]))
    return out


def export_latest(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Export every finished stage of a run and, if it stopped inside a stage, that stage's checkpoint.

    Returns:
        The written weights files.

    Raises:
        InvalidArgument: the run has neither a finished stage nor a checkpoint with figures.
    """
    from qwplugin.train.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from qwplugin.train.export import export_stage

    run = Path(run_dir)
    written = [export_stage(f, out_dir) for f in sorted(run.glob("stage_*.pt"))]
    finished = {p.stem.split("_", 1)[1] for p in run.glob("stage_*.pt")}
    ckpt = load_checkpoint(run / CHECKPOINT_NAME)
    if ckpt is not None and ckpt["stage"] not in finished:
        written.append(export_stage(run / CHECKPOINT_NAME, out_dir))
    if not written:
        raise InvalidArgument("nothing to export", field="run", expected="stage_*.pt or checkpoint.pt",
                              actual=str(run))
    return written


def _read_config(path: str) -> dict[str, Any]:
    """The training config JSON at ``path`` as a dict.

    Raises:
        InvalidArgument: no such file, or not JSON.
    """
    if not Path(path).is_file():
        raise InvalidArgument("no config file", field="--config", expected="a JSON file", actual=str(path))
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{path} is not valid JSON: {exc}", field="--config") from exc


@command("qw-train-budget")
def main(argv: list[str] | None = None) -> int:
    """``fit`` or ``export``. Returns the exit status (errors are reported by :mod:`qwplugin.cli`)."""
    parser = argparse.ArgumentParser(prog=prog_name("qw-train-budget", "qwplugin.train.budget"),
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a config's steps to a wall-time budget from a probe run")
    fit.add_argument("--config", required=True, help="base training config JSON")
    fit.add_argument("--probe", required=True, help="folder of a short run of the same config")
    fit.add_argument("--budget-s", type=float, required=True, help="seconds the fitted run may train")
    fit.add_argument("--data", default=None, help="dataset folder (data.root)")
    fit.add_argument("--name", default=None, help="run name")
    fit.add_argument("--out", required=True, help="fitted config JSON to write")
    exp = sub.add_parser("export", help="export finished stages and an unfinished stage's checkpoint")
    exp.add_argument("--run", required=True)
    exp.add_argument("--out", required=True, help="weights folder")
    args = parser.parse_args(argv)
    if args.command == "fit":
        raw = _read_config(args.config)
        step_s, eval_s = measure_probe(args.probe)
        fitted = fit_config(raw, step_s, eval_s, args.budget_s)
        if args.data:
            fitted["data"]["root"] = args.data
        if args.name:
            fitted["name"] = args.name
        Path(args.out).write_text(json.dumps(fitted, indent=1))
        steps = " + ".join(f"{s['steps']} {s['name']}" for s in fitted["stages"])
        print(f"probe: {step_s:.3f} s/step, {eval_s:.1f} s/evaluation -> {steps} steps in "
              f"{args.budget_s:.0f} s (eval every {fitted['eval_every']})")
    else:
        for path in export_latest(args.run, args.out):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
