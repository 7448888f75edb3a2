"""Compare training runs at the same step from their ``eval.csv`` (held-out validation figures).

    python scripts/ablation_table.py --step 1500 runs/qwnet_paper_cpu runs/ablation_qwnet_ip \
        runs/ablation_qwnet_depth --out docs/ablations.md

Every run must have evaluated at ``--step`` (same seed, data and schedule make the rows comparable: only
the model switch named in each run's config differs). Prints a markdown table; ``--out`` also writes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def run_row(run: Path, step: str) -> dict:
    """The evaluation of ``run`` at ``step`` (an int, ``last``, or ``STAGE`` = that stage's last evaluation)."""
    rows = list(csv.DictReader(open(run / "eval.csv")))
    if step.isdigit():
        rows = [r for r in rows if int(r["step"]) == int(step)]
    elif step != "last":
        rows = [r for r in rows if r["stage"] == step]
    if not rows:
        raise SystemExit(f"error: {run}/eval.csv has no evaluation at step {step}")
    model = json.loads((run / "config.json").read_text())["model"]
    switches = [k for k in ("input_processing", "use_depth") if model.get(k)]
    return {"run": run.name, "model": ", ".join(f"{k}" for k in switches) or "baseline (6 RGB channels)",
            "step": int(rows[-1]["step"]), "stage": rows[-1]["stage"],
            **{k: float(rows[-1][k]) for k in ("val_psnr_db", "val_temporal", "noaa_psnr_db", "noaa_temporal")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (first = the reference run)")
    ap.add_argument("--step", required=True,
                    help="global step to compare at, 'last', or a stage name (its last evaluation)")
    ap.add_argument("--out", type=Path, help="also write the markdown here")
    args = ap.parse_args(argv)
    rows = [run_row(r, args.step) for r in args.runs]
    base = rows[0]
    cmd = "python scripts/ablation_table.py --step {} {}".format(args.step, " ".join(str(r) for r in args.runs))
    lines = [f"Command: `{cmd}`", "",
             f"Validation at {'step ' if args.step.isdigit() else ''}{args.step} (held-out scene `mixed`, tonemapped domain; no-AA input: "
             f"{base['noaa_psnr_db']:.2f} dB, temporal error {base['noaa_temporal']:.4f}).", "",
             "| run | extra inputs | step (stage) | PSNR dB | vs first | temporal error | vs first |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['model']} | {r['step']} ({r['stage']}) | {r['val_psnr_db']:.2f} | {r['val_psnr_db'] - base['val_psnr_db']:+.2f} "
                     f"| {r['val_temporal']:.4f} | {r['val_temporal'] / base['val_temporal'] - 1:+.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, status 2/1 (qwplugin/cli.py)

    sys.exit(run_main(main))
