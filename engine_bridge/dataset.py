"""Dataset generation: render N randomized sequences from the built-in scenes for training.

Usage::

    python -m engine_bridge.dataset --out DIR --sequences N --frames 8 --size WxH --spp 64 --seed S

Sequence ``i`` renders built-in scene ``scenes[i % len(scenes)]`` of its split, loaded with
``load_scene(name, numpy.random.default_rng([seed, i]))`` (randomized camera path, animation, materials,
textures, lighting) from a random start time drawn from the same generator. Whole scenes are held out
for validation (``--val-scenes``, default ``mixed``, see :func:`default_val_scenes`); the split is
recorded in ``DIR/index.json`` (:mod:`qwplugin.data.index`).

Deterministic for a seed (same scenes, same randomization, same jitter). Resumable: each sequence is
rendered into ``DIR/.tmp_<name>`` and renamed to ``DIR/<name>`` when complete, so after a kill the
command skips finished sequences and redoes the interrupted one. ``index.json`` is written at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from qwplugin.data.index import DatasetIndex, SequenceEntry, write_index
from qwplugin.errors import InvalidArgument, QWPluginError

START_TIME_MAX_S = 4.0
"""Sequences start at a random scene time in [0, START_TIME_MAX_S) seconds."""


PREFERRED_VAL_SCENES = ("mixed",)
"""Held out by default when present: ``mixed`` combines every stress case, so validating on it measures
generalisation to a new arrangement of familiar content."""


def default_val_scenes(names: list[str]) -> list[str]:
    """:data:`PREFERRED_VAL_SCENES` that exist, else the last quarter (at least one) of the sorted names."""
    preferred = [n for n in PREFERRED_VAL_SCENES if n in names]
    if preferred and len(names) > len(preferred):
        return preferred
    names = sorted(names)
    if len(names) < 2:
        raise InvalidArgument("need at least two scenes to hold one out", field="scenes", expected=">= 2",
                              actual=str(len(names)))
    return names[-max(1, len(names) // 4):]


def plan_dataset(scenes: list[str], val_scenes: list[str], sequences: int, val_sequences: int) -> list[SequenceEntry]:
    """Which scene and split each sequence gets: ``val_sequences`` val ones cycle over ``val_scenes``,
    the rest cycle over the other scenes.

    Raises:
        InvalidArgument: unknown validation scene, no training scene, or bad counts.
    """
    unknown = sorted(set(val_scenes) - set(scenes))
    if unknown:
        raise InvalidArgument("unknown validation scene", field="--val-scenes", expected=", ".join(scenes),
                              actual=", ".join(unknown))
    train_scenes = [s for s in sorted(scenes) if s not in val_scenes]
    if not train_scenes or not val_scenes:
        raise InvalidArgument("need at least one training and one validation scene", field="--val-scenes")
    if not 0 < val_sequences < sequences:
        raise InvalidArgument("val sequences must be in 1..sequences-1", field="--val-sequences",
                              expected=f"1..{sequences - 1}", actual=str(val_sequences))
    n_train = sequences - val_sequences
    entries = [SequenceEntry(f"seq_{i:04d}", train_scenes[i % len(train_scenes)], "train") for i in range(n_train)]
    entries += [SequenceEntry(f"seq_{n_train + j:04d}", sorted(val_scenes)[j % len(val_scenes)], "val")
                for j in range(val_sequences)]
    return entries


def is_complete(folder: Path, frames: int) -> bool:
    """Whether ``folder`` holds a finished sequence of ``frames`` frames."""
    import json

    meta = folder / "sequence.json"
    if not meta.is_file():
        return False
    try:
        data = json.loads(meta.read_text())
    except ValueError:
        return False
    return len(data.get("frames", [])) == frames and all((folder / f["file"]).is_file() for f in data["frames"])


def generate_dataset(out: str | os.PathLike, sequences: int, frames: int = 8, width: int = 256, height: int = 192,
                     spp: int = 64, seed: int = 0, val_scenes: list[str] | None = None,
                     val_sequences: int | None = None, scenes: list[str] | None = None, fps: float = 30.0,
                     backend: str = "auto", progress: bool = True) -> DatasetIndex:
    """Render the dataset (see the module docstring); returns the index written to ``out/index.json``.

    Args:
        out: dataset folder.
        sequences: total number of sequences (train + val).
        frames, width, height, spp, fps: per sequence (``spp`` a perfect square).
        seed: base seed; sequence ``i`` uses ``default_rng([seed, i])``.
        val_scenes: scenes held out for validation (default :func:`default_val_scenes`).
        val_sequences: number of validation sequences (default ``max(1, sequences // 8)``).
        scenes: scenes to use (default all built-in scenes).
        backend: OpenGL backend for the renderer.
        progress: tqdm progress over sequences.

    Raises:
        InvalidArgument: bad counts or scene names.
        UnsupportedHardware: no OpenGL context.
    """
    from tqdm import tqdm

    from engine_bridge.render import render_sequence
    from engine_bridge.scene.loader import load_scene

    if scenes is None:
        from engine_bridge.scene.builtin import builtin_names

        scenes = list(builtin_names())
    val_scenes = default_val_scenes(scenes) if val_scenes is None else list(val_scenes)
    val_sequences = max(1, sequences // 8) if val_sequences is None else val_sequences
    entries = plan_dataset(scenes, val_scenes, sequences, val_sequences)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(entries, desc="dataset", unit="seq", disable=not progress)
    for i, entry in enumerate(bar):
        final = out / entry.name
        if is_complete(final, frames):
            continue
        bar.set_postfix(scene=entry.scene)
        rng = np.random.default_rng([seed, i])
        scene = load_scene(entry.scene, rng=rng)
        start = float(rng.uniform(0.0, START_TIME_MAX_S))
        tmp = out / f".tmp_{entry.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        render_sequence(scene, tmp, frames, width, height, spp=spp, fps=fps, start_time_s=start, backend=backend)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    index = DatasetIndex(entries, sorted({e.scene for e in entries if e.split == "train"}), sorted(val_scenes),
                         {"command": "python -m engine_bridge.dataset", "seed": seed, "sequences": sequences,
                          "frames": frames, "size": [width, height], "spp": spp, "fps": fps,
                          "val_sequences": val_sequences})
    write_index(out, index)
    return index


def main(argv: list[str] | None = None) -> int:
    """CLI entry point. Returns the process exit code."""
    from engine_bridge.render import parse_size

    parser = argparse.ArgumentParser(prog="python -m engine_bridge.dataset", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="dataset folder (resumes if it exists)")
    parser.add_argument("--sequences", type=int, required=True, help="number of sequences (train + val)")
    parser.add_argument("--frames", type=int, default=8, help="frames per sequence (default 8)")
    parser.add_argument("--size", default="256x192", help="render size WxH (default 256x192)")
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel, k*k (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--val-scenes", default=None, help="comma-separated scenes held out for validation")
    parser.add_argument("--val-sequences", type=int, default=None, help="validation sequences (default N // 8)")
    parser.add_argument("--scenes", default=None, help="comma-separated scenes to use (default: all built-ins)")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    args = parser.parse_args(argv)
    try:
        width, height = parse_size(args.size)
        index = generate_dataset(
            args.out, args.sequences, args.frames, width, height, args.spp, args.seed,
            val_scenes=args.val_scenes.split(",") if args.val_scenes else None,
            val_sequences=args.val_sequences, scenes=args.scenes.split(",") if args.scenes else None,
            backend=args.backend)
    except QWPluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_val = len(index.split("val"))
    print(f"wrote {len(index.sequences)} sequences ({n_val} validation, scenes {', '.join(index.validation_scenes)})"
          f" to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
