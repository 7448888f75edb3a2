"""Write an evaluation report folder: tables with intervals, win / tie / loss against the TAA baseline,
per-frame plots, hot-spot crops, FLIP maps, and every number as JSON / CSV.

Layout of ``OUT/``::

    report.md           legend, scenes, per-set summaries, targets, per-scene tables and pictures, timing
    table.csv           one row per (scene or "overall", set, method, metric): mean, lo, hi, n
    winloss.csv         one row per (scene, set, method, metric): paired difference vs the baseline, verdict
    metrics.json        every number: config, legend, per-run per-frame values, intervals, verdicts, timings
    plots/<scene>.png   per-frame PSNR, FLIP, temporal error and flicker of every method, first run
    crops/<scene>.png   reference and every method on the scene's aliasing hot spot, last frame of the first run
    flip/<scene>.png    LDR-FLIP error maps (magma) of every method, same frame

The hot spot is the square window (a third of the shorter side) where the no-AA input's display-domain
error against the reference is largest on that frame.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from qwplugin.eval import metrics as M
from qwplugin.eval import stats as S
from qwplugin.eval.methods import label_of
from qwplugin.eval.run import EvalResult, SceneResult

CROP_SCALE = 4
"""Nearest-neighbour magnification of the hot-spot crops (pixels stay visible)."""

TIMING_TITLE = "CPU ms/frame, shared 2-core dev machine (not a benchmark)"

TEST_SET_NOTE = ("**Test scenes are reported here, never used for decisions**: every choice (training recipes, "
                 "TAA tuning, ablations, model size) is made on training or validation scenes; test-set numbers "
                 "are read, not optimised.")


def slug(name: str) -> str:
    """A file-name-safe form of a scene name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "scene"


def _fmt(v: float, metric: str, signed: bool = False) -> str:
    if not math.isfinite(v):
        return "n/a"
    spec = ("+" if signed else "") + (".2f" if metric.startswith("psnr") else ".4f")
    return format(v, spec)


def _cell(iv: S.Interval, metric: str, signed: bool = False) -> str:
    """``mean [lo, hi]``."""
    if iv.n == 0:
        return "n/a"
    return f"{_fmt(iv.mean, metric, signed)} [{_fmt(iv.lo, metric, signed)}, {_fmt(iv.hi, metric, signed)}]"


def _head(first: str) -> list[str]:
    cols = [M.LABELS[c] + (" ↑" if M.HIGHER_IS_BETTER[c] else " ↓") for c in M.METRIC_NAMES]
    return [f"| {first} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]


def _quality_table(rows: list[tuple[str, dict[str, S.Interval]]]) -> list[str]:
    return _head("method") + [f"| {label} | " + " | ".join(_cell(s[c], c) for c in M.METRIC_NAMES) + " |"
                              for label, s in rows]


def _verdict_table(result: EvalResult, scene: SceneResult) -> list[str]:
    lines = _head(f"method − {label_of(result.baseline)}")
    for m in result.methods:
        if m == result.baseline:
            continue
        v = scene.verdicts(m, result.baseline)
        cells = []
        for c in M.METRIC_NAMES:
            verdict, d = v[c]
            word = {"win": "**win**", "loss": "*loss*", "tie": "tie", "n/a": ""}[verdict]
            cells.append(f"{word} {_cell(d, c, signed=True)}".strip())
        lines.append(f"| {label_of(m)} | " + " | ".join(cells) + " |")
    return lines


def _counts_table(result: EvalResult, split: str) -> list[str]:
    lines = _head("method (wins / ties / losses)")
    for m in result.methods:
        if m == result.baseline:
            continue
        c = result.counts(m, split)
        lines.append(f"| {label_of(m)} | " + " | ".join(f"{c[k]['win']} / {c[k]['tie']} / {c[k]['loss']}"
                                                    for k in M.METRIC_NAMES) + " |")
    return lines


def targets(result: EvalResult) -> list[dict]:
    """The project's targets per scene: QW-Net 4-bit **wins** against the TAA baseline on PSNR, FLIP and
    temporal error (the paired 95% interval on the better side; a tie does not meet it), and overall the
    4-bit PSNR drop of QW-Net is smaller than the U-Net's (means of the scene means, all sets together)."""
    rows = []
    if result.baseline is not None and "qwnet-int4" in result.methods:
        for s in result.scenes:
            v = s.verdicts("qwnet-int4", result.baseline)
            for metric in ("psnr_db", "flip", "temporal"):
                verdict, d = v[metric]
                rows.append({"scene": s.name, "set": s.split, "metric": metric,
                             "target": f"QW-Net 4-bit wins against {label_of(result.baseline)} on {M.LABELS[metric]}",
                             "difference": d.as_dict(), "verdict": verdict, "met": verdict == "win"})
    if {"qwnet-fp32", "qwnet-int4", "unet-fp32", "unet-int4"} <= set(result.methods):
        o = {m: result.overall(m)["psnr_db"].mean for m in ("qwnet-fp32", "qwnet-int4", "unet-fp32", "unet-int4")}
        q_loss, u_loss = o["qwnet-fp32"] - o["qwnet-int4"], o["unet-fp32"] - o["unet-int4"]
        rows.append({"scene": "overall", "set": "all",
                     "target": "QW-Net's PSNR drop from FP32 to 4-bit is smaller than the U-Net's (means)",
                     "qwnet_loss_db": q_loss, "unet_loss_db": u_loss, "met": bool(q_loss < u_loss)})
    return rows


def _label_tile(image_u8: np.ndarray, text: str):
    from PIL import Image, ImageDraw

    img = Image.fromarray(image_u8)
    draw = ImageDraw.Draw(img)
    w = int(draw.textlength(text)) + 6
    draw.rectangle([0, 0, w, 13], fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    return img


def _to_u8(display: np.ndarray) -> np.ndarray:
    return (M.srgb_encode(display) * 255.0 + 0.5).astype(np.uint8)


def _row_image(tiles: list, path: Path) -> None:
    from PIL import Image

    w = sum(t.width for t in tiles) + 2 * (len(tiles) - 1)
    h = max(t.height for t in tiles)
    canvas = Image.new("RGB", (w, h), (40, 40, 40))
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + 2
    canvas.save(path)


def hot_spot(scene: SceneResult, exposure: float) -> tuple[int, int, int]:
    """(top, left, size) of the window where no-AA's error is largest on the pictured frame."""
    h, w = scene.size[1], scene.size[0]
    size = max(8, min(h, w) // 3)
    err = np.abs(M.to_display(scene.color, exposure) - M.to_display(scene.reference, exposure)).sum(-1)
    integral = np.pad(err, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), size


def write_crops(scene: SceneResult, methods: list[str], exposure: float, path: Path) -> tuple[int, int, int]:
    """Reference and every method on the hot spot, magnified; returns (top, left, size)."""
    top, left, size = hot_spot(scene, exposure)
    tiles = []
    for label, image in [("reference", scene.reference)] + [(label_of(m), scene.outputs[m]) for m in methods]:
        crop = M.to_display(image[top:top + size, left:left + size], exposure)
        crop = np.repeat(np.repeat(_to_u8(crop), CROP_SCALE, 0), CROP_SCALE, 1)
        tiles.append(_label_tile(crop, label))
    _row_image(tiles, path)
    return top, left, size


def write_flip_maps(scene: SceneResult, methods: list[str], exposure: float, path: Path) -> None:
    """LDR-FLIP error maps of every method on the pictured frame."""
    ref = M.to_display(scene.reference, exposure)
    tiles = []
    for m in methods:
        mean, error_map = M.flip_ldr(ref, M.to_display(scene.outputs[m], exposure), with_map=True)
        u8 = (np.clip(error_map, 0, 1) * 255 + 0.5).astype(np.uint8)
        tiles.append(_label_tile(u8, f"{label_of(m)} FLIP {mean:.3f}"))
    _row_image(tiles, path)


def write_plot(scene: SceneResult, methods: list[str], path: Path) -> None:
    """Per-frame curves of the first run; dashed lines at its camera cuts (gaps: warm-up frames)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    run = scene.runs[0]
    shown = ("psnr_db", "flip", "temporal", "flicker")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.2), constrained_layout=True)
    frames = np.arange(run.frames)
    cuts = np.flatnonzero(run.reset)[1:]
    for ax, metric in zip(axes, shown):
        for m in methods:
            ax.plot(frames, run.per_frame[m][metric], marker=".", markersize=3, linewidth=1, label=label_of(m))
        for c in cuts:
            ax.axvline(c, color="0.4", linestyle="--", linewidth=0.8)
        ax.set_title(M.LABELS[metric] + (" (higher is better)" if M.HIGHER_IS_BETTER[metric] else " (lower is better)"),
                     fontsize=9)
        ax.set_xlabel("frame")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{scene.name}, {run.label}: per-frame metrics (dashed: camera cut; gaps: warm-up, not scored)",
                 fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _legend(result: EvalResult) -> list[str]:
    s0 = result.scenes[0]
    lines = ["## How to read this", "",
             "| metric | domain | better |", "|---|---|---|"]
    for m in M.METRIC_NAMES:
        lines.append(f"| {M.LABELS[m]} | {M.DOMAIN_OF[m]} | {'higher ↑' if M.HIGHER_IS_BETTER[m] else 'lower ↓'} |")
    lines += ["", "Domains (exposure %g): " % result.exposure +
              "; ".join(f"**{k}** = {v}" for k, v in M.DOMAINS.items()) + ". Definitions: `qwplugin/eval/metrics.py`.",
              "",
              f"- **Scored frames**: the first {result.warmup} frames after every reset (the first frame of a run and "
              "each camera cut) are not scored; scoring resumes after each cut once those have passed. Temporal "
              "metrics never span a reset." + (
                  f" SSIM, LDR-FLIP and HDR-FLIP were computed on every {result.costly_every}th scored frame only "
                  "(their bootstrap blocks are of computed frames); the other metrics on every scored frame."
                  if result.costly_every > 1 else ""),
              f"- **Intervals** `mean [lo, hi]`: {int(S.CONFIDENCE * 100)}% circular block bootstrap over frames "
              f"(blocks of {s0.block} consecutive scored frames, never across a reset or between runs; "
              f"{s0.resamples} resamples; fixed seed {s0.seed} combined with the scene name), per scene over all "
              "frames of all its runs (starting jitter phases).",
              "- **Across scenes**: the mean of per-scene means (every scene weighs the same), interval from "
              "resampling frames within each scene; the scenes are fixed, so it does not say how other scenes "
              "would score.",
              ]
    if result.baseline is not None:
        lines.append(f"- **Win / tie / loss** against `{result.baseline}` ({label_of(result.baseline)}), per scene "
                     "and metric: the interval of the mean paired per-frame difference (method − baseline, same "
                     "frames) lies wholly on the better side of 0 = win, wholly on the worse side = loss, "
                     "otherwise tie.")
    else:
        lines.append("- No win / tie / loss: the baseline `taa` was not among the methods.")
    return lines + [""]


def _scenes_table(result: EvalResult) -> list[str]:
    lines = ["## Scenes", "", "| scene | set | window | runs | frames | scored |", "|---|---|---|---|---|---|"]
    for s in result.scenes:
        runs = ", ".join(r.label for r in s.runs)
        lines.append(f"| {s.name} | {s.split} | {s.window or 'n/a'} | {runs} | {s.frames} | {s.scored_frames} |")
    return lines + [""]


def _timing_table(result: EvalResult) -> list[str]:
    lines = [f"## Timing: {TIMING_TITLE}", "",
             "Median wall-clock time of one method step (each run's first frame left out), on whatever else the "
             "machine was running; for cost comparisons use the benchmarks (`docs/bench_*.md`).", "",
             "| method | " + " | ".join(s.name for s in result.scenes) + " |",
             "|---" * (len(result.scenes) + 1) + "|"]
    for m in result.methods:
        lines.append(f"| {label_of(m)} | " + " | ".join(f"{s.ms_per_frame(m):.1f}" for s in result.scenes) + " |")
    return lines + [""]


def to_json(result: EvalResult, config: dict) -> dict:
    """Every number of ``result`` as plain JSON data (NaN, e.g. unscored frames, becomes null)."""
    def per_run(r):
        return {"label": r.label, "frames": r.frames, "resets": [int(i) for i in np.flatnonzero(r.reset)],
                "scored_frames": [int(i) for i in np.flatnonzero(r.scored)],
                "per_frame": {m: {k: v.tolist() for k, v in r.per_frame[m].items()} for m in result.methods}}

    scenes = {}
    for s in result.scenes:
        entry = {"set": s.split, "window": s.window, "size": list(s.size), "frames": s.frames,
                 "scored_frames": s.scored_frames, "runs": [per_run(r) for r in s.runs],
                 "ms_per_frame": {m: s.ms_per_frame(m) for m in result.methods},
                 "summary": {m: {k: v.as_dict() for k, v in s.summary(m).items()} for m in result.methods}}
        if result.baseline is not None:
            entry["versus_baseline"] = {
                m: {k: {"verdict": v, **d.as_dict()} for k, (v, d) in s.verdicts(m, result.baseline).items()}
                for m in result.methods if m != result.baseline}
        scenes[s.name] = entry
    splits = result.splits()
    data = {"format": "qwplugin-eval-report", "version": 2, "config": config, "warmup_frames": result.warmup,
            "exposure": result.exposure, "domains": M.DOMAINS, "metric_domains": M.DOMAIN_OF,
            "bootstrap": {"method": "circular block bootstrap over frames", "block_frames": result.scenes[0].block,
                          "resamples": result.scenes[0].resamples, "seed": result.scenes[0].seed,
                          "confidence": S.CONFIDENCE},
            "baseline": result.baseline,
            "methods": {m: result.descriptions.get(m, m) for m in result.methods},
            "overall": {sp: {m: {k: v.as_dict() for k, v in result.overall(m, sp).items()} for m in result.methods}
                        for sp in splits},
            "scenes": scenes, "targets": targets(result)}
    if result.baseline is not None:
        data["counts"] = {sp: {m: result.counts(m, sp) for m in result.methods if m != result.baseline}
                          for sp in splits}
    return json.loads(json.dumps(data, default=str), parse_constant=lambda _nan: None)


def _csv_rows(result: EvalResult) -> tuple[list[dict], list[dict]]:
    rows, versus = [], []
    for s in result.scenes:
        for m in result.methods:
            for metric, v in s.summary(m).items():
                rows.append({"scene": s.name, "set": s.split, "method": m, "metric": metric, **v.as_dict()})
            if result.baseline is not None and m != result.baseline:
                for metric, (verdict, d) in s.verdicts(m, result.baseline).items():
                    versus.append({"scene": s.name, "set": s.split, "method": m, "baseline": result.baseline,
                                   "metric": metric, **d.as_dict(), "verdict": verdict})
    for sp in result.splits():
        for m in result.methods:
            for metric, v in result.overall(m, sp).items():
                rows.append({"scene": "overall", "set": sp, "method": m, "metric": metric, **v.as_dict()})
    return rows, versus


def write_report(result: EvalResult, out_dir: str | Path, config: dict | None = None,
                 command: str | None = None) -> Path:
    """Write the report folder (see the module docstring); returns the path of ``report.md``."""
    out = Path(out_dir)
    for sub in ("plots", "crops", "flip"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    config = dict(config or {})
    methods = result.methods
    lines = ["# Evaluation report", "", TEST_SET_NOTE, ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += _legend(result) + _scenes_table(result)
    for sp in result.splits():
        scenes = result.scenes_of(sp)
        lines += [f"## Summary: {sp} set ({len(scenes)} scene{'s' if len(scenes) != 1 else ''}: "
                  f"{', '.join(s.name for s in scenes)})", "",
                  "Mean of the per-scene means [95% interval].", ""]
        lines += _quality_table([(label_of(m), result.overall(m, sp)) for m in methods]) + [""]
        if result.baseline is not None and len(methods) > 1:
            lines += [f"Scenes won / tied / lost against {label_of(result.baseline)}:", ""]
            lines += _counts_table(result, sp) + [""]
    target_rows = targets(result)
    if target_rows:
        lines += ["## Targets", "", "| scene | set | target | result | met |", "|---|---|---|---|---|"]
        for r in target_rows:
            if "verdict" in r:
                d = S.Interval(**r["difference"])
                detail = f"{r['verdict']}, difference {_cell(d, r['metric'], signed=True)}"
            else:
                detail = f"drop QW-Net {r['qwnet_loss_db']:.2f} dB, U-Net {r['unet_loss_db']:.2f} dB"
            lines.append(f"| {r['scene']} | {r['set']} | {r['target']} | {detail} | {'yes' if r['met'] else '**no**'} |")
        lines.append("")
    for s in result.scenes:
        tag = slug(s.name)
        write_plot(s, methods, out / "plots" / f"{tag}.png")
        top, left, size = write_crops(s, methods, result.exposure, out / "crops" / f"{tag}.png")
        write_flip_maps(s, methods, result.exposure, out / "flip" / f"{tag}.png")
        lines += [f"## Scene `{s.name}` ({s.split} set)", "",
                  f"{s.size[0]}x{s.size[1]}, window {s.window or 'n/a'}, {len(s.runs)} run"
                  f"{'s' if len(s.runs) != 1 else ''} ({', '.join(r.label for r in s.runs)}), {s.frames} frames, "
                  f"{s.scored_frames} scored. Mean [95% interval] over the scored frames of all runs.", ""]
        lines += _quality_table([(label_of(m), s.summary(m)) for m in methods]) + [""]
        if result.baseline is not None and len(methods) > 1:
            lines += [f"Against {label_of(result.baseline)}: mean paired difference [95% interval] and verdict.", ""]
            lines += _verdict_table(result, s) + [""]
        lines += [f"Hot spot (rows {top}-{top + size}, columns {left}-{left + size}, last frame of "
                  f"{s.runs[0].label}, x{CROP_SCALE}):", "",
                  f"![crops](crops/{tag}.png)", "", f"![FLIP maps](flip/{tag}.png)", "",
                  f"![per-frame](plots/{tag}.png)", ""]
    lines += _timing_table(result)
    lines += ["## What ran", ""] + [f"- `{m}`: {result.descriptions.get(m, m)}" for m in methods] + [""]
    rows, versus = _csv_rows(result)
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["scene", "set", "method", "metric", "mean", "lo", "hi", "n"])
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "winloss.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["scene", "set", "method", "baseline", "metric", "mean", "lo", "hi", "n",
                                    "verdict"])
        writer.writeheader()
        writer.writerows(versus)
    (out / "metrics.json").write_text(json.dumps(to_json(result, config), indent=1))
    (out / "report.md").write_text("\n".join(lines))
    return out / "report.md"
