"""Run every method over the same rendered sequences and measure each frame against the reference.

A scene is evaluated as one or more *runs* (:class:`SceneInput`): the same window of the scene rendered
with different starting jitter phases. Every method runs over every run from a reset; the scene's
scores pool all scored frames of all its runs.

Warm-up rule: after each reset (the first frame of a run and every camera cut), the first ``warmup``
frames are not scored (histories need a few frames to fill; TAA's and QW-Net's first frame after a reset
is the aliased input by construction). From the ``warmup``-th frame after a cut on, frames are scored
again. Temporal metrics of a scored frame compare it with the frame before, which is never across a
reset. Intervals and the win / tie / loss rule: :mod:`qwplugin.eval.stats`.

Temporal upscaling: a sequence whose display size differs from its render size (rendered with
``--display-size`` / ``--scale``; its reference is the display size) is run through the upscaling methods of
the registry (``taau``, ``taa+lanczos``, ``qwnet-int4+lanczos``, ...; built with the sequence's display size)
and scored at the display size. The temporal metrics reproject with the motion of the render pixel each
display pixel's centre lies in, in display pixels (:func:`display_motion`); the pictures show the aliased
input enlarged to the display size (nearest). A method that does not upscale is refused naming the
alternatives. Sequences of one size run exactly as before.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.eval import metrics as M
from qwplugin.eval import stats as S
from qwplugin.eval.methods import BASELINE, UPSCALING_BASELINE, make_method, parse_method
from qwplugin.io.sequence import Sequence, read_sequence
from qwplugin.runtime import Frame

DEFAULT_WARMUP = 4

COSTLY_METRICS = ("ssim", "flip", "hdr_flip")
"""Metrics that cost ~0.1-0.7 s per 256x192 frame on the 2-core CPU; ``costly_every`` can thin them out."""


def costly_frames(scored: np.ndarray, every: int) -> np.ndarray:
    """(T,) bool: the scored frames on which :data:`COSTLY_METRICS` are computed: every ``every``-th scored
    frame of the run (the first scored frame, then each ``every``-th after it).

    Examples:
        >>> costly_frames(np.array([False, True, True, True, True, True]), 2).tolist()
        [False, True, False, True, False, True]
    """
    rank = np.cumsum(scored) - 1
    return scored & (rank % every == 0)

def display_motion(motion_px: np.ndarray, render_size: tuple[int, int], display_size: tuple[int, int]
                   ) -> np.ndarray:
    """Render-resolution motion (H, W, 2) in render pixels -> (Hd, Wd, 2) in display pixels: each display
    pixel takes the motion of the render texel its centre lies in (:func:`qwplugin.taau.render_texel_map`,
    exact integers), times the per-axis scale ``display / render``.

    Examples:
        >>> m = np.zeros((1, 2, 2), np.float32); m[0, 1] = (1.0, 0.5)
        >>> display_motion(m, (2, 1), (4, 2))[:, :, 0].tolist()
        [[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]]
    """
    from qwplugin.taau import render_texel_map

    (w, h), (dw, dh) = render_size, display_size
    if (w, h) == (dw, dh):
        return motion_px
    rx, _ = render_texel_map(w, dw)
    ry, _ = render_texel_map(h, dh)
    scale = np.array([np.float32(dw) / np.float32(w), np.float32(dh) / np.float32(h)], np.float32)
    return np.asarray(motion_px, np.float32)[ry.numpy()][:, rx.numpy()] * scale


def _nearest(image: np.ndarray, render_size, display_size) -> np.ndarray:
    """(h, w, C) -> (Hd, Wd, C): the render texel each display centre lies in."""
    from qwplugin.taau import render_texel_map

    (w, h), (dw, dh) = render_size, display_size
    if (w, h) == (dw, dh):
        return image
    rx, _ = render_texel_map(w, dw)
    ry, _ = render_texel_map(h, dh)
    return image[ry.numpy()][:, rx.numpy()]


SET_ORDER = ("validation", "test", "training", "other")
"""Order of the scene sets in reports; ``other`` is a scene in no set (e.g. a file from elsewhere)."""


@dataclass
class SceneInput:
    """One scene to evaluate.

    Attributes:
        name: scene label in the report.
        runs: ``(run label, sequence)`` per run, e.g. ``("phase 4", folder)``; a sequence is a
            :class:`~qwplugin.io.sequence.Sequence` or a folder read when its turn comes (so only one
            run is in memory at a time). All runs have the same size.
        split: the scene set it belongs to (``validation``, ``test``, ``training`` or ``other``).
        window: what part of the scene was rendered, as text for the report ("" if unknown).
    """

    name: str
    runs: list[tuple[str, Sequence | str | Path]]
    split: str = "other"
    window: str = ""


@dataclass
class RunResult:
    """Per-frame results of every method on one run.

    Attributes:
        label: run label; frames: T; reset: (T,) bool; scored: (T,) bool (warm-up rule).
        per_frame: method -> metric -> (T,) float64, NaN where not scored (or undefined).
        step_ms: method -> (T,) wall-clock ms of each ``dispatch``.
        costly: (T,) bool, the scored frames where :data:`COSTLY_METRICS` were computed (None: all).
    """

    label: str
    frames: int
    reset: np.ndarray
    scored: np.ndarray
    per_frame: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    step_ms: dict[str, np.ndarray] = field(default_factory=dict)
    costly: np.ndarray | None = None

    def series(self, method: str, metric: str) -> np.ndarray:
        """Per-frame values of ``metric``, NaN where not scored. For a thinned costly metric the scored
        frames it skipped are dropped (not NaN), so the computed ones stay consecutive for the block
        bootstrap and segments still break at the unscored warm-up frames."""
        values = self.per_frame[method][metric]
        if self.costly is None or metric not in COSTLY_METRICS:
            return values
        return values[~(self.scored & ~self.costly)]


@dataclass
class SceneResult:
    """Results of every method on one scene (all its runs).

    Attributes:
        name, split, window: as in :class:`SceneInput`; size: (W, H) of the scored outputs (the display size).
        runs: one :class:`RunResult` per run.
        reference, color: (H, W, 3) linear HDR of the last frame of the first run (for the pictures), at
            the display size (the aliased colour enlarged, nearest, when upscaling).
        outputs: method -> (H, W, 3) linear HDR output on that frame.
        block, resamples, seed: bootstrap settings (:mod:`qwplugin.eval.stats`).
        render_size: (w, h) of the inputs (None: the same as ``size``).
    """

    name: str
    split: str
    window: str
    size: tuple[int, int]
    runs: list[RunResult]
    reference: np.ndarray
    color: np.ndarray
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    block: int = S.BLOCK_FRAMES
    resamples: int = S.RESAMPLES
    seed: int = S.SEED
    _cache: dict = field(default_factory=dict, repr=False)
    render_size: tuple[int, int] | None = None

    @property
    def frames(self) -> int:
        """Frames run, all runs together."""
        return sum(r.frames for r in self.runs)

    @property
    def scored_frames(self) -> int:
        """Frames scored, all runs together."""
        return int(sum(r.scored.sum() for r in self.runs))

    def series(self, method: str, metric: str) -> list[np.ndarray]:
        """(T,) per-frame values of each run (NaN where not scored; see :meth:`RunResult.series`)."""
        return [r.series(method, metric) for r in self.runs]

    def _bootstrap(self, key, series) -> tuple[S.Interval, np.ndarray]:
        if key not in self._cache:
            rng = S.scene_rng(self.name, self.seed)  # same resamples for every method: common random numbers
            self._cache[key] = S.mean_interval(series, rng, self.block, self.resamples)
        return self._cache[key]

    def interval(self, method: str, metric: str) -> tuple[S.Interval, np.ndarray]:
        """Mean of ``metric`` over all scored frames of all runs, its 95% interval, and the replicates."""
        return self._bootstrap(("mean", method, metric), self.series(method, metric))

    def summary(self, method: str) -> dict[str, S.Interval]:
        """metric -> :class:`~qwplugin.eval.stats.Interval` over the scored frames of all runs."""
        return {m: self.interval(method, m)[0] for m in M.METRIC_NAMES}

    def difference(self, method: str, baseline: str, metric: str) -> tuple[S.Interval, np.ndarray]:
        """Mean paired per-frame difference ``method - baseline`` and its 95% interval (and replicates)."""
        diff = S.paired_differences(self.series(method, metric), self.series(baseline, metric))
        return self._bootstrap(("diff", method, baseline, metric), diff)

    def verdicts(self, method: str, baseline: str) -> dict[str, tuple[str, S.Interval]]:
        """metric -> (``win`` / ``tie`` / ``loss``, interval of ``method - baseline``)."""
        out = {}
        for m in M.METRIC_NAMES:
            d = self.difference(method, baseline, m)[0]
            out[m] = (S.verdict(d, M.HIGHER_IS_BETTER[m]), d)
        return out

    def ms_per_frame(self, method: str) -> float:
        """Median wall-clock ms of ``dispatch`` over every frame of every run but each run's first."""
        times = [t for r in self.runs for t in (r.step_ms[method][1:] if r.frames > 1 else r.step_ms[method])]
        return float(statistics.median(times))


@dataclass
class EvalResult:
    """All scenes, and what ran.

    Attributes:
        scenes: per-scene results; methods: method names in order; descriptions: method -> what ran.
        warmup: frames not scored after each reset; exposure: display exposure.
        baseline: the method others are compared with (:data:`~qwplugin.eval.methods.BASELINE`; when it did
            not run, :data:`~qwplugin.eval.methods.UPSCALING_BASELINE`), or None when neither ran.
        costly_every: :data:`COSTLY_METRICS` were computed on every n-th scored frame.
    """

    scenes: list[SceneResult]
    methods: list[str]
    descriptions: dict[str, str]
    warmup: int
    exposure: float
    baseline: str | None = BASELINE
    costly_every: int = 1

    def splits(self) -> list[str]:
        """The scene sets present, in :data:`SET_ORDER`."""
        present = {s.split for s in self.scenes}
        return [x for x in SET_ORDER if x in present] + sorted(present - set(SET_ORDER))

    def scenes_of(self, split: str | None) -> list[SceneResult]:
        """The scenes of one set (all scenes for None)."""
        return [s for s in self.scenes if split is None or s.split == split]

    def overall(self, method: str, split: str | None = None) -> dict[str, S.Interval]:
        """metric -> mean of the per-scene means of ``split``'s scenes (every scene weighs the same) with
        the across-scenes interval of :func:`~qwplugin.eval.stats.across_scenes`; ``n`` counts scenes."""
        return {m: S.across_scenes([s.interval(method, m) for s in self.scenes_of(split)]) for m in M.METRIC_NAMES}

    def counts(self, method: str, split: str | None = None) -> dict[str, dict[str, int]]:
        """metric -> {"win", "tie", "loss"}: scenes of ``split`` by verdict against the baseline (a metric
        that was not computed, verdict ``n/a``, is not counted).

        Raises:
            InvalidOperation: the baseline did not run.
        """
        if self.baseline is None:
            raise InvalidOperation(f"no win/loss counts: the baseline {BASELINE!r} was not evaluated")
        out = {m: dict.fromkeys(S.VERDICTS, 0) for m in M.METRIC_NAMES}
        for s in self.scenes_of(split):
            for m, (v, _) in s.verdicts(method, self.baseline).items():
                if v in out[m]:
                    out[m][v] += 1
        return out


def scored_frames(resets: np.ndarray, warmup: int) -> np.ndarray:
    """(T,) bool: frame ``i`` is scored when at least ``warmup`` frames passed since the last reset
    (frame 0 is always a reset). Frames after a camera cut are scored again once the warm-up has passed.

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


def _frame_metrics(out, ref, out_display, ref_display, exposure, with_flip: bool,
                   costly: bool = True) -> dict[str, float]:
    """Spatial metrics of one frame: linear HDR ``out``/``ref`` and their tonemapped display versions
    (:data:`COSTLY_METRICS` only when ``costly``, NaN otherwise)."""
    values = {"psnr_db": M.psnr_db(ref_display, out_display), "psnr_srgb_db": M.psnr_srgb_db(ref_display, out_display),
              "ssim": M.ssim(ref_display, out_display) if costly else float("nan")}
    values["flip"] = M.flip_ldr(ref_display, out_display) if with_flip and costly else float("nan")
    values["hdr_flip"] = M.flip_hdr(ref, out, exposure) if with_flip and costly else float("nan")
    return values


def _load(run: Sequence | str | Path) -> Sequence:
    return run if isinstance(run, Sequence) else read_sequence(run)


def _check_sequence(name: str, seq: Sequence, warmup: int) -> None:
    if seq.reference is None:
        raise InvalidArgument("sequence has no reference (rendered with spp 0)", field=name, expected="spp > 0",
                              actual="spp 0")
    if not scored_frames(seq.reset, warmup).any():
        raise InvalidArgument("no frame left to score after the warm-up", field=name,
                              expected=f"> {warmup} frames after a reset", actual=f"{len(seq)} frames")


def _run_method(method, seq: Sequence, scored: np.ndarray, ref_display: np.ndarray, exposure: float,
                with_flip: bool, bar, costly: np.ndarray | None = None
                ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One method (a reconstructor) over one sequence: (per-frame metrics, dispatch ms, last output)."""
    t = len(seq)
    per_frame = {m: np.full(t, np.nan) for m in M.METRIC_NAMES}
    times = np.zeros(t)
    prev_display = None
    out = None
    sizes = ((seq.width, seq.height), seq.display_size)
    for i in range(t):
        reset = bool(seq.reset[i]) or i == 0
        frame = Frame(color=seq.color[i], motion_px=seq.motion_px[i], jitter_px=tuple(seq.jitter_px[i]),
                      depth=seq.depth_view[i], reset=reset, exposure=exposure)
        t0 = time.perf_counter()
        out = method.dispatch(frame)
        times[i] = (time.perf_counter() - t0) * 1e3
        out_display = M.to_display(out, exposure)
        if scored[i]:
            for k, v in _frame_metrics(out, seq.reference[i], out_display, ref_display[i], exposure,
                                       with_flip, costly is None or bool(costly[i])).items():
                per_frame[k][i] = v
            if not reset:
                per_frame["temporal"][i], per_frame["flicker"][i] = M.temporal_metrics(
                    out_display, prev_display, ref_display[i], ref_display[i - 1],
                    display_motion(seq.motion_px[i], *sizes))
        prev_display = out_display
        bar.update(1)
    return per_frame, times, out


def evaluate_scene(scene: SceneInput, methods: list[str], warmup: int = DEFAULT_WARMUP, exposure: float = 1.0,
                   with_flip: bool = True, progress: bool = True, descriptions: dict[str, str] | None = None,
                   block: int = S.BLOCK_FRAMES, resamples: int = S.RESAMPLES, seed: int = S.SEED,
                   costly_every: int = 1) -> SceneResult:
    """Run ``methods`` over every run of ``scene`` and score every frame (see the module docstring).

    Args:
        scene: the scene and its runs.
        methods: method specs (names or ``NAME=PATH``, :mod:`qwplugin.runtime.registry`).
        warmup: frames not scored after each reset, >= 0.
        exposure: display exposure > 0.
        with_flip: compute LDR/HDR-FLIP (NaN otherwise).
        progress: a tqdm bar over frames x methods.
        descriptions: filled with method name -> what ran.
        block, resamples, seed: bootstrap settings for the intervals.
        costly_every: compute :data:`COSTLY_METRICS` on every n-th scored frame only (1 = all).

    Raises:
        InvalidArgument: no runs, a run without a reference or with nothing left to score, runs of
            different sizes, ``costly_every`` < 1.
    """
    if not (isinstance(costly_every, int) and costly_every >= 1):
        raise InvalidArgument("costly_every must be an integer >= 1", field="costly_every", expected=">= 1",
                              actual=repr(costly_every))
    if not scene.runs:
        raise InvalidArgument("scene has no runs", field=scene.name, expected=">= 1 run", actual="0")
    result = None
    bar = tqdm(total=0, desc=f"{scene.name}", unit="frame", leave=False, disable=not progress)
    try:
        for label, run in scene.runs:
            seq = _load(run)
            _check_sequence(f"{scene.name} ({label})", seq, warmup)
            if result is not None and (result.size, result.render_size) != (seq.display_size,
                                                                            (seq.width, seq.height)):
                raise InvalidArgument("runs of one scene differ in size", field=f"{scene.name} ({label})",
                                      expected="%dx%d" % result.size, actual=f"{seq.width}x{seq.height}")
            bar.total += len(seq) * len(methods)
            bar.refresh()
            scored = scored_frames(seq.reset, warmup)
            resets = np.asarray(seq.reset, bool).copy()
            resets[0] = True
            costly = None if costly_every == 1 else costly_frames(scored, costly_every)
            run_result = RunResult(label, len(seq), resets, scored, costly=costly)
            ref_display = np.stack([M.to_display(r, exposure) for r in seq.reference])
            first = result is None
            render = (seq.width, seq.height)
            if first:
                color = _nearest(seq.color[-1][..., :3], render, seq.display_size).copy()
                result = SceneResult(scene.name, scene.split, scene.window, seq.display_size, [],
                                     seq.reference[-1].copy(), color, block=block,
                                     resamples=resamples, seed=seed, render_size=render)
            for spec in methods:
                upscaling = seq.display_size != render
                method = make_method(spec, render, seq.display_size if upscaling else None)
                name = method.info.name
                bar.set_postfix_str(f"{label}: {name}")
                if descriptions is not None:
                    descriptions[name] = method.info.description
                try:
                    per_frame, times, last = _run_method(method, seq, scored, ref_display, exposure, with_flip, bar,
                                                         costly)
                finally:
                    method.close()
                run_result.per_frame[name] = per_frame
                run_result.step_ms[name] = times
                if first:
                    result.outputs[name] = np.asarray(last, np.float32).copy()
            result.runs.append(run_result)
            del seq, ref_display
    finally:
        bar.close()
    return result


def evaluate(scenes: list[SceneInput], methods: list[str], warmup: int = DEFAULT_WARMUP, exposure: float = 1.0,
             with_flip: bool = True, progress: bool = True, block: int = S.BLOCK_FRAMES,
             resamples: int = S.RESAMPLES, seed: int = S.SEED, costly_every: int = 1) -> EvalResult:
    """Evaluate ``methods`` (see :mod:`qwplugin.eval.methods`) on each scene.

    Args:
        scenes: the scenes (:class:`SceneInput`); sequences given as objects are checked before any work.
        methods: method specs, distinct names.
        warmup, exposure, with_flip, progress, block, resamples, seed, costly_every: as in
            :func:`evaluate_scene`.

    Raises:
        InvalidArgument: no scenes or methods, an unknown method, duplicate method or scene names, a
            negative warm-up, a sequence without a reference, or fewer than ``warmup + 1`` frames (nothing
            would be scored).
    """
    if not scenes:
        raise InvalidArgument("no scenes to evaluate", field="scenes", expected=">= 1", actual="0")
    if not methods:
        raise InvalidArgument("no methods to evaluate", field="methods", expected=">= 1", actual="0")
    names = [parse_method(m)[0] for m in methods]  # validates before any work
    if len(set(names)) != len(names):
        raise InvalidArgument("a method is listed twice", field="methods", expected="distinct names",
                              actual=", ".join(names))
    scene_names = [s.name for s in scenes]
    if len(set(scene_names)) != len(scene_names):
        raise InvalidArgument("a scene is listed twice", field="scenes", expected="distinct names",
                              actual=", ".join(scene_names))
    if warmup < 0:
        raise InvalidArgument("warmup must be >= 0", field="warmup", expected=">= 0", actual=str(warmup))
    if not exposure > 0:
        raise InvalidArgument("exposure must be > 0", field="exposure", expected="> 0", actual=repr(exposure))
    for scene in scenes:
        for label, run in scene.runs:
            if isinstance(run, Sequence):
                _check_sequence(f"{scene.name} ({label})", run, warmup)
    descriptions: dict[str, str] = {}
    results = [evaluate_scene(scene, methods, warmup, exposure, with_flip, progress, descriptions, block,
                              resamples, seed, costly_every)
               for scene in tqdm(scenes, desc="eval", unit="scene", disable=not progress or len(scenes) < 2)]
    baseline = next((b for b in (BASELINE, UPSCALING_BASELINE) if b in names), None)
    return EvalResult(results, names, descriptions, warmup, exposure, baseline, costly_every)
