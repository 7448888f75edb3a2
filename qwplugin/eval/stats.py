"""Intervals over correlated frames, and the win/tie/loss rule.

Consecutive frames of a sequence are correlated (a history carries errors from one frame to the next, a
slow camera shows nearly the same image), so resampling single frames would give intervals that are
too narrow. Intervals here come from a **circular block bootstrap** (Politis & Romano 1992, "A circular
block-resampling procedure for stationary data"): the scored frames are cut into *segments* of
consecutive frames (a segment never spans a reset, an unscored frame or two runs), each resample is
built from blocks of :data:`BLOCK_FRAMES` consecutive frames of one segment (wrapping around inside that
segment, so every frame is drawn equally often on average), and the interval is the 2.5th..97.5th
percentile of the resampled means (:data:`RESAMPLES` resamples). The generator is seeded from
:data:`SEED` and the scene name, so a scene's interval does not depend on which other scenes ran, and
every method of a scene is resampled with the same frame indices (common random numbers).

**Win / tie / loss** of a method against a baseline on one metric: the interval of the mean *paired*
per-frame difference ``method - baseline`` (same frames of the same runs). ``win`` when the whole 95%
interval lies on the better side of 0, ``loss`` when it lies on the worse side, ``tie`` otherwise
(including an interval touching 0).

**Across scenes**: the mean of the per-scene means (every scene weighs the same), with the interval of the
same statistic over per-scene resamples (each scene's frames resampled as above, independently). The
scenes themselves are fixed, not a sample: the interval says how much the frames move the number, not
how a different choice of scenes would.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from qwplugin.errors import InvalidArgument

BLOCK_FRAMES = 8
"""Frames per bootstrap block: longer than the correlation of a 10%-feedback history (an exponential
average with weight 0.1 forgets half its past in ~7 frames), short against a 3 s window (90 frames)."""

RESAMPLES = 2000
"""Bootstrap resamples per interval: the Monte-Carlo error of a 2.5% percentile is then ~0.35% (binomial
``sqrt(p (1 - p) / B)``), small against the interval itself."""

SEED = 0
"""Base seed of the bootstrap generators (combined with the scene name)."""

CONFIDENCE = 0.95
"""Coverage of the reported intervals."""

VERDICTS = ("win", "tie", "loss")
"""The verdicts that are counted; a metric that was not computed gets ``n/a`` and is not counted."""


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval.

    Attributes:
        mean: the sample mean (NaN when ``n`` is 0).
        lo, hi: the 95% interval bounds (NaN when ``n`` is 0).
        n: number of values (frames, or scenes for an across-scenes interval).
    """

    mean: float
    lo: float
    hi: float
    n: int

    def as_dict(self) -> dict[str, float]:
        """``{"mean", "lo", "hi", "n"}``."""
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n}


EMPTY = Interval(math.nan, math.nan, math.nan, 0)


def finite_segments(series: list[np.ndarray]) -> list[np.ndarray]:
    """Split each 1-D series (one run's per-frame values) at its non-finite entries.

    Args:
        series: 1-D float arrays, NaN where a frame is not scored.

    Returns:
        the maximal runs of consecutive finite values, in order (empty runs dropped).

    Examples:
        >>> [s.tolist() for s in finite_segments([np.array([np.nan, 1.0, 2.0, np.nan, 3.0])])]
        [[1.0, 2.0], [3.0]]
    """
    out = []
    for s in series:
        s = np.asarray(s, np.float64)
        if s.ndim != 1:
            raise InvalidArgument("a per-frame series must be 1-D", field="series", expected="(T,)",
                                  actual=str(s.shape))
        ok = np.isfinite(s)
        edges = np.flatnonzero(np.diff(np.concatenate(([False], ok, [False])).astype(np.int8)))
        out += [s[a:b] for a, b in zip(edges[0::2], edges[1::2])]
    return out


def scene_rng(name: str, seed: int = SEED) -> np.random.Generator:
    """The bootstrap generator of scene ``name``: ``default_rng([seed, crc32(name)])``."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def _block_table(lengths: list[int], block: int) -> np.ndarray:
    """(n, block) indices into the concatenated segments: row p is the block starting at global position p,
    wrapping around inside p's own segment."""
    rows, offset = [], 0
    for m in lengths:
        rows.append(offset + (np.arange(m)[:, None] + np.arange(block)[None, :]) % m)
        offset += m
    return np.concatenate(rows)


def bootstrap_means(segments: list[np.ndarray], rng: np.random.Generator, block: int = BLOCK_FRAMES,
                    resamples: int = RESAMPLES) -> np.ndarray:
    """Circular block bootstrap of the mean (see the module docstring).

    Args:
        segments: 1-D arrays of consecutive finite values (:func:`finite_segments`); n values in all.
        rng: the generator (:func:`scene_rng`); the same state gives the same resamples.
        block: frames per block, >= 1 (1 is the ordinary i.i.d. bootstrap).
        resamples: number of resamples, >= 1.

    Returns:
        (resamples,) float64 means of resamples of n values each; empty when n is 0.

    Raises:
        InvalidArgument: block or resamples < 1.
    """
    if block < 1:
        raise InvalidArgument("bootstrap block must be >= 1 frame", field="block", expected=">= 1",
                              actual=repr(block))
    if resamples < 1:
        raise InvalidArgument("bootstrap needs >= 1 resample", field="resamples", expected=">= 1",
                              actual=repr(resamples))
    segments = [np.asarray(s, np.float64) for s in segments if len(s)]
    if not segments:
        return np.zeros(0)
    x = np.concatenate(segments)
    n = len(x)
    table = _block_table([len(s) for s in segments], block)
    blocks = -(-n // block)
    means = np.empty(resamples)
    chunk = max(1, 4_000_000 // (blocks * block))  # bounds the index array to ~32 MB
    for a in range(0, resamples, chunk):
        b = min(resamples, a + chunk)
        starts = rng.integers(0, n, size=(b - a, blocks))
        idx = table[starts].reshape(b - a, blocks * block)[:, :n]
        means[a:b] = x[idx].mean(axis=1)
    return means


def percentile_interval(mean: float, replicates: np.ndarray, n: int,
                        confidence: float = CONFIDENCE) -> Interval:
    """``Interval(mean, lower and upper percentiles of replicates, n)``; NaN bounds for no replicates."""
    if len(replicates) == 0 or n == 0:
        return Interval(float(mean) if n else math.nan, math.nan, math.nan, n)
    tail = 100.0 * (1.0 - confidence) / 2.0
    lo, hi = np.percentile(replicates, [tail, 100.0 - tail])
    return Interval(float(mean), float(lo), float(hi), int(n))


def mean_interval(series: list[np.ndarray], rng: np.random.Generator, block: int = BLOCK_FRAMES,
                  resamples: int = RESAMPLES) -> tuple[Interval, np.ndarray]:
    """Mean of the finite values of ``series`` (one array per run) and its block-bootstrap interval.

    Returns:
        ``(interval, replicates)``: replicates (resamples,) are kept for across-scenes intervals.
    """
    segments = finite_segments(series)
    n = int(sum(len(s) for s in segments))
    if n == 0:
        return EMPTY, np.zeros(0)
    reps = bootstrap_means(segments, rng, block, resamples)
    return percentile_interval(float(np.concatenate(segments).mean()), reps, n), reps


def paired_differences(method: list[np.ndarray], baseline: list[np.ndarray]) -> list[np.ndarray]:
    """Per-frame ``method - baseline`` per run (NaN where either is not finite).

    Raises:
        InvalidArgument: different run counts or run lengths.
    """
    if len(method) != len(baseline):
        raise InvalidArgument("paired series need the same runs", field="baseline", expected=str(len(method)),
                              actual=str(len(baseline)))
    out = []
    for a, b in zip(method, baseline):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            raise InvalidArgument("paired series need the same frames", field="baseline", expected=str(a.shape),
                                  actual=str(b.shape))
        out.append(a - b)
    return out


def verdict(diff: Interval, higher_is_better: bool) -> str:
    """``win``, ``tie`` or ``loss`` from the interval of ``method - baseline`` (see the module docstring);
    ``n/a`` when the metric was not computed (no finite interval).

    Examples:
        >>> verdict(Interval(0.5, 0.2, 0.8, 90), higher_is_better=True)
        'win'
        >>> verdict(Interval(0.5, 0.2, 0.8, 90), higher_is_better=False)
        'loss'
        >>> verdict(Interval(0.1, -0.2, 0.4, 90), higher_is_better=True)
        'tie'
    """
    if not (math.isfinite(diff.lo) and math.isfinite(diff.hi)):
        return "n/a"
    if diff.lo > 0.0:
        return "win" if higher_is_better else "loss"
    if diff.hi < 0.0:
        return "loss" if higher_is_better else "win"
    return "tie"


def across_scenes(per_scene: list[tuple[Interval, np.ndarray]], confidence: float = CONFIDENCE) -> Interval:
    """Mean of per-scene means and its interval from the per-scene replicates (see the module docstring).

    Args:
        per_scene: ``(interval, replicates)`` of each scene, as :func:`mean_interval` returns; scenes with no
            values are left out.

    Returns:
        ``Interval(mean of means, lo, hi, number of scenes)``.
    """
    kept = [(i, r) for i, r in per_scene if i.n > 0 and len(r)]
    if not kept:
        return EMPTY
    reps = np.mean(np.stack([r for _, r in kept]), axis=0)
    return percentile_interval(float(np.mean([i.mean for i, _ in kept])), reps, len(kept), confidence)
