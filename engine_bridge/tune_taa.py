"""Tune the TAA on training scenes only: a coordinate-descent sweep over its parameters, then an ablation.

Usage::

    python -m engine_bridge.tune_taa --scenes set:training --variants 1 --size 160x120 --duration-s 3 \\
        --spp 64 --out out/tune_taa

Renders each scene (the canonical training generators, plus ``--variants`` randomised variants of each with
training seeds; never a validation or test scene: they are refused) into ``OUT/inputs/``, reusing renders
made with the same settings. Then, starting from ``--start`` (default: the current ``TAAConfig()``), each
parameter in turn is set to every value of its grid (:data:`GRID`) while the others stay at the best so far;
a value that improves the objective is kept; ``--rounds`` passes. The objective is the mean over scenes of
the per-scene mean LDR-FLIP (``--objective flip``, default) or of tonemapped PSNR (``--objective psnr``),
over frames after the warm-up (FLIP on every ``--flip-stride``-th scored frame, to save time).

Writes ``OUT/sweep.csv`` (every configuration tried, its scores), ``OUT/sweep.md`` (the same as a table),
``OUT/best_taa.json`` (the winner, loadable by ``TAAConfig.from_dict`` and by the evaluation's
``taa=PATH.json``), and ``OUT/ablation.md`` (the winner with each option switched off in turn, and the
classic TAA). ``docs/taa.md`` quotes these tables.

TAAU mode (``--mode taau --scale 2``): ``--size`` is the **display** size; the inputs are rendered at the
render size :func:`qwplugin.upscale.render_size_for` gives (floored), with references at the display size,
the FSR 2 mip bias and jitter length for the ratio (:func:`engine_bridge.render.upscale_settings`). The sweep
runs over :data:`GRID_TAAU` on :class:`qwplugin.taau.TAAUConfig` (starting from ``TAAUConfig()`` or
``--start``), writes ``OUT/best_taau.json`` instead of ``best_taa.json``, and the ablation table also holds
the spatial baselines: the no-AA frame and the tuned TAA's output at the render size, each upscaled with
bilinear / bicubic / Lanczos-3 (:mod:`qwplugin.ops.resample`). ``docs/upscaling.md`` quotes these tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from qwplugin.cli import command, prog_name
from qwplugin.errors import InvalidArgument

GRID: dict[str, list] = {
    "alpha": [0.03, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4],
    "gamma": [0.5, 0.75, 1.0, 1.25, 1.5],
    "filter_sigma_px": ["none", 0.3, 0.35, 0.4, 0.47],
    "motion_feedback": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
    "clip_feedback": [0.0, 0.25, 0.5, 1.0],
    "feedback_max": [0.3, 0.5, 0.8, 1.0],
    "depth_tolerance": ["off", 0.02, 0.05, 0.1, 0.2],
    "dilate_motion": [False, True],
    "perceptual_clip": [False, True],
    "sharpen": [0.0, 0.1, 0.2, 0.35, 0.5],
}
"""The values tried per parameter. ``filter_sigma_px = "none"`` means ``filter="none"``; a number means the
Gaussian filter with that sigma. ``depth_tolerance = "off"`` means ``depth_rejection=False``."""

GRID_TAAU: dict[str, list] = {
    "alpha": [0.25, 0.35, 0.5, 0.7, 1.0],
    "filter_sigma_px": [0.35, 0.5, 0.7, 1.0],
    "gamma": [1.0, 1.25, 1.5, 2.0],
    "motion_feedback": [0.0, 0.05, 0.1, 0.2],
    "feedback_max": [0.5, 0.8, 1.0],
    "sharpen": [0.0, 0.1, 0.2, 0.35],
}
"""The TAAU sweep's values (kept small: the development machine is shared). ``filter_sigma_px`` is in display
pixels; ``alpha`` is scaled by the per-pixel confidence, so its useful range is higher than the TAA's (a first
pass over 0.1-0.35 improved monotonically). Depth rejection, dilation and the perceptual clip keep the values of
the start configuration (the TAA sweep found them neutral or helpful), and the ablation switches them off."""

ABLATIONS_TAAU = {
    "no motion dilation": dict(dilate_motion=False),
    "no depth rejection": dict(depth_rejection=False),
    "no motion feedback": dict(motion_feedback=0.0),
    "no sharpening": dict(sharpen=0.0),
}

ABLATIONS = {
    "no reconstruction filter": dict(filter="none"),
    "no motion dilation": dict(dilate_motion=False),
    "no depth rejection": dict(depth_rejection=False),
    "clip in linear YCoCg": dict(perceptual_clip=False),
    "no motion feedback": dict(motion_feedback=0.0),
    "no clip feedback": dict(clip_feedback=0.0),
    "no sharpening": dict(sharpen=0.0),
}


def apply_value(config, name: str, value):
    """``config`` with grid parameter ``name`` set to ``value`` (see :data:`GRID` for the special values)."""
    if name == "filter_sigma_px":
        return replace(config, filter="none") if value == "none" else replace(config, filter="gaussian",
                                                                              filter_sigma_px=float(value))
    if name == "depth_tolerance":
        return replace(config, depth_rejection=False) if value == "off" else replace(
            config, depth_rejection=True, depth_tolerance=float(value))
    if name == "alpha":
        return replace(config, alpha=value, feedback_max=max(config.feedback_max, value))
    if name == "feedback_max":
        return replace(config, feedback_max=max(value, config.alpha))
    return replace(config, **{name: value})


def apply_value_taau(config, name: str, value):
    """``config`` (a TAAUConfig) with :data:`GRID_TAAU` parameter ``name`` set to ``value``."""
    if name == "alpha":
        return replace(config, alpha=value, feedback_max=max(config.feedback_max, value))
    if name == "feedback_max":
        return replace(config, feedback_max=max(value, config.alpha))
    return replace(config, **{name: value})


def training_inputs(scenes_text: str, variants: int, seed: int):
    """The training scene specs to tune on: canonical scenes plus ``variants`` randomised ones each.

    Returns:
        list of ``(name, scene)``.

    Raises:
        InvalidArgument: a scene that is not in the training set, or a bad variant count.
    """
    from engine_bridge.scene import sets
    from engine_bridge.scene.loader import load_scene

    if variants < 0:
        raise InvalidArgument("variants must be >= 0", field="--variants", expected=">= 0", actual=str(variants))
    if seed == sets.VALIDATION_SEED:
        raise InvalidArgument("that seed is reserved for the validation set", field="--seed",
                              expected=f"!= {sets.VALIDATION_SEED}", actual=str(seed))
    out = []
    for spec in sets.resolve_scene_list(scenes_text):
        if spec.split != "training" or spec.variant is not None:
            raise InvalidArgument("the TAA is tuned on training scenes only", field="--scenes",
                                  expected="training generators: " + ", ".join(sets.TRAINING_GENERATORS),
                                  actual=f"{spec.name} ({spec.split})")
        out.append((spec.name, spec.load()))
        for k in range(variants):
            out.append((f"{spec.name}@train{k + 1}", load_scene(spec.source, np.random.default_rng([seed, 1000 + k]))))
    return out


class Scorer:
    """Scores TAA configurations on rendered sequences (PyTorch TAA, no GL).

    Args:
        sequences: ``{name: qwplugin.io.sequence.Sequence}`` with references (at the display size).
        warmup: frames after each reset that are not scored.
        flip_stride: FLIP on every n-th scored frame.

    :meth:`score` takes a :class:`qwplugin.taa.TAAConfig` (render-size output; the references must be at the
    render size), a :class:`qwplugin.taau.TAAUConfig` (display-size output), or a spatial baseline
    ``("noaa" | TAAConfig, method)``: that frame upscaled with :func:`qwplugin.ops.resample.upscale`.
    """

    def __init__(self, sequences: dict, warmup: int, flip_stride: int):
        from qwplugin.eval.metrics import to_display

        self.sequences = sequences
        self.warmup = warmup
        self.flip_stride = flip_stride
        self._ref_display = {n: np.stack([to_display(r) for r in s.reference]) for n, s in sequences.items()}

    def score(self, config) -> dict[str, dict[str, float]]:
        """Per scene ``{"psnr_db", "psnr_srgb_db", "flip"}`` means over scored frames."""
        import torch

        from qwplugin.eval.metrics import flip_ldr, psnr_db, psnr_srgb_db, to_display
        from qwplugin.eval.run import scored_frames
        from qwplugin.ops.resample import upscale
        from qwplugin.taa import TAAConfig, TemporalAA
        from qwplugin.taau import TAAUConfig, TemporalUpscaler

        result = {}
        for name, seq in self.sequences.items():
            spatial = None
            if isinstance(config, TAAUConfig):
                method = TemporalUpscaler(seq.display_size, config)
            elif isinstance(config, tuple):
                source, spatial = config
                method = None if source == "noaa" else TemporalAA(source)
            else:
                assert isinstance(config, TAAConfig)
                method = TemporalAA(config)
            scored = scored_frames(seq.reset, self.warmup)
            psnr, psnr_srgb, flip = [], [], []
            for i in range(len(seq)):
                c = torch.from_numpy(np.ascontiguousarray(seq.color[i])).permute(2, 0, 1)[None]
                m = torch.from_numpy(np.ascontiguousarray(seq.motion_px[i])).permute(2, 0, 1)[None]
                d = torch.from_numpy(np.ascontiguousarray(seq.depth_view[i]))[None, None]
                if method is None:
                    out = c
                else:
                    out = method.step(c, m, reset=bool(seq.reset[i]), jitter_px=tuple(seq.jitter_px[i]), depth=d)
                if spatial is not None:
                    out = upscale(out, seq.display_size, spatial).clamp_min(0.0)
                if not scored[i]:
                    continue
                disp = to_display(out[0].permute(1, 2, 0).numpy())
                ref = self._ref_display[name][i]
                psnr.append(psnr_db(ref, disp))
                psnr_srgb.append(psnr_srgb_db(ref, disp))
                if len(psnr) % self.flip_stride == 1 or self.flip_stride == 1:
                    flip.append(flip_ldr(ref, disp))
            result[name] = {"psnr_db": float(np.mean(psnr)), "psnr_srgb_db": float(np.mean(psnr_srgb)),
                            "flip": float(np.mean(flip))}
        return result


def objective_value(scores: dict, objective: str) -> float:
    """Lower is better: mean FLIP, or minus the mean PSNR, across scenes."""
    if objective == "flip":
        return float(np.mean([s["flip"] for s in scores.values()]))
    return -float(np.mean([s["psnr_db"] for s in scores.values()]))


def describe(config) -> str:
    """Short text of the fields that matter for ``config`` (a TAAConfig, TAAUConfig or spatial baseline)."""
    from qwplugin.taau import TAAUConfig

    if isinstance(config, tuple):
        source, method = config
        return f"{'no-AA' if source == 'noaa' else 'tuned TAA'} + {method}"
    if isinstance(config, TAAUConfig):
        parts = [f"alpha {config.alpha:g}", f"gamma {config.gamma:g}", f"sigma {config.filter_sigma_px:g}"]
        parts.append("dilate" if config.dilate_motion else "no dilate")
        parts.append(f"depth {config.depth_tolerance:g}" if config.depth_rejection else "no depth test")
        parts.append("perceptual" if config.perceptual_clip else "linear clip")
        parts += [f"mfb {config.motion_feedback:g}", f"cfb {config.clip_feedback:g}",
                  f"max {config.feedback_max:g}", f"sharpen {config.sharpen:g}"]
        return ", ".join(parts)
    parts = [f"alpha {config.alpha:g}", f"gamma {config.gamma:g}"]
    parts.append(f"gauss {config.filter_sigma_px:g}" if config.filter == "gaussian" else "no filter")
    parts.append("dilate" if config.dilate_motion else "no dilate")
    parts.append(f"depth {config.depth_tolerance:g}" if config.depth_rejection else "no depth test")
    parts.append("perceptual" if config.perceptual_clip else "linear clip")
    parts += [f"mfb {config.motion_feedback:g}", f"cfb {config.clip_feedback:g}", f"max {config.feedback_max:g}",
              f"sharpen {config.sharpen:g}"]
    return ", ".join(parts)


def sweep(scorer: Scorer, start, objective: str, rounds: int, log=print, grid: dict | None = None,
          apply=None):
    """Coordinate descent over ``grid`` (default :data:`GRID`, values set with ``apply``, default
    :func:`apply_value`). Returns ``(best config, rows)``; each row is
    ``(step, parameter, value, config, scores, objective)``."""
    grid = GRID if grid is None else grid
    apply = apply_value if apply is None else apply
    cache: dict = {}
    rows = []

    def evaluate(cfg, param, value):
        key = tuple(sorted(cfg.to_dict().items()))
        if key not in cache:
            t0 = time.perf_counter()
            cache[key] = scorer.score(cfg)
            log(f"  [{len(cache):3d}] {param}={value}: {objective_value(cache[key], objective):.5f} "
                f"({time.perf_counter() - t0:.0f} s)  {describe(cfg)}")
            rows.append((len(rows), param, value, cfg, cache[key], objective_value(cache[key], objective)))
        return objective_value(cache[key], objective)

    best = start
    best_value = evaluate(best, "start", "-")
    for r in range(rounds):
        log(f"round {r + 1}/{rounds}")
        improved = False
        for param, values in grid.items():
            for value in values:
                cfg = apply(best, param, value)
                v = evaluate(cfg, param, value)
                if v < best_value - 1e-6:
                    best, best_value, improved = cfg, v, True
        if not improved:
            break
    return best, rows


def _table(rows_of_scores: list[tuple[str, dict]], scene_names: list[str]) -> str:
    lines = ["| configuration | mean FLIP ↓ | mean PSNR dB ↑ | mean sRGB PSNR dB ↑ | " +
             " | ".join(f"{n} FLIP / PSNR" for n in scene_names) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(scene_names)]
    for label, scores in rows_of_scores:
        mean_flip = np.mean([scores[n]["flip"] for n in scene_names])
        mean_psnr = np.mean([scores[n]["psnr_db"] for n in scene_names])
        mean_srgb = np.mean([scores[n]["psnr_srgb_db"] for n in scene_names])
        cells = " | ".join(f"{scores[n]['flip']:.4f} / {scores[n]['psnr_db']:.2f}" for n in scene_names)
        lines.append(f"| {label} | {mean_flip:.4f} | {mean_psnr:.2f} | {mean_srgb:.2f} | {cells} |")
    return "\n".join(lines) + "\n"


@command("qw-tune-taa")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog_name("qw-tune-taa", "engine_bridge.tune_taa"), description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", default="set:training", help="training scenes (default set:training)")
    parser.add_argument("--variants", type=int, default=1, help="randomised variants per scene (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the randomised variants (default 0)")
    parser.add_argument("--size", default="160x120",
                        help="render size WxH (default 160x120); the display size in --mode taau")
    parser.add_argument("--mode", choices=["taa", "taau"], default="taa",
                        help="tune the TAA (default) or the TAAU (temporal upscaling at --scale)")
    parser.add_argument("--scale", default="2.0",
                        help="--mode taau: upscaling mode or ratio in [1, 3] (default 2.0, performance)")
    parser.add_argument("--duration-s", type=float, default=3.0, help="seconds per scene (default 3)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel (default 64)")
    parser.add_argument("--objective", choices=["flip", "psnr"], default="flip")
    parser.add_argument("--rounds", type=int, default=2, help="coordinate-descent passes (default 2)")
    parser.add_argument("--flip-stride", type=int, default=3, help="FLIP on every n-th scored frame (default 3)")
    parser.add_argument("--warmup", type=int, default=None, help="unscored frames after a reset (default: eval's)")
    parser.add_argument("--start", default=None,
                        help="JSON of the starting TAAConfig / TAAUConfig (default TAAConfig() / TAAUConfig())")
    parser.add_argument("--backend", default="auto", choices=["auto", "egl", "osmesa", "glfw"])
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    import torch

    from engine_bridge.dataset import is_complete
    from engine_bridge.render import parse_size, render_sequence, upscale_settings
    from qwplugin.eval.run import DEFAULT_WARMUP
    from qwplugin.io.sequence import read_sequence
    from qwplugin.taa import TAAConfig
    from qwplugin.taau import TAAUConfig

    torch.set_num_threads(1)
    taau = args.mode == "taau"
    if taau:
        (width, height), display, mip_bias, phase_count = upscale_settings(parse_size(args.size),
                                                                           scale=args.scale)
    else:
        (width, height), display, mip_bias, phase_count = parse_size(args.size), None, -1.0, 16
    display_w = width if display is None else display[0]
    frames = int(round(args.duration_s * args.fps))
    if frames < 2:
        raise InvalidArgument("too short", field="--duration-s", expected=">= 2 frames", actual=str(frames))
    out = Path(args.out)
    sequences = {}
    for name, scene in training_inputs(args.scenes, args.variants, args.seed):
        folder = out / "inputs" / name.replace("@", "_")
        meta = folder / "sequence.json"
        fresh = (is_complete(folder, frames) and json.loads(meta.read_text()).get("width") == width
                 and json.loads(meta.read_text()).get("spp") == args.spp
                 and json.loads(meta.read_text()).get("display_width", width) == display_w)
        if not fresh:
            shown = f"{width}x{height}" + ("" if display is None else f" -> {display[0]}x{display[1]}")
            print(f"render {name} ({frames} frames, {shown}, {args.spp} spp)", file=sys.stderr)
            render_sequence(scene, folder, frames, width, height, spp=args.spp, fps=args.fps,
                            backend=args.backend, overwrite=True, progress=True, mip_bias=mip_bias,
                            phase_count=phase_count, display_size=display)
        sequences[name] = read_sequence(folder)
    config_cls = TAAUConfig if taau else TAAConfig
    start = config_cls.from_dict(json.loads(Path(args.start).read_text())) if args.start else config_cls()
    scorer = Scorer(sequences, DEFAULT_WARMUP if args.warmup is None else args.warmup, args.flip_stride)
    best, rows = sweep(scorer, start, args.objective, args.rounds,
                       log=lambda s: print(s, file=sys.stderr, flush=True),
                       grid=GRID_TAAU if taau else GRID, apply=apply_value_taau if taau else apply_value)
    names = list(sequences)
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "parameter", "value", "objective", "config"] +
                        [f"{n}:{k}" for n in names for k in ("flip", "psnr_db", "psnr_srgb_db")])
        for step, param, value, cfg, scores, obj in rows:
            writer.writerow([step, param, value, f"{obj:.6f}", json.dumps(cfg.to_dict())] +
                            [f"{scores[n][k]:.6f}" for n in names for k in ("flip", "psnr_db", "psnr_srgb_db")])
    ranked = sorted(rows, key=lambda r: r[5])
    shown = f"{width}x{height}" + ("" if display is None else f" upscaled to {display[0]}x{display[1]} (TAAU)")
    header = (f"Sweep on {len(names)} training sequences ({', '.join(names)}), {shown}, "
              f"{frames} frames each, {args.spp}-spp references; objective: {args.objective}; "
              f"{len(rows)} configurations, best 15 shown (all in sweep.csv).\n\n")
    (out / "sweep.md").write_text(header + _table([(f"{describe(r[3])}", r[4]) for r in ranked[:15]], names))
    (out / ("best_taau.json" if taau else "best_taa.json")).write_text(json.dumps(best.to_dict(), indent=2) + "\n")
    ablation = [("tuned (all options)", scorer.score(best))]
    for label, change in (ABLATIONS_TAAU if taau else ABLATIONS).items():
        cfg = replace(best, **change)
        if cfg != best:
            ablation.append((label, scorer.score(cfg)))
    if taau:
        for source in ("noaa", TAAConfig()):
            for method in ("bilinear", "bicubic", "lanczos"):
                ablation.append((describe((source, method)), scorer.score((source, method))))
    else:
        ablation.append(("classic TAA (alpha 0.1, gamma 1)", scorer.score(TAAConfig.classic())))
    (out / "ablation.md").write_text(
        f"Ablation of the tuned {'TAAU' if taau else 'TAA'} on the same training sequences "
        f"({args.objective} objective){', with the spatial baselines' if taau else ''}.\n\n"
        + _table(ablation, names))
    print(f"best: {describe(best)}\nwrote {out}/sweep.csv, sweep.md, ablation.md, "
          f"{'best_taau.json' if taau else 'best_taa.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
