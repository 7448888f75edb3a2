"""Dataset generation: render N randomized sequences of the training-set scenes for training.

Usage::

    python -m engine_bridge.dataset --out DIR --sequences N --frames 8 --size WxH --spp 64 --seed S
                                    [--mip-bias -1] [--phase-count 16] [--display-size WxH | --scale MODE]

Scenes come from the scene sets of :mod:`engine_bridge.scene.sets`: by default the ``train`` split cycles
over :data:`~engine_bridge.scene.sets.TRAINING_GENERATORS` and the dataset's own ``val`` split (for
training curves) over :data:`~engine_bridge.scene.sets.VALIDATION_GENERATORS` (``mixed``). Generation
refuses ``seed == sets.VALIDATION_SEED`` (the validation variants' seed), any test-set scene file
(``sets.split_of(path) == "test"``) in either split, and a validation-set scene in the ``train`` split.

Sequence ``i`` renders scene ``scenes[i % len(scenes)]`` of its split, loaded with
``load_scene(name, numpy.random.default_rng([seed, i]))`` (randomized camera path, animation, materials,
textures, lighting); the same generator then draws the start time in ``[0, START_TIME_MAX_S)`` and the
Halton start phase in ``0 .. phase_count - 1`` (frame ``k`` uses phase ``(start + k) % phase_count``, so
across a dataset every phase appears at every frame position). The aliased colour uses texture LOD bias
``--mip-bias`` (default -1, FSR 2 at native resolution); the reference's sub-samples sample at their own
footprint. Both biases and the phases are recorded in each ``sequence.json``; the split in
``DIR/index.json`` (:mod:`qwplugin.data.index`).

Temporal upscaling (``--display-size WxH`` with ``--size`` the render size, or ``--scale MODE`` with ``--size``
the display size; see :func:`engine_bridge.render.upscale_settings`): references at the display size, the
rest at the render size; the mip bias and jitter length default to the FSR 2 rules for that ratio.

Deterministic for a seed (same scenes, same randomization, same jitter). Resumable: each sequence is
rendered into ``DIR/.tmp_<name>`` and renamed to ``DIR/<name>`` when complete, so after a kill the
command skips finished sequences rendered with the same settings and redoes the others.
``index.json`` is written at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from engine_bridge.render import DEFAULT_INPUT_MIP_BIAS, DEFAULT_REFERENCE_MIP_BIAS
from engine_bridge.scene import sets
from qwplugin.data.index import DatasetIndex, SequenceEntry, write_index
from qwplugin.cli import command, prog_name
from qwplugin.errors import InvalidArgument

START_TIME_MAX_S = 4.0
"""Sequences start at a random scene time in [0, START_TIME_MAX_S) seconds."""

DEFAULT_PHASE_COUNT = 16
"""Halton jitter cycle length; each sequence starts at a random phase of it."""

PREFERRED_VAL_SCENES = sets.VALIDATION_GENERATORS
"""Held out by default when present: the validation set's generators (``mixed``, which combines every
stress case, so validating on it measures generalisation to a new arrangement of familiar content)."""


def default_scenes() -> list[str]:
    """The default scene list: the training generators, then the validation generators (the latter
    become the dataset's ``val`` split, see :func:`default_val_scenes`)."""
    return list(sets.TRAINING_GENERATORS) + list(sets.VALIDATION_GENERATORS)


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


def check_scene_sets(train_scenes: list[str], val_scenes: list[str]) -> None:
    """Keep the scene sets apart: no test-set scene anywhere, no validation-set scene in training.

    Raises:
        InvalidArgument: a test-set scene file (``sets.split_of(s) == "test"``) in either list (field
            ``--scenes``), or a validation-set scene among ``train_scenes`` (field ``--val-scenes``).
    """
    test = [s for s in [*train_scenes, *val_scenes] if sets.split_of(s) == "test"]
    if test:
        raise InvalidArgument("test-set scenes are never rendered into a dataset", field="--scenes",
                              expected="training (or validation, for the val split) scenes",
                              actual=", ".join(sorted(set(test))))
    held_out = [s for s in train_scenes if sets.split_of(s) == "validation"]
    if held_out:
        raise InvalidArgument("validation-set scenes cannot train", field="--val-scenes",
                              expected="validation-set scenes in the val split only",
                              actual=", ".join(sorted(held_out)))


def check_seed(seed: int) -> int:
    """The base seed, refused when it is the validation variants' seed.

    Raises:
        InvalidArgument: ``seed`` is not an integer or equals :data:`engine_bridge.scene.sets.VALIDATION_SEED`.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgument("seed must be an integer", field="--seed", expected="int", actual=repr(seed))
    if int(seed) == sets.VALIDATION_SEED:
        raise InvalidArgument("this seed makes the validation set's scene variants", field="--seed",
                              expected=f"any integer but {sets.VALIDATION_SEED}", actual=str(seed))
    return int(seed)


def plan_dataset(scenes: list[str], val_scenes: list[str], sequences: int, val_sequences: int) -> list[SequenceEntry]:
    """Which scene and split each sequence gets: ``val_sequences`` val ones cycle over ``val_scenes``,
    the rest cycle over the other scenes.

    Raises:
        InvalidArgument: unknown validation scene, no training scene, bad counts, or a scene of the wrong
            set (:func:`check_scene_sets`).
    """
    unknown = sorted(set(val_scenes) - set(scenes))
    if unknown:
        raise InvalidArgument("unknown validation scene", field="--val-scenes", expected=", ".join(scenes),
                              actual=", ".join(unknown))
    train_scenes = [s for s in sorted(scenes) if s not in val_scenes]
    if not train_scenes or not val_scenes:
        raise InvalidArgument("need at least one training and one validation scene", field="--val-scenes")
    check_scene_sets(train_scenes, list(val_scenes))
    if not 0 < val_sequences < sequences:
        raise InvalidArgument("val sequences must be in 1..sequences-1", field="--val-sequences",
                              expected=f"1..{sequences - 1}", actual=str(val_sequences))
    n_train = sequences - val_sequences
    entries = [SequenceEntry(f"seq_{i:04d}", train_scenes[i % len(train_scenes)], "train") for i in range(n_train)]
    entries += [SequenceEntry(f"seq_{n_train + j:04d}", sorted(val_scenes)[j % len(val_scenes)], "val")
                for j in range(val_sequences)]
    return entries


def is_complete(folder: Path, frames: int, expect: dict | None = None) -> bool:
    """Whether ``folder`` holds a finished sequence of ``frames`` frames; with ``expect``, also whether its
    ``sequence.json`` has exactly these top-level values (a missing key counts as different, so a sequence
    from before a setting was recorded is not reused)."""
    meta = Path(folder) / "sequence.json"
    if not meta.is_file():
        return False
    try:
        data = json.loads(meta.read_text())
    except ValueError:
        return False
    if expect and any(k not in data or data[k] != v for k, v in expect.items()):
        return False
    return len(data.get("frames", [])) == frames and all(
        (folder / f["file"]).is_file() and ("reference_file" not in f or (folder / f["reference_file"]).is_file())
        for f in data["frames"])


def sequence_settings(scene: str, seed: int, index: int, phase_count: int = DEFAULT_PHASE_COUNT):
    """The randomization of sequence ``index``: one generator ``default_rng([seed, index])`` builds the
    scene, then draws the start time and the Halton start phase (in this order).

    Returns:
        ``(Scene, start_time_s, start_phase)``: start time in ``[0, START_TIME_MAX_S)`` seconds, start
        phase an int in ``0 .. phase_count - 1``.

    Raises:
        InvalidArgument: the seed is :data:`~engine_bridge.scene.sets.VALIDATION_SEED`, a bad
            ``phase_count``; SceneError for an unknown scene.
    """
    from engine_bridge.scene.loader import load_scene

    seed = check_seed(seed)
    if int(phase_count) < 1:
        raise InvalidArgument("phase_count must be >= 1", field="--phase-count", expected=">= 1",
                              actual=repr(phase_count))
    rng = np.random.default_rng([seed, int(index)])
    built = load_scene(scene, rng=rng)
    start = float(rng.uniform(0.0, START_TIME_MAX_S))
    phase = int(rng.integers(0, int(phase_count)))
    return built, start, phase


def generate_dataset(out: str | os.PathLike, sequences: int, frames: int = 8, width: int = 256, height: int = 192,
                     spp: int = 64, seed: int = 0, val_scenes: list[str] | None = None,
                     val_sequences: int | None = None, scenes: list[str] | None = None, fps: float = 30.0,
                     backend: str = "auto", progress: bool = True, mip_bias: float = DEFAULT_INPUT_MIP_BIAS,
                     phase_count: int = DEFAULT_PHASE_COUNT,
                     display_size: tuple[int, int] | None = None) -> DatasetIndex:
    """Render the dataset (see the module docstring); returns the index written to ``out/index.json``.

    Args:
        out: dataset folder.
        sequences: total number of sequences (train + val).
        frames, width, height, spp, fps: per sequence (``spp`` a perfect square).
        seed: base seed; sequence ``i`` uses ``default_rng([seed, i])`` (:func:`sequence_settings`); never
            :data:`~engine_bridge.scene.sets.VALIDATION_SEED`.
        val_scenes: scenes of the dataset's ``val`` split (default :func:`default_val_scenes`: the
            validation generators, ``mixed``).
        val_sequences: number of validation sequences (default ``max(1, sequences // 8)``).
        scenes: scenes to use, both splits (default :func:`default_scenes`: training generators + ``mixed``).
        backend: OpenGL backend for the renderer.
        progress: tqdm progress over sequences.
        mip_bias: texture LOD bias of the aliased input (default -1, FSR 2 at native resolution).
        phase_count: Halton jitter cycle length; each sequence starts at a random phase of it.
        display_size: ``(width, height)`` of the references for temporal upscaling (1x to 3x the render
            size per axis); None = the render size. Recorded in each ``sequence.json`` and in the index.

    Raises:
        InvalidArgument: bad counts or scene names, the validation seed, a test-set scene, a validation-set
            scene in the train split, a non-positive ``fps``.
        UnsupportedHardware: no OpenGL context.
    """
    from tqdm import tqdm

    from engine_bridge.render import render_sequence

    seed = check_seed(seed)
    if int(phase_count) < 1:
        raise InvalidArgument("phase_count must be >= 1", field="--phase-count", expected=">= 1",
                              actual=repr(phase_count))
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise InvalidArgument("fps must be a positive number", field="--fps", expected="> 0 frames per second",
                              actual=repr(fps))
    if not math.isfinite(float(mip_bias)):
        raise InvalidArgument("mip_bias must be finite", field="--mip-bias", expected="finite float",
                              actual=repr(mip_bias))
    scenes = default_scenes() if scenes is None else list(scenes)
    val_scenes = default_val_scenes(scenes) if val_scenes is None else list(val_scenes)
    val_sequences = max(1, sequences // 8) if val_sequences is None else val_sequences
    entries = plan_dataset(scenes, val_scenes, sequences, val_sequences)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(entries, desc="dataset", unit="seq", disable=not progress)
    settings = {"width": width, "height": height, "spp": spp, "fps": float(fps), "input_mip_bias": float(mip_bias),
                "reference_mip_bias": DEFAULT_REFERENCE_MIP_BIAS, "jitter_phase_count": int(phase_count)}
    if display_size is not None and tuple(display_size) != (width, height):
        from qwplugin.upscale import scale_of

        scale_of((width, height), display_size)  # validates before any work
        display_size = (int(display_size[0]), int(display_size[1]))
        # Only upscaling datasets check the display size: native sequences written before it was recorded
        # stay reusable.
        settings.update(display_width=display_size[0], display_height=display_size[1])
    else:
        display_size = None
    for i, entry in enumerate(bar):
        final = out / entry.name
        scene, start, phase = sequence_settings(entry.scene, seed, i, phase_count)
        if is_complete(final, frames, {**settings, "scene": scene.name, "jitter_start_phase": phase}):
            continue
        bar.set_postfix(scene=entry.scene)
        tmp = out / f".tmp_{entry.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        render_sequence(scene, tmp, frames, width, height, spp=spp, fps=fps, start_time_s=start,
                        mip_bias=mip_bias, phase_count=phase_count, backend=backend, start_phase=phase,
                        display_size=display_size)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    index = DatasetIndex(entries, sorted({e.scene for e in entries if e.split == "train"}), sorted(val_scenes),
                         {"command": "python -m engine_bridge.dataset", "seed": seed, "sequences": sequences,
                          "frames": frames, "size": [width, height], "spp": spp, "fps": fps,
                          "val_sequences": val_sequences, "mip_bias": float(mip_bias),
                          "reference_mip_bias": DEFAULT_REFERENCE_MIP_BIAS, "phase_count": int(phase_count),
                          **({} if display_size is None else {"display_size": list(display_size)})})
    write_index(out, index)
    return index


@command("qw-dataset")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point. Returns the process exit code."""
    from engine_bridge.render import parse_size, upscale_settings

    parser = argparse.ArgumentParser(prog=prog_name("qw-dataset", "engine_bridge.dataset"), description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="dataset folder (resumes if it exists)")
    parser.add_argument("--sequences", type=int, required=True, help="number of sequences (train + val)")
    parser.add_argument("--frames", type=int, default=8, help="frames per sequence (default 8)")
    parser.add_argument("--size", default="256x192",
                        help="render size WxH (default 256x192); the display size with --scale")
    parser.add_argument("--display-size", default=None,
                        help="temporal upscaling: reference (display) size WxH, 1x to 3x --size per axis")
    parser.add_argument("--scale", default=None,
                        help="temporal upscaling: quality, balanced, performance, ultra_performance or a ratio "
                             "in [1, 3]; --size is then the display size")
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel, k*k (default 64)")
    parser.add_argument("--seed", type=int, default=0,
                        help=f"base seed (default 0; {sets.VALIDATION_SEED} is the validation set's, refused)")
    parser.add_argument("--val-scenes", default=None,
                        help="comma-separated scenes of the val split (default: the validation generators, mixed)")
    parser.add_argument("--val-sequences", type=int, default=None, help="validation sequences (default N // 8)")
    parser.add_argument("--scenes", default=None,
                        help="comma-separated scenes of both splits (default: the training generators + mixed)")
    parser.add_argument("--mip-bias", type=float, default=None,
                        help="texture LOD bias of the aliased input (default: FSR 2 log2(render/display) - 1, "
                             "-1 at native size)")
    parser.add_argument("--phase-count", type=int, default=None,
                        help="Halton jitter cycle length (default max(16, int(8 * ratio^2)), 16 at native "
                             "size); sequences start at random phases")
    parser.add_argument("--fps", type=float, default=30.0,
                        help="frames per second of the sequences (time step 1/fps; default 30): lower it for "
                             "longer motion per frame")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    args = parser.parse_args(argv)
    (width, height), display, mip_bias, phase_count = upscale_settings(
        parse_size(args.size), args.display_size, args.scale, args.mip_bias, args.phase_count)
    index = generate_dataset(
        args.out, args.sequences, args.frames, width, height, args.spp, args.seed,
        val_scenes=args.val_scenes.split(",") if args.val_scenes else None,
        val_sequences=args.val_sequences, scenes=args.scenes.split(",") if args.scenes else None,
        fps=args.fps, backend=args.backend, mip_bias=mip_bias, phase_count=phase_count, display_size=display)
    n_val = len(index.split("val"))
    print(f"wrote {len(index.sequences)} sequences ({n_val} validation, scenes {', '.join(index.validation_scenes)})"
          f" to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
