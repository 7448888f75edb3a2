"""Render scenes once, run every method on the same inputs, write the evaluation report.

Usage::

    python -m engine_bridge.eval --scenes mixed,examples/scenes/crate_yard.json \\
        --methods noaa,taa,unet-fp32,unet-int4,qwnet-fp32,qwnet-int4 --frames 16 --size 256x192 --out out/eval

Each scene (a built-in name or a scene JSON file from anywhere) is rendered into
``OUT/inputs/<scene>/`` (aliased jittered colour, motion, depth and the ``--spp`` reference, in the
sequence format of :mod:`qwplugin.io.sequence`); a rerun with the same settings reuses those renders.
Scoring and the report are :mod:`qwplugin.eval` (no GL there): ``OUT/report.md``, ``table.csv``,
``metrics.json``, ``plots/``, ``crops/``, ``flip/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from qwplugin.errors import InvalidArgument, QWPluginError


def scene_label(scene: str) -> str:
    """How a ``--scenes`` entry is named in the report: a scene file's stem, or the built-in name."""
    return Path(scene).stem if scene.endswith(".json") else scene


def _input_folder(out: Path, scene: str) -> Path:
    from qwplugin.eval.report import slug

    return out / "inputs" / slug(scene_label(scene))


def _matches(folder: Path, frames: int, width: int, height: int, spp: int, start: float, fps: float) -> bool:
    """Whether ``folder`` holds a finished render with exactly these settings (then it is reused)."""
    from engine_bridge.dataset import is_complete

    if not is_complete(folder, frames):
        return False
    data = json.loads((folder / "sequence.json").read_text())
    return (data.get("width") == width and data.get("height") == height and data.get("spp") == spp
            and data.get("fps") == fps and abs(data["frames"][0]["time_s"] - start) < 1e-9)


def render_inputs(scenes: list[str], out: Path, frames: int, width: int, height: int, spp: int,
                  start_time_s: float, fps: float, seed: int | None, backend: str) -> list[Path]:
    """Render (or reuse) one sequence folder per scene; returns the folders.

    Raises:
        InvalidArgument: bad scene name or file (naming the file and field), bad counts.
        UnsupportedHardware: no OpenGL context.
    """
    from engine_bridge.render import render_sequence, resolve_scene

    folders = []
    seen = set()
    for scene_name in scenes:
        folder = _input_folder(out, scene_name)
        if folder in seen:
            raise InvalidArgument("two scenes map to the same input folder", field="--scenes",
                                  expected="distinct scene names", actual=folder.name)
        seen.add(folder)
        scene = resolve_scene(scene_name, seed)
        if not _matches(folder, frames, width, height, spp, start_time_s, fps):
            if folder.exists():
                shutil.rmtree(folder)
            render_sequence(scene, folder, frames, width, height, spp=spp, fps=fps, start_time_s=start_time_s,
                            backend=backend, progress=True)
        folders.append(folder)
    return folders


def main(argv: list[str] | None = None) -> int:
    """CLI entry point. Returns the process exit code."""
    from engine_bridge.render import parse_size
    from qwplugin.eval.__main__ import add_common_arguments

    parser = argparse.ArgumentParser(prog="python -m engine_bridge.eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", default="mixed,examples/scenes/crate_yard.json",
                        help="comma-separated built-in scene names and/or scene JSON files")
    parser.add_argument("--frames", type=int, default=16, help="frames per scene (default 16)")
    parser.add_argument("--size", default="256x192", help="render size WxH (default 256x192)")
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel, k*k (default 64)")
    parser.add_argument("--start-time", type=float, default=0.0, help="scene time of frame 0, seconds")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--seed", type=int, default=None, help="randomize built-in scenes with this seed "
                        "(default: the scenes as authored)")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    command = "python -m engine_bridge.eval " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        width, height = parse_size(args.size)
        if args.spp < 1:
            raise InvalidArgument("evaluation needs a reference", field="--spp", expected=">= 1", actual=str(args.spp))
        scenes = [s for s in args.scenes.split(",") if s]
        methods = [m for m in args.methods.split(",") if m]
        from qwplugin.eval.methods import parse_method

        for m in methods:
            parse_method(m)  # refuse a typo before minutes of rendering
        out = Path(args.out)
        folders = render_inputs(scenes, out, args.frames, width, height, args.spp, args.start_time, args.fps,
                                args.seed, args.backend)
        from qwplugin.eval import evaluate_and_report
        from qwplugin.io.sequence import read_sequence

        inputs = [(scene_label(s), read_sequence(f)) for s, f in zip(scenes, folders)]
        report = evaluate_and_report(inputs, methods, out, args.warmup, args.exposure, config=vars(args),
                                     command=command, progress=not args.no_progress)
    except QWPluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
