"""Quality against cost of the routed reconstructor over k: ``python -m qwplugin.routing.sweep``.

Runs the TAA, the always-heavy QW-Net and ``qwnet-routed[-rule]:k=...`` (and optionally budget settings)
over sequences of a dataset split (default: the VALIDATION split of data/train_v2; validation is for
decisions, the test set is for the final report) and writes:

- ``routing_curve.csv`` / ``routing_curve.md``: per method, PSNR (dB, on the tonemapped display values,
  the evaluation's ``psnr_db``), LDR-FLIP, the measured median ms per frame, the mean and worst heavy fraction and
  the expected MACs per pixel (:func:`qwplugin.analysis.routing.routed_macs` at each frame's fraction);
- ``routing_curve.png``: PSNR and FLIP against ms and against MACs.

Frames after a reset are not scored for ``--warmup`` frames (as the evaluation); the ms, heavy fractions and
MACs cover every frame (the worst ms leaves out each method's first frame, one-off start-up work). Times are wall-clock
``dispatch`` times on this machine: print the load with them.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

import numpy as np

from qwplugin.data.dataset import SequenceDataset
from qwplugin.eval import metrics as M
from qwplugin.routing.train import sequence_frames
from qwplugin.runtime import registry


def _macs_per_pixel(method, config, size) -> float | None:
    from qwplugin.analysis.macs import mac_report
    from qwplugin.analysis.routing import TAA_MACS, routed_macs

    w, h = size
    name = method.info.name
    if name == "taa":
        return float(sum(TAA_MACS.values()))
    if name.startswith("qwnet-int4") or name.startswith("qwnet-fp32"):
        return mac_report(config, h, w).total / (w * h)
    if hasattr(method, "frame_log"):
        s = method.info.details
        vals = [routed_macs(config, w, h, i.heavy_fraction, s["tile"], s["halo"]).total for i in method.frame_log]
        return float(np.mean(vals)) if vals else None
    return None


def run(methods: list[str], root: str, split: str, sequences: int, frames: int | None, warmup: int,
        with_flip: bool = True, log=print) -> list[dict]:
    """Score ``methods`` on ``sequences`` sequences of ``split`` (spread over the split). One row per method."""
    ds = SequenceDataset(root, split)
    stride = max(1, len(ds.entries) // sequences)
    ds.entries = ds.entries[::stride][:sequences]
    probe = registry.make("qwnet-routed-rule", (64, 64))  # the heavy network's configuration, for the MACs
    config = probe._net.config
    probe.close()
    rows = {m: {"method": m, "psnr": [], "flip": [], "ms": [], "macs": [], "fraction": [], "worst_fraction": 0.0,
                "over": 0, "stages": [], "worst_ms": 0.0} for m in methods}
    for s in range(len(ds)):
        block = ds.block(s)
        fr = sequence_frames(block)[:frames]
        h, w = block["color"].shape[1:3]
        since_reset = [0] * len(fr)
        for i, f in enumerate(fr):
            since_reset[i] = 0 if f.reset else since_reset[i - 1] + 1
        for spec in methods:
            method = registry.make(spec, (w, h))
            t0 = time.perf_counter()
            for i, f in enumerate(fr):
                start = time.perf_counter()
                out = method.dispatch(f)
                rows[spec]["ms"].append((time.perf_counter() - start) * 1e3)
                if i > 0:
                    rows[spec]["worst_ms"] = max(rows[spec]["worst_ms"], rows[spec]["ms"][-1])
                if since_reset[i] < warmup:
                    continue
                ref = np.asarray(block["reference"][i][..., :3], np.float32)
                out_d, ref_d = M.to_display(out), M.to_display(ref)
                rows[spec]["psnr"].append(M.psnr_db(ref_d, out_d))
                if with_flip:
                    rows[spec]["flip"].append(M.flip_ldr(ref_d, out_d))
            if hasattr(method, "frame_log"):
                rows[spec]["fraction"] += [x.heavy_fraction for x in method.frame_log]
                rows[spec]["worst_fraction"] = max(rows[spec]["worst_fraction"], method.stats.heavy_fraction_worst)
                rows[spec]["over"] += method.stats.frames_over_budget
                rows[spec]["stages"].append(method.stats.timing_median_ms)
            rows[spec]["macs"].append(_macs_per_pixel(method, config, (w, h)))
            method.close()
            log(f"{ds.entries[s].name} ({ds.entries[s].scene}) {spec}: {time.perf_counter() - t0:.1f} s")
    out = []
    for spec, r in rows.items():
        macs = [m for m in r["macs"] if m is not None]
        out.append({"method": spec, "psnr_db": float(np.mean(r["psnr"])),
                    "flip": float(np.mean(r["flip"])) if r["flip"] else float("nan"),
                    "ms_median": statistics.median(r["ms"]),
                    "heavy_fraction_mean": float(np.mean(r["fraction"])) if r["fraction"] else
                    (1.0 if spec.startswith("qwnet-int4") or spec.startswith("qwnet-fp32") else 0.0),
                    "heavy_fraction_worst": r["worst_fraction"] if r["fraction"] else
                    (1.0 if spec.startswith("qwnet-int4") or spec.startswith("qwnet-fp32") else 0.0),
                    "macs_per_pixel": float(np.mean(macs)) if macs else float("nan"),
                    "ms_worst": r["worst_ms"],
                    "frames_over_budget": r["over"],
                    **{f"ms_{k}": float(np.mean([st[k] for st in r["stages"]])) if r["stages"] else float("nan")
                       for k in ("light", "features", "route")},
                    "scored_frames": len(r["psnr"])})
    return out


def write(rows: list[dict], out_dir: Path, title: str) -> None:
    """The CSV, the markdown table and the plot (module docstring)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    with open(out_dir / "routing_curve.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, keys)
        wr.writeheader()
        wr.writerows(rows)
    lines = [title, "", "| method | PSNR (dB) | LDR-FLIP | ms/frame median / worst | TAA / features / route ms | "
             "heavy fraction mean / worst | frames over budget | MAC/pixel |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        stages = "-" if np.isnan(r["ms_light"]) else f"{r['ms_light']:.0f} / {r['ms_features']:.0f} / {r['ms_route']:.0f}"
        over = str(r["frames_over_budget"]) if "budget_ms" in r["method"] else "-"
        lines.append(f"| `{r['method']}` | {r['psnr_db']:.3f} | {r['flip']:.4f} | {r['ms_median']:.0f} / "
                     f"{r['ms_worst']:.0f} | {stages} | {r['heavy_fraction_mean']:.2f} / {r['heavy_fraction_worst']:.2f} | "
                     f"{over} | {r['macs_per_pixel']:,.0f} |")
    (out_dir / "routing_curve.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for (yk, ylab), row_axes in zip((("psnr_db", "PSNR (dB)"), ("flip", "LDR-FLIP (lower is better)")), axes):
        for (xk, xlab), ax in zip((("ms_median", "ms per frame (median, loaded CPU: upper bound)"),
                                   ("macs_per_pixel", "MAC per pixel")), row_axes):
            routed = [r for r in rows if ":" in r["method"]]
            routed.sort(key=lambda r: r[xk])
            ax.plot([r[xk] for r in routed], [r[yk] for r in routed], "o-", label="routed (k or budget)")
            for r in rows:
                ax.annotate(r["method"].replace("qwnet-routed", "r"), (r[xk], r[yk]), fontsize=7)
                if ":" not in r["method"]:
                    ax.plot([r[xk]], [r[yk]], "s", label=r["method"])
            ax.set_xlabel(xlab)
            ax.set_ylabel(ylab)
            if xk == "macs_per_pixel":
                ax.set_xscale("log")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / "routing_curve.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qwplugin.routing.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data/train_v2")
    p.add_argument("--split", default="val", choices=["train", "val"],
                   help="dataset split (default val; the test scenes are for the final report only)")
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--frames", type=int, default=None, help="frames per sequence (default all)")
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--router", default="qwnet-routed", help="qwnet-routed (trained) or qwnet-routed-rule")
    p.add_argument("--k", default="-1,0,0.5,1,2", help="comma-separated k values")
    p.add_argument("--budgets", default="", help="comma-separated budget_ms values (optional)")
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--out", default="runs/routing_curve")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    methods = ["taa", "qwnet-int4"] + [f"{args.router}:k={k}" for k in args.k.split(",") if k] + \
        [f"{args.router}:budget_ms={b}" for b in args.budgets.split(",") if b]
    for m in methods:
        registry.parse_spec(m)
    rows = run(methods, args.data, args.split, args.sequences, args.frames, args.warmup, not args.no_flip)
    load = os.getloadavg()
    title = (f"{args.split} split of {args.data}, {args.sequences} sequences, CPU 1 thread, load average "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (times are upper bounds)")
    write(rows, Path(args.out), title)
    print((Path(args.out) / "routing_curve.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
