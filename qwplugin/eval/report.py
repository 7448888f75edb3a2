"""Write an evaluation report folder: tables, per-frame plots, hot-spot crops, FLIP maps, and a JSON.

Layout of ``OUT/``::

    report.md           the tables (per scene and overall, mean and spread), targets, what ran, pictures
    table.csv           one row per (scene or "overall", method, metric): mean, std, n
    metrics.json        every number: config, methods, per-frame values, summaries, timings, targets
    plots/<scene>.png   per-frame PSNR, FLIP, temporal error and flicker of every method (matplotlib)
    crops/<scene>.png   reference and every method on the scene's aliasing hot spot, last frame
    flip/<scene>.png    LDR-FLIP error maps (magma) of every method, last frame

The hot spot is the square window (a third of the shorter side) where the no-AA input's display-domain
error against the reference is largest on the last frame.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from qwplugin.eval import metrics as M
from qwplugin.eval.methods import label_of
from qwplugin.eval.run import EvalResult, SceneResult

CROP_SCALE = 4
"""Nearest-neighbour magnification of the hot-spot crops (pixels stay visible)."""


def slug(name: str) -> str:
    """A file-name-safe form of a scene name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "scene"


def _fmt(v: float, metric: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.2f}" if metric == "psnr_db" else f"{v:.4f}"


def targets(result: EvalResult) -> list[dict]:
    """The issue's targets, checked per scene: QW-Net 4-bit vs TAA (PSNR, FLIP, temporal error), and the
    4-bit loss of QW-Net against the U-Net's (when both precisions of both ran)."""
    rows = []
    if {"qwnet-int4", "taa"} <= set(result.methods):
        for s in result.scenes:
            q, t = s.summary("qwnet-int4"), s.summary("taa")
            for metric in ("psnr_db", "flip", "temporal"):
                better = q[metric]["mean"] > t[metric]["mean"] if M.HIGHER_IS_BETTER[metric] \
                    else q[metric]["mean"] < t[metric]["mean"]
                rows.append({"scene": s.name, "target": f"QW-Net 4-bit beats TAA on {M.LABELS[metric]}",
                             "qwnet_int4": q[metric]["mean"], "taa": t[metric]["mean"], "met": bool(better)})
    if {"qwnet-fp32", "qwnet-int4", "unet-fp32", "unet-int4"} <= set(result.methods):
        o = {m: result.overall(m)["psnr_db"]["mean"] for m in ("qwnet-fp32", "qwnet-int4", "unet-fp32", "unet-int4")}
        q_loss, u_loss = o["qwnet-fp32"] - o["qwnet-int4"], o["unet-fp32"] - o["unet-int4"]
        rows.append({"scene": "overall", "target": "QW-Net's PSNR drop from FP32 to 4-bit is smaller than the U-Net's",
                     "qwnet_loss_db": q_loss, "unet_loss_db": u_loss, "met": bool(q_loss < u_loss)})
    return rows


def _table(result: EvalResult, scene: SceneResult | None) -> list[str]:
    cols = list(M.METRIC_NAMES)
    head = "| method | " + " | ".join(M.LABELS[c] + (" ↑" if M.HIGHER_IS_BETTER[c] else " ↓") for c in cols) + \
        (" | ms / frame |" if scene is not None else " |")
    lines = [head, "|---" * (len(cols) + 1 + (scene is not None)) + "|"]
    for m in result.methods:
        summ = result.overall(m) if scene is None else scene.summary(m)
        cells = [f"{_fmt(summ[c]['mean'], c)} ± {_fmt(summ[c]['std'], c)}" for c in cols]
        extra = f" | {scene.ms_per_frame[m]:.1f}" if scene is not None else ""
        lines.append(f"| {label_of(m)} | " + " | ".join(cells) + extra + " |")
    return lines


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
    """(top, left, size) of the window where no-AA's last-frame error is largest."""
    h, w = scene.size[1], scene.size[0]
    size = max(8, min(h, w) // 3)
    err = np.abs(M.to_display(scene.color[-1], exposure) - M.to_display(scene.reference[-1], exposure)).sum(-1)
    integral = np.pad(err, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), size


def write_crops(scene: SceneResult, methods: list[str], exposure: float, path: Path) -> tuple[int, int, int]:
    top, left, size = hot_spot(scene, exposure)
    tiles = []
    for label, image in [("reference", scene.reference[-1])] + [(label_of(m), scene.outputs[m][-1]) for m in methods]:
        crop = M.to_display(image[top:top + size, left:left + size], exposure)
        crop = np.repeat(np.repeat(_to_u8(crop), CROP_SCALE, 0), CROP_SCALE, 1)
        tiles.append(_label_tile(crop, label))
    _row_image(tiles, path)
    return top, left, size


def write_flip_maps(scene: SceneResult, methods: list[str], exposure: float, path: Path) -> None:
    ref = M.to_display(scene.reference[-1], exposure)
    tiles = []
    for m in methods:
        mean, error_map = M.flip_ldr(ref, M.to_display(scene.outputs[m][-1], exposure), with_map=True)
        u8 = (np.clip(error_map, 0, 1) * 255 + 0.5).astype(np.uint8)
        tiles.append(_label_tile(u8, f"{label_of(m)} FLIP {mean:.3f}"))
    _row_image(tiles, path)


def write_plot(scene: SceneResult, methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = ("psnr_db", "flip", "temporal", "flicker")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.2), constrained_layout=True)
    frames = np.arange(scene.frames)
    for ax, metric in zip(axes, shown):
        for m in methods:
            ax.plot(frames, scene.per_frame[m][metric], marker=".", label=label_of(m))
        ax.set_title(M.LABELS[metric] + (" (higher is better)" if M.HIGHER_IS_BETTER[metric] else " (lower is better)"),
                     fontsize=9)
        ax.set_xlabel("frame")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{scene.name}: per-frame metrics (warm-up frames after resets not scored)", fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def to_json(result: EvalResult, config: dict) -> dict:
    """Every number of ``result`` as plain JSON data (NaN, e.g. unscored frames, becomes null)."""
    scenes = {}
    for s in result.scenes:
        scenes[s.name] = {
            "size": list(s.size), "frames": s.frames, "scored_frames": [int(i) for i in np.flatnonzero(s.scored)],
            "ms_per_frame": s.ms_per_frame,
            "summary": {m: s.summary(m) for m in result.methods},
            "per_frame": {m: {k: [float(x) for x in v] for k, v in s.per_frame[m].items()}
                          for m in result.methods}}
    data = {"format": "qwplugin-eval-report", "version": 1, "config": config, "warmup_frames": result.warmup,
            "exposure": result.exposure, "display_domain": "x*e/(1+x*e), sRGB-encoded for LDR-FLIP",
            "methods": {m: result.descriptions.get(m, m) for m in result.methods},
            "overall": {m: result.overall(m) for m in result.methods}, "scenes": scenes,
            "targets": targets(result)}
    return json.loads(json.dumps(data, default=str), parse_constant=lambda _nan: None)


def write_report(result: EvalResult, out_dir: str | Path, config: dict | None = None,
                 command: str | None = None) -> Path:
    """Write the report folder (see the module docstring); returns the path of ``report.md``."""
    out = Path(out_dir)
    for sub in ("plots", "crops", "flip"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    config = dict(config or {})
    methods = result.methods
    lines = ["# Evaluation report", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"Metrics in the display domain `x / (1 + x)` at exposure {result.exposure} (LDR-FLIP on its sRGB "
              f"encoding; HDR-FLIP on linear values); the first {result.warmup} frames after each reset are not "
              "scored. Mean ± standard deviation over scored frames (per scene) or over scenes (overall); "
              "↑ higher is better, ↓ lower is better. Definitions: `qwplugin/eval/metrics.py`.", "",
              "## Overall (every scene weighs the same)", ""] + _table(result, None) + [""]
    target_rows = targets(result)
    if target_rows:
        lines += ["## Targets", "", "| scene | target | met |", "|---|---|---|"]
        for r in target_rows:
            detail = (f"QW-Net 4-bit {r['qwnet_int4']:.4g} vs TAA {r['taa']:.4g}" if "taa" in r else
                      f"drop QW-Net {r['qwnet_loss_db']:.2f} dB, U-Net {r['unet_loss_db']:.2f} dB")
            lines.append(f"| {r['scene']} | {r['target']} ({detail}) | {'yes' if r['met'] else '**no**'} |")
        lines.append("")
    rows = []
    for s in result.scenes:
        tag = slug(s.name)
        write_plot(s, methods, out / "plots" / f"{tag}.png")
        top, left, size = write_crops(s, methods, result.exposure, out / "crops" / f"{tag}.png")
        write_flip_maps(s, methods, result.exposure, out / "flip" / f"{tag}.png")
        lines += [f"## Scene `{s.name}` ({s.size[0]}x{s.size[1]}, {s.frames} frames, "
                  f"{int(s.scored.sum())} scored)", ""] + _table(result, s) + [
            "", f"Hot spot (rows {top}-{top + size}, columns {left}-{left + size}, last frame, x{CROP_SCALE}):", "",
            f"![crops](crops/{tag}.png)", "", f"![FLIP maps](flip/{tag}.png)", "", f"![per-frame](plots/{tag}.png)", ""]
        for m in methods:
            for metric, v in s.summary(m).items():
                rows.append({"scene": s.name, "method": m, "metric": metric, **v})
    for m in methods:
        for metric, v in result.overall(m).items():
            rows.append({"scene": "overall", "method": m, "metric": metric, **v})
    lines += ["## What ran", ""] + [f"- `{m}`: {result.descriptions.get(m, m)}" for m in methods] + [""]
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["scene", "method", "metric", "mean", "std", "n"])
        writer.writeheader()
        writer.writerows(rows)
    (out / "metrics.json").write_text(json.dumps(to_json(result, config), indent=1))
    (out / "report.md").write_text("\n".join(lines))
    return out / "report.md"
