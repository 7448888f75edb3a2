"""Run every method over the same rendered sequences and measure each frame against the reference.

Warm-up rule: after each reset (the first frame and every camera cut), the first ``warmup`` frames are
not scored (histories need a few frames to fill; TAA's and QW-Net's first frame after a reset is the
aliased input by construction). Temporal metrics of a scored frame compare it with the frame before,
which is never across a reset.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from qwplugin.errors import InvalidArgument
from qwplugin.eval import metrics as M
from qwplugin.eval.methods import make_method, parse_method
from qwplugin.io.sequence import Sequence
from qwplugin.runtime import Frame

DEFAULT_WARMUP = 4


@dataclass
class SceneResult:
    """Results of every method on one scene.

    Attributes:
        name: scene label; size: (W, H); frames: frames run.
        scored: (T,) bool, which frames count (warm-up rule).
        per_frame: method -> metric -> (T,) list (NaN where not scored).
        outputs: method -> (T, H, W, 3) linear HDR outputs (kept for pictures).
        reference, color: (T, H, W, 3) linear HDR; motion_px (T, H, W, 2).
        ms_per_frame: method -> median wall-clock ms of ``step``.
    """

    name: str
    size: tuple[int, int]
    frames: int
    scored: np.ndarray
    reference: np.ndarray
    color: np.ndarray
    motion_px: np.ndarray
    per_frame: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    ms_per_frame: dict[str, float] = field(default_factory=dict)

    def summary(self, method: str) -> dict[str, dict[str, float]]:
        """metric -> {"mean", "std", "n"} over the scored frames (NaNs left out)."""
        out = {}
        for metric, values in self.per_frame[method].items():
            v = [x for x in values if np.isfinite(x)]
            out[metric] = {"mean": float(np.mean(v)) if v else float("nan"),
                           "std": float(np.std(v)) if v else float("nan"), "n": len(v)}
        return out


@dataclass
class EvalResult:
    """All scenes, and what ran."""

    scenes: list[SceneResult]
    methods: list[str]
    descriptions: dict[str, str]
    warmup: int
    exposure: float

    def overall(self, method: str) -> dict[str, dict[str, float]]:
        """metric -> {"mean" (of the per-scene means: every scene weighs the same), "std" (across scenes)}."""
        out = {}
        for metric in M.METRIC_NAMES:
            means = [s.summary(method)[metric]["mean"] for s in self.scenes]
            means = [m for m in means if np.isfinite(m)]
            out[metric] = {"mean": float(np.mean(means)) if means else float("nan"),
                           "std": float(np.std(means)) if means else float("nan"), "n": len(means)}
        return out


def scored_frames(resets: np.ndarray, warmup: int) -> np.ndarray:
    """(T,) bool: frame ``i`` is scored when at least ``warmup`` frames passed since the last reset.

    Examples:
        >>> scored_frames(np.array([True, False, False, True, False]), 1).tolist()
        [False, True, True, False, True]
    """
    out = np.zeros(len(resets), bool)
    since = 0
    for i, r in enumerate(resets):
        since = 0 if (r or i == 0) else since + 1
        out[i] = since >= warmup
    return out


def _frame_metrics(out, ref, out_display, ref_display, exposure, with_flip: bool) -> dict[str, float]:
    """Spatial metrics of one frame: linear HDR ``out``/``ref`` and their display-domain versions."""
    values = {"psnr_db": M.psnr_db(ref_display, out_display), "ssim": M.ssim(ref_display, out_display)}
    values["flip"] = M.flip_ldr(ref_display, out_display) if with_flip else float("nan")
    values["hdr_flip"] = M.flip_hdr(ref, out, exposure) if with_flip else float("nan")
    return values


def evaluate_scene(name: str, seq: Sequence, methods: list[str], warmup: int = DEFAULT_WARMUP,
                   exposure: float = 1.0, with_flip: bool = True, progress: bool = True,
                   descriptions: dict[str, str] | None = None) -> SceneResult:
    """Run ``methods`` over ``seq`` and score every frame (see the module docstring).

    Raises:
        InvalidArgument: the sequence has no reference, or is smaller than the SSIM window.
    """
    if seq.reference is None:
        raise InvalidArgument("sequence has no reference (rendered with spp 0)", field=name, expected="spp > 0",
                              actual="spp 0")
    t = len(seq)
    scored = scored_frames(seq.reset, warmup)
    result = SceneResult(name, (seq.width, seq.height), t, scored, seq.reference, seq.color, seq.motion_px)
    ref_display = np.stack([M.to_display(r, exposure) for r in seq.reference])
    for spec in methods:
        method = make_method(spec, (seq.width, seq.height))
        mname = method.name
        if descriptions is not None:
            descriptions[mname] = method.description
        outputs = np.zeros_like(seq.color)
        out_display = np.zeros_like(seq.color)
        times = []
        per_frame = {m: [float("nan")] * t for m in M.METRIC_NAMES}
        bar = tqdm(range(t), desc=f"{name}: {mname}", unit="frame", leave=False, disable=not progress)
        try:
            for i in bar:
                frame = Frame(color=seq.color[i], motion_px=seq.motion_px[i], jitter_px=tuple(seq.jitter_px[i]),
                              depth=seq.depth_view[i], reset=bool(seq.reset[i]) or i == 0, exposure=exposure)
                t0 = time.perf_counter()
                outputs[i] = method.step(frame)
                times.append((time.perf_counter() - t0) * 1e3)
                out_display[i] = M.to_display(outputs[i], exposure)
                if not scored[i]:
                    continue
                for k, v in _frame_metrics(outputs[i], seq.reference[i], out_display[i], ref_display[i], exposure,
                                           with_flip).items():
                    per_frame[k][i] = v
                if i > 0 and not seq.reset[i]:
                    per_frame["temporal"][i], per_frame["flicker"][i] = M.temporal_metrics(
                        out_display[i], out_display[i - 1], ref_display[i], ref_display[i - 1], seq.motion_px[i])
        finally:
            method.close()
        result.per_frame[mname] = per_frame
        result.outputs[mname] = outputs
        result.ms_per_frame[mname] = statistics.median(times[1:] if len(times) > 1 else times)
    return result


def evaluate(scenes: list[tuple[str, Sequence]], methods: list[str], warmup: int = DEFAULT_WARMUP,
             exposure: float = 1.0, with_flip: bool = True, progress: bool = True) -> EvalResult:
    """Evaluate ``methods`` (see :mod:`qwplugin.eval.methods`) on each ``(name, sequence)``.

    Raises:
        InvalidArgument: no scenes or methods, an unknown method, duplicate names, a sequence without a
            reference, or fewer than ``warmup + 1`` frames (nothing would be scored).
    """
    if not scenes:
        raise InvalidArgument("no scenes to evaluate", field="scenes", expected=">= 1", actual="0")
    if not methods:
        raise InvalidArgument("no methods to evaluate", field="methods", expected=">= 1", actual="0")
    names = [parse_method(m)[0] for m in methods]  # validates before any work
    if len(set(names)) != len(names):
        raise InvalidArgument("a method is listed twice", field="methods", expected="distinct names",
                              actual=", ".join(names))
    if warmup < 0:
        raise InvalidArgument("warmup must be >= 0", field="warmup", expected=">= 0", actual=str(warmup))
    for name, seq in scenes:
        if not scored_frames(seq.reset, warmup).any():
            raise InvalidArgument("no frame left to score after the warm-up", field=name,
                                  expected=f"> {warmup} frames after a reset", actual=f"{len(seq)} frames")
    descriptions: dict[str, str] = {}
    results = [evaluate_scene(name, seq, methods, warmup, exposure, with_flip, progress, descriptions)
               for name, seq in tqdm(scenes, desc="eval", unit="scene", disable=not progress)]
    return EvalResult(results, names, descriptions, warmup, exposure)
