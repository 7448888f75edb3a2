"""A renderer-free dataset in the project's dataset format, for tests and smoke runs.

Each sequence is a procedural 2-D pattern (a rotated checkerboard with thin bright HDR lines, both of
which alias when point-sampled) scrolling at a constant sub-pixel velocity ``v`` (pixels per frame,
+x right, +y down). Frame ``k`` shows ``P(p - k v)`` at continuous image position ``p`` (pixel centres at
``+0.5``), so the motion is exact and the same everywhere: ``motion_px = -v`` (previous = current + motion).

- ``color``: one sample per pixel at the frame's Halton(2, 3) jitter (:func:`qwplugin.ops.halton.jitter_offset_px`
  of ``start_phase + k``; ``start_phase`` 0, or drawn in 0..15 per sequence with ``random_start_phase``, as
  the engine's dataset generator does);
- ``reference``: the box-filtered mean of ``spp`` stratified samples (``sqrt(spp)`` per axis) over the
  pixel, as the engine's references are;
- ``depth_view``: a constant per sequence (a fronto-parallel plane).

Sequence ``i`` is scene ``synthetic_<i>`` drawn from ``default_rng([seed, i])``; the last
``val_sequences`` sequences form the validation split (whole scenes held out, as the real generator does).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from qwplugin.data.index import DatasetIndex, SequenceEntry, write_index
from qwplugin.errors import InvalidArgument
from qwplugin.io.sequence import SequenceWriter
from qwplugin.ops.halton import DEFAULT_PHASE_COUNT, jitter_offset_px

LINE_RADIANCE = 3.0
"""HDR value of the thin lines (above 1, so the tonemap matters)."""


def _draw_pattern(rng: np.random.Generator) -> dict:
    return {"angle": float(rng.uniform(0.0, math.pi)), "cell_px": float(rng.uniform(4.0, 10.0)),
            "line_period_px": float(rng.uniform(8.0, 16.0)), "line_width_px": float(rng.uniform(0.3, 0.8)),
            "colors": rng.uniform(0.02, 0.8, size=(3, 3)).astype(np.float64),
            "velocity_px": rng.uniform(-1.0, 1.0, size=2), "depth": float(rng.uniform(2.0, 30.0))}


def evaluate_pattern(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    """Linear HDR RGB of pattern ``p`` at continuous positions (``x``, ``y``): shape ``x.shape + (3,)``."""
    c, s = math.cos(p["angle"]), math.sin(p["angle"])
    u, w = x * c + y * s, -x * s + y * c
    checker = (np.floor(u / p["cell_px"]) + np.floor(w / p["cell_px"])) % 2.0
    line = (np.mod(w, p["line_period_px"]) < p["line_width_px"]).astype(np.float64)
    a, b, l = p["colors"]
    rgb = checker[..., None] * a + (1.0 - checker[..., None]) * b
    return rgb * (1.0 - line[..., None]) + line[..., None] * (LINE_RADIANCE * l / max(l.max(), 1e-6))


def _supersampled(x: np.ndarray, y: np.ndarray, p: dict, spp: int) -> np.ndarray:
    """The reference of pattern ``p`` over the pixels whose top-left corners are ``(x, y)``: the mean of a
    regular sqrt(spp) x sqrt(spp) grid of samples in each pixel, (H, W, 3) float32."""
    n = int(round(math.sqrt(spp)))
    offsets = (np.arange(n) + 0.5) / n
    ref = np.zeros(x.shape + (3,))
    for oy in offsets:
        for ox in offsets:
            ref += evaluate_pattern(x + ox, y + oy, p)
    return (ref / (n * n)).astype(np.float32)


def render_frame(p: dict, k: int, width: int, height: int, spp: int,
                 start_phase: int = 0) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Frame ``k`` of pattern ``p``: (aliased colour (H, W, 3), reference (H, W, 3), jitter_px); the jitter
    is Halton phase ``(start_phase + k) % 16``."""
    jx, jy = jitter_offset_px(start_phase + k)
    vx, vy = p["velocity_px"]
    x, y = np.meshgrid(np.arange(width, dtype=np.float64) - k * vx, np.arange(height, dtype=np.float64) - k * vy)
    color = evaluate_pattern(x + 0.5 + jx, y + 0.5 + jy, p)
    return color.astype(np.float32), _supersampled(x, y, p, spp), (jx, jy)


def write_synthetic_dataset(root: str | os.PathLike, sequences: int, frames: int = 8, width: int = 64,
                            height: int = 64, spp: int = 16, seed: int = 0,
                            val_sequences: int | None = None, random_start_phase: bool = False) -> DatasetIndex:
    """Write a synthetic dataset (see the module docstring) to ``root``; returns its index.

    Args:
        root: dataset folder (created; existing sequences are overwritten).
        sequences: total sequences (train + val), >= 2.
        frames, width, height: per sequence.
        spp: reference samples per pixel, a perfect square.
        seed: base seed.
        val_sequences: validation sequences (default ``max(1, sequences // 8)``).
        random_start_phase: start sequence ``i`` at a Halton phase in 0..15 drawn from its generator (after
            the pattern, so the patterns are those of ``random_start_phase=False``); else at phase 0.

    Raises:
        InvalidArgument: bad counts or a non-square ``spp``.
    """
    if sequences < 2:
        raise InvalidArgument("need at least two sequences (one held out)", field="sequences", expected=">= 2",
                              actual=str(sequences))
    if frames < 1:
        raise InvalidArgument("frames must be >= 1", field="frames", expected=">= 1", actual=str(frames))
    n = int(round(math.sqrt(spp)))
    if spp < 1 or n * n != spp:
        raise InvalidArgument("spp must be a perfect square", field="spp", expected="1, 4, 9, 16, ...",
                              actual=str(spp))
    val_sequences = max(1, sequences // 8) if val_sequences is None else val_sequences
    if not 0 < val_sequences < sequences:
        raise InvalidArgument("val sequences must be in 1..sequences-1", field="val_sequences",
                              expected=f"1..{sequences - 1}", actual=str(val_sequences))
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    identity = np.eye(4)
    for i in range(sequences):
        split = "val" if i >= sequences - val_sequences else "train"
        entry = SequenceEntry(f"seq_{i:04d}", f"synthetic_{i}", split)
        rng = np.random.default_rng([seed, i])
        p = _draw_pattern(rng)
        start_phase = int(rng.integers(0, DEFAULT_PHASE_COUNT)) if random_start_phase else 0
        motion = np.empty((height, width, 2), np.float32)
        motion[..., 0], motion[..., 1] = -p["velocity_px"][0], -p["velocity_px"][1]
        depth = np.full((height, width), p["depth"], np.float32)
        with SequenceWriter(root / entry.name, entry.scene, width, height, spp, fps=30.0, overwrite=True) as w:
            for k in range(frames):
                color, ref, jitter = render_frame(p, k, width, height, spp, start_phase)
                w.add_frame(color, motion, depth, time_s=k / 30.0, jitter_px=jitter, reset=k == 0, view=identity,
                            projection=identity, reference=ref)
        entries.append(entry)
    index = DatasetIndex(entries, sorted(e.scene for e in entries if e.split == "train"),
                         sorted(e.scene for e in entries if e.split == "val"),
                         {"command": "qwplugin.data.synthetic.write_synthetic_dataset", "seed": seed,
                          "sequences": sequences, "frames": frames, "size": [width, height], "spp": spp,
                          "val_sequences": val_sequences, "random_start_phase": random_start_phase})
    write_index(root, index)
    return index


def render_upscale_frame(p: dict, k: int, width: int, height: int, scale: int, spp: int, phase: int,
                         phase_count: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Frame ``k`` of pattern ``p`` for temporal upscaling by the integer ``scale``: (aliased colour at the
    render size (height, width, 3), reference at the display size (height * scale, width * scale, 3), jitter).

    The pattern lives in display pixels and moves by ``velocity_px`` display pixels per frame; render
    sample ``(i, j)`` with jitter ``(jx, jy)`` (Halton phase ``phase`` of a ``phase_count`` cycle) sees it at
    the display position ``((j + 0.5 + jx) scale, (i + 0.5 + jy) scale)``; the reference box-filters ``spp``
    stratified samples over each display pixel.
    """
    jx, jy = jitter_offset_px(phase, phase_count)
    vx, vy = p["velocity_px"]
    x, y = np.meshgrid((np.arange(width, dtype=np.float64) + 0.5 + jx) * scale - k * vx,
                       (np.arange(height, dtype=np.float64) + 0.5 + jy) * scale - k * vy)
    color = evaluate_pattern(x, y, p)
    dw, dh = width * scale, height * scale
    xd, yd = np.meshgrid(np.arange(dw, dtype=np.float64) - k * vx, np.arange(dh, dtype=np.float64) - k * vy)
    return color.astype(np.float32), _supersampled(xd, yd, p, spp), (jx, jy)


def write_synthetic_upscale_dataset(root: str | os.PathLike, sequences: int, frames: int = 8, width: int = 32,
                                    height: int = 32, scale: int = 2, spp: int = 16, seed: int = 0,
                                    val_sequences: int | None = None) -> DatasetIndex:
    """A synthetic temporal-upscaling dataset: the patterns of :func:`write_synthetic_dataset` (same seeds),
    colour at the render size ``width x height``, references at ``scale`` times that
    (:func:`render_upscale_frame`), jitter cycling through the ``default_phase_count`` Halton phases of the
    ratio (32 at 2x) from a random start phase, ``motion_px = -velocity / scale`` render pixels.

    Raises:
        InvalidArgument: bad counts, a non-square ``spp`` or a scale outside 2..3.
    """
    from qwplugin.ops.halton import default_phase_count

    if not isinstance(scale, int) or not 2 <= scale <= 3:
        raise InvalidArgument("integer upscaling scale", field="scale", expected="2 or 3", actual=repr(scale))
    n = int(round(math.sqrt(spp)))
    if sequences < 2 or frames < 1 or spp < 1 or n * n != spp:
        raise InvalidArgument("need >= 2 sequences, >= 1 frame and a square spp", field="sequences/frames/spp",
                              expected=">= 2 / >= 1 / 1, 4, 9, ...", actual=f"{sequences}/{frames}/{spp}")
    val_sequences = max(1, sequences // 8) if val_sequences is None else val_sequences
    if not 0 < val_sequences < sequences:
        raise InvalidArgument("val sequences must be in 1..sequences-1", field="val_sequences",
                              expected=f"1..{sequences - 1}", actual=str(val_sequences))
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    count = default_phase_count(width, width * scale)
    entries, identity = [], np.eye(4)
    for i in range(sequences):
        split = "val" if i >= sequences - val_sequences else "train"
        entry = SequenceEntry(f"seq_{i:04d}", f"synthetic_up_{i}", split)
        rng = np.random.default_rng([seed, i])
        p = _draw_pattern(rng)
        start = int(rng.integers(0, count))
        motion = np.empty((height, width, 2), np.float32)
        motion[..., 0], motion[..., 1] = -p["velocity_px"][0] / scale, -p["velocity_px"][1] / scale
        depth = np.full((height, width), p["depth"], np.float32)
        with SequenceWriter(root / entry.name, entry.scene, width, height, spp, fps=30.0, overwrite=True,
                            jitter_phase_count=count, jitter_start_phase=start,
                            display_size=(width * scale, height * scale)) as w:
            for k in range(frames):
                phase = (start + k) % count
                color, ref, jitter = render_upscale_frame(p, k, width, height, scale, spp, phase, count)
                w.add_frame(color, motion, depth, time_s=k / 30.0, jitter_px=jitter, reset=k == 0, view=identity,
                            projection=identity, reference=ref, jitter_phase=phase)
        entries.append(entry)
    index = DatasetIndex(entries, sorted(e.scene for e in entries if e.split == "train"),
                         sorted(e.scene for e in entries if e.split == "val"),
                         {"command": "qwplugin.data.synthetic.write_synthetic_upscale_dataset", "seed": seed,
                          "sequences": sequences, "frames": frames, "size": [width, height], "scale": scale,
                          "spp": spp, "val_sequences": val_sequences})
    write_index(root, index)
    return index
