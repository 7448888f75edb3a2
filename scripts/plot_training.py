"""Plot training curves (validation PSNR, FLIP, temporal error) of one or more runs against steps and wall hours.

Usage::

    python scripts/plot_training.py runs/qwnet_paper_cpu runs/qwnet_fast_cpu --out docs/img/training_curves.png
    python scripts/plot_training.py runs/* --out curves.png --reference "TAA=28.22"

Reads each run folder's ``eval.csv`` (written by :mod:`qwplugin.train.loop`: one row per evaluation with
``step``, ``stage``, ``val_psnr_db``, ``val_temporal``, ``val_flip`` (optional), ``noaa_psnr_db`` and
``wall_hours``). Rows: PSNR, then FLIP when any run logged it, then temporal error; columns: against
steps, against wall hours. The no-AA input's PSNR is drawn dashed per run (it is a property of the
validation data); ``--reference NAME=DB`` adds a horizontal PSNR line (e.g. TAA's from an evaluation
report). Stage changes (FP32 -> QAT) show as markers of another shape.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Curves:
    """The evaluations of one run (lists of equal length; ``flip`` entries may be None)."""

    name: str
    step: list[int] = field(default_factory=list)
    hours: list[float] = field(default_factory=list)
    stage: list[str] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    temporal: list[float] = field(default_factory=list)
    flip: list[float | None] = field(default_factory=list)
    noaa_psnr: list[float] = field(default_factory=list)


class CurveError(Exception):
    """A run folder without a readable ``eval.csv``."""


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def load_curves(run_dir: str | Path) -> Curves:
    """Read ``run_dir/eval.csv``.

    Raises:
        CurveError: no eval.csv, no rows, or a missing required column.
    """
    path = Path(run_dir) / "eval.csv"
    if not path.is_file():
        raise CurveError(f"{run_dir}: no eval.csv (not a run folder, or no evaluation yet)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise CurveError(f"{path}: no evaluations yet")
    missing = {"step", "val_psnr_db", "val_temporal"} - set(rows[0])
    if missing:
        raise CurveError(f"{path}: missing columns {sorted(missing)}")
    c = Curves(Path(run_dir).name)
    for r in rows:
        c.step.append(int(r["step"]))
        # Older runs logged training seconds only: use them when wall hours are absent.
        hours = _float(r.get("wall_hours"))
        c.hours.append(hours if hours is not None else (_float(r.get("train_seconds")) or 0.0) / 3600.0)
        c.stage.append(r.get("stage", ""))
        c.psnr.append(float(r["val_psnr_db"]))
        c.temporal.append(float(r["val_temporal"]))
        c.flip.append(_float(r.get("val_flip")))
        c.noaa_psnr.append(_float(r.get("noaa_psnr_db")) or float("nan"))
    return c


def plot(curves: list[Curves], out: str | Path, references: dict[str, float] | None = None) -> Path:
    """Draw the curves into a PNG at ``out`` (folders created); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_flip = any(v is not None for c in curves for v in c.flip)
    metrics = [("psnr", "validation PSNR (dB, tonemapped)")]
    if has_flip:
        metrics.append(("flip", "validation LDR-FLIP (lower is better)"))
    metrics.append(("temporal", "validation temporal error"))
    fig, axes = plt.subplots(len(metrics), 2, figsize=(11, 3.2 * len(metrics)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, c in enumerate(curves):
        colour = colours[i % len(colours)]
        for row, (key, label) in enumerate(metrics):
            values = getattr(c, key)
            for col, xs in enumerate((c.step, c.hours)):
                ax = axes[row][col]
                pts = [(x, v, s) for x, v, s in zip(xs, values, c.stage) if v is not None]
                if not pts:
                    continue
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, label=c.name)
                stages = sorted({p[2] for p in pts}, key=[p[2] for p in pts].index)
                for k, stage in enumerate(stages):
                    sel = [p for p in pts if p[2] == stage]
                    ax.scatter([p[0] for p in sel], [p[1] for p in sel], color=colour, s=14, marker="os^D"[k % 4],
                               label=f"{c.name} [{stage}]" if len(stages) > 1 else None)
                if key == "psnr":
                    ax.plot(xs, c.noaa_psnr, color=colour, linestyle="--", linewidth=0.8,
                            label=f"{c.name}: no-AA input")
                ax.set_ylabel(label)
                ax.set_xlabel("step" if col == 0 else "wall hours")
                ax.grid(alpha=0.3)
    for name, value in (references or {}).items():
        for ax in axes[0]:
            ax.axhline(value, color="black", linestyle=":", linewidth=1.0, label=name)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _reference(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--reference takes NAME=DB, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders holding eval.csv")
    parser.add_argument("--out", default="docs/img/training_curves.png", help="PNG to write")
    parser.add_argument("--reference", type=_reference, action="append", default=[],
                        help="horizontal PSNR line NAME=DB (repeatable), e.g. TAA=28.22")
    args = parser.parse_args(argv)
    try:
        curves = [load_curves(r) for r in args.runs]
    except CurveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = plot(curves, args.out, dict(args.reference))
    for c in curves:
        print(f"{c.name}: {len(c.step)} evaluations, last step {c.step[-1]}, PSNR {c.psnr[-1]:.2f} dB "
              f"at {c.hours[-1]:.2f} h")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, status 2/1 (qwplugin/cli.py)

    sys.exit(run_main(main))
