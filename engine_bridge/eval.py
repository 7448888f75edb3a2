"""Render scenes (whole, or a window; several starting jitter phases), run every method on the same inputs,
write the evaluation report.

Usage::

    python -m engine_bridge.eval --scenes set:validation,set:test --phases 4 --size 256x192 --out out/eval
    python -m engine_bridge.eval --scenes mixed --start-s 2.0 --duration-s 3.0 --methods noaa,taa,qwnet-int4 ...

``--scenes`` takes what :func:`engine_bridge.scene.sets.resolve_scene_list` parses: ``set:validation``,
``set:test``, built-in names, ``NAME@vK`` validation variants, scene JSON paths. Each scene is scored
over its whole animation (``duration_s`` at ``--fps``, camera cuts included) unless ``--start-s`` /
``--duration-s`` pick a window; a window must lie inside the scene and last at least
:data:`MIN_WINDOW_S` seconds unless ``--allow-short`` (tests and CI). ``--phases N`` renders each scene N
times, starting the Halton(2, 3) jitter at N phases spread over 0..15 (:func:`start_phases`); a scene's
scores pool all frames of all its runs.

Each run is rendered into ``OUT/inputs/<scene>/phase_<PP>/`` (aliased jittered colour, motion, depth and
the ``--spp`` reference, in the sequence format of :mod:`qwplugin.io.sequence`); a rerun with the same
settings reuses those renders. Scoring and the report are :mod:`qwplugin.eval` (no GL there):
``OUT/report.md``, ``table.csv``, ``winloss.csv``, ``metrics.json``, ``plots/``, ``crops/``, ``flip/``.

Temporal upscaling: ``--scale quality|balanced|performance|ultra_performance|R`` (``--size`` is then the display
size, the render size floored from it as FSR 2 does) or ``--display-size WxH`` (``--size`` stays the render
size). The inputs are rendered at the render size with FSR 2's mip bias ``log2(render/display) - 1`` and jitter
length ``max(16, int(8 * ratio^2))`` (start phases spread over that cycle), the references at the display size
(:func:`engine_bridge.render.upscale_settings`); the upscaling methods of the registry run (default
:data:`qwplugin.eval.methods.UPSCALING_DEFAULT`; a method that does not upscale is refused before any
rendering) and are scored at the display size against ``taau``::

    python -m engine_bridge.eval --scenes set:test --scale performance --size 512x384 --out out/eval_2x

:func:`golden_scores` is the fixed tiny evaluation behind ``tests/engine_bridge/test_golden_scores.py``
(regenerate its recorded numbers with ``python scripts/update_golden.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from qwplugin.cli import command, prog_name
from qwplugin.errors import InvalidArgument

MIN_WINDOW_S = 3.0
"""Shortest window scored without ``--allow-short``: at 30 fps, 90 frames, ~11 bootstrap blocks of 8."""

PHASE_COUNT = 16
"""Length of the Halton jitter cycle the renderer uses (its default); start phases lie in 0..15."""

WINDOW_EPS_S = 1e-9
"""Slack when comparing a window's end with the scene's duration (float sums such as 0.1 + 0.2)."""


@dataclass(frozen=True)
class Window:
    """The part of a scene that is rendered and scored.

    Attributes:
        start_s: scene time of frame 0, seconds.
        frames: number of frames; frame ``i`` is at ``start_s + i / fps``.
        fps: frames per second.
        scene_duration_s: the scene's ``duration_s``.
        whole: whether this is the whole scene (no explicit window was asked for).
    """

    start_s: float
    frames: int
    fps: float
    scene_duration_s: float
    whole: bool

    @property
    def duration_s(self) -> float:
        """``frames / fps``."""
        return self.frames / self.fps

    def describe(self) -> str:
        """Text for the report, e.g. ``whole scene 0.00-5.00 s, 150 frames at 30 fps``."""
        span = f"{self.start_s:.2f}-{self.start_s + self.duration_s:.2f} s"
        what = f"whole scene {span}" if self.whole else f"{span} of {self.scene_duration_s:.2f} s"
        return f"{what}, {self.frames} frames at {self.fps:g} fps"


def scene_window(scene_name: str, scene_duration_s: float, fps: float, start_s: float | None = None,
                 duration_s: float | None = None, allow_short: bool = False) -> Window:
    """The window of one scene to score (see the module docstring).

    Args:
        scene_name: for the messages.
        scene_duration_s: the scene's ``duration_s`` (> 0).
        fps: frames per second (> 0).
        start_s: window start (default 0).
        duration_s: window length (default: to the end of the scene).
        allow_short: accept windows shorter than :data:`MIN_WINDOW_S`.

    Returns:
        the :class:`Window`; ``frames = floor(duration * fps)`` (frames at ``start + i / fps`` inside
        ``[start, start + duration)``).

    Raises:
        InvalidArgument: naming ``--start-s``, ``--duration-s`` or ``--fps``: a negative start, a start at or
            after the scene's end, a non-positive duration, a window ending after the scene, a window shorter
            than :data:`MIN_WINDOW_S` without ``allow_short``, or one with no frame.
    """
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InvalidArgument("--fps must be positive", field="--fps", expected="> 0", actual=repr(fps))
    whole = start_s is None and duration_s is None
    start = 0.0 if start_s is None else float(start_s)
    if not (math.isfinite(start) and start >= 0.0):
        raise InvalidArgument("--start-s must be >= 0", field="--start-s", expected=">= 0", actual=repr(start_s))
    if start >= scene_duration_s:
        raise InvalidArgument(f"--start-s is at or after the end of scene {scene_name!r}", field="--start-s",
                              expected=f"< {scene_duration_s:g} s (the scene's duration_s)", actual=f"{start:g} s")
    length = scene_duration_s - start if duration_s is None else float(duration_s)
    if not (math.isfinite(length) and length > 0.0):
        raise InvalidArgument("--duration-s must be positive", field="--duration-s", expected="> 0",
                              actual=repr(duration_s))
    if start + length > scene_duration_s + WINDOW_EPS_S:
        raise InvalidArgument(f"--duration-s: the window {start:g}-{start + length:g} s is longer than scene "
                              f"{scene_name!r}", field="--duration-s",
                              expected=f"start + duration <= {scene_duration_s:g} s (the scene's duration_s)",
                              actual=f"{start + length:g} s")
    if length < MIN_WINDOW_S - WINDOW_EPS_S and not allow_short:
        what = "the whole scene" if whole else "the window"
        raise InvalidArgument(f"--duration-s: {what} of {scene_name!r} lasts {length:g} s, shorter than "
                              f"{MIN_WINDOW_S:g} s (pass --allow-short for tests and CI)", field="--duration-s",
                              expected=f">= {MIN_WINDOW_S:g} s or --allow-short", actual=f"{length:g} s")
    frames = int(math.floor(length * fps + 1e-6))
    if frames < 1:
        raise InvalidArgument("--duration-s: the window holds no frame", field="--duration-s",
                              expected=f">= 1 / fps = {1 / fps:g} s", actual=f"{length:g} s")
    return Window(start, frames, float(fps), float(scene_duration_s), whole)


def start_phases(n: int, phase_count: int = PHASE_COUNT) -> list[int]:
    """``n`` starting jitter phases spread evenly over ``0 .. phase_count - 1``.

    Raises:
        InvalidArgument: ``n`` outside 1..phase_count (field ``--phases``).

    Examples:
        >>> start_phases(1), start_phases(4), start_phases(3)
        ([0], [0, 4, 8, 12], [0, 5, 11])
    """
    if not (isinstance(n, int) and 1 <= n <= phase_count):
        raise InvalidArgument("--phases out of range", field="--phases", expected=f"1..{phase_count}",
                              actual=repr(n))
    return [round(k * phase_count / n) % phase_count for k in range(n)]


def _run_folder(out: Path, scene_name: str, phase: int) -> Path:
    from qwplugin.eval.report import slug

    return out / "inputs" / slug(scene_name) / f"phase_{phase:02d}"


def _matches(folder: Path, window: Window, width: int, height: int, spp: int, phase: int,
             upscaling: tuple | None = None) -> bool:
    """Whether ``folder`` holds a finished render with exactly these settings (then it is reused): size,
    spp, fps, start time, frame count, the start phase's jitter, and the renderer's default LOD biases
    (a render made before a change of those defaults, or without them recorded, is rendered again).
    ``upscaling``: ``(display_size, input_mip_bias, phase_count)`` of an upscaling render (None: native)."""
    from engine_bridge.dataset import is_complete
    from engine_bridge.raster.sampling import DEFAULT_INPUT_MIP_BIAS, DEFAULT_REFERENCE_MIP_BIAS
    from qwplugin.ops.halton import jitter_offset_px

    if not is_complete(folder, window.frames):
        return False
    data = json.loads((folder / "sequence.json").read_text())
    first = data["frames"][0]
    display, mip_bias, phase_count = upscaling or ((width, height), DEFAULT_INPUT_MIP_BIAS, PHASE_COUNT)
    jitter = jitter_offset_px(phase, phase_count)
    return (data.get("width") == width and data.get("height") == height and data.get("spp") == spp
            and (data.get("display_width", width), data.get("display_height", height)) == tuple(display)
            and data.get("fps") == window.fps and abs(first["time_s"] - window.start_s) < 1e-9
            and all(abs(a - b) < 1e-9 for a, b in zip(first["jitter_px"], jitter))
            and data.get("input_mip_bias") == mip_bias
            and data.get("reference_mip_bias") == DEFAULT_REFERENCE_MIP_BIAS)


def _render(scene, folder: Path, window: Window, width: int, height: int, spp: int, phase: int,
            backend: str, upscaling: tuple | None = None) -> None:
    from engine_bridge.render import render_sequence

    if upscaling is None:
        render_sequence(scene, folder, window.frames, width, height, spp=spp, fps=window.fps,
                        start_time_s=window.start_s, backend=backend, progress=True, start_phase=phase)
        return
    display, mip_bias, phase_count = upscaling
    render_sequence(scene, folder, window.frames, width, height, spp=spp, fps=window.fps,
                    start_time_s=window.start_s, backend=backend, progress=True, start_phase=phase,
                    mip_bias=mip_bias, phase_count=phase_count, display_size=tuple(display))


def render_inputs(specs, windows: list[Window], phases: list[int], out: Path, width: int, height: int, spp: int,
                  backend: str, scenes=None, upscaling: tuple | None = None):
    """Render (or reuse) one sequence folder per scene and start phase.

    Args:
        specs: :class:`~engine_bridge.scene.sets.SceneSpec` per scene.
        windows: the :class:`Window` of each scene.
        phases: start phases (:func:`start_phases`).
        out: report folder (renders go to ``out/inputs/``).
        width, height, spp, backend: render settings.
        scenes: the already built scenes (``spec.load()``), or None to build them here.
        upscaling: ``(display_size, input_mip_bias, phase_count)`` for an upscaling evaluation (``width``,
            ``height`` are then the render size), or None (native: unchanged).

    Returns:
        a :class:`~qwplugin.eval.SceneInput` per scene, its runs the folders.

    Raises:
        InvalidArgument: two scenes mapping to one folder, bad counts.
        SceneError: a bad scene file (naming the file and field).
        UnsupportedHardware: no OpenGL context.
    """
    from qwplugin.eval import SceneInput

    inputs, seen = [], set()
    for k, (spec, window) in enumerate(zip(specs, windows)):
        base = _run_folder(out, spec.name, 0).parent
        if base in seen:
            raise InvalidArgument("two scenes map to the same input folder", field="--scenes",
                                  expected="distinct scene names", actual=base.name)
        seen.add(base)
        scene = scenes[k] if scenes is not None else spec.load()
        runs = []
        for phase in phases:
            folder = _run_folder(out, spec.name, phase)
            if not _matches(folder, window, width, height, spp, phase, upscaling):
                if folder.exists():
                    shutil.rmtree(folder)
                _render(scene, folder, window, width, height, spp, phase, backend, upscaling)
            runs.append((f"phase {phase}", folder))
        inputs.append(SceneInput(spec.name, runs, spec.split, window.describe()))
    return inputs


GOLDEN_SETUP = {"scene": "mixed", "size": [64, 48], "frames": 12, "fps": 30.0, "start_s": 0.0, "spp": 16,
                "phase": 0, "warmup": 4}
"""The fixed tiny evaluation of :func:`golden_scores`: the canonical ``mixed`` scene, 12 frames from t = 0,
64x48, 16-spp reference, warm-up 4 (so 8 scored frames)."""

GOLDEN_METHODS = ("taa", "taa-classic", "qwnet-fp32", "qwnet-int4", "qwnet-fast-fp32", "qwnet-fast-int4")
"""Methods whose scores are recorded: both TAAs and the shipped weights (paper and fast presets)."""


def golden_scores(workdir: str | Path, methods=GOLDEN_METHODS, backend: str = "auto") -> dict:
    """Render :data:`GOLDEN_SETUP` into ``workdir`` and score ``methods``.

    Returns:
        ``{"setup": GOLDEN_SETUP, "environment": {...}, "scores": {method: {metric: mean over scored frames}}}``.

    Raises:
        InvalidArgument: unknown method.
        UnsupportedHardware: no OpenGL context.
    """
    import platform

    import torch

    from engine_bridge.gl import create_context
    from engine_bridge.scene.sets import resolve_scene_list
    from qwplugin.eval import SceneInput, evaluate
    from qwplugin.eval import metrics as M

    g = GOLDEN_SETUP
    (spec,) = resolve_scene_list(g["scene"])
    scene = spec.load()
    window = Window(g["start_s"], g["frames"], g["fps"], scene.duration_s, False)
    folder = Path(workdir) / "golden"
    if not _matches(folder, window, *g["size"], g["spp"], g["phase"]):
        if folder.exists():
            shutil.rmtree(folder)
        _render(scene, folder, window, *g["size"], g["spp"], g["phase"], backend)
    result = evaluate([SceneInput(spec.name, [(f"phase {g['phase']}", folder)], spec.split, window.describe())],
                      list(methods), warmup=g["warmup"], progress=False)
    (scored,) = result.scenes
    with create_context(backend) as ctx:
        renderer = ctx.renderer
    return {"setup": dict(g), "environment": {"gl_renderer": renderer, "torch": torch.__version__,
                                              "machine": platform.machine(), "python": platform.python_version()},
            "scores": {m: {k: v.mean for k, v in scored.summary(m).items()} for m in result.methods},
            "metrics": list(M.METRIC_NAMES)}


def _parse_args(argv):
    from qwplugin.eval.cli_args import add_common_arguments

    parser = argparse.ArgumentParser(prog=prog_name("qw-eval", "engine_bridge.eval"),
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", default="set:validation",
                        help="set:validation, set:test, built-in names, NAME@vK variants, scene JSON files "
                        "(comma-separated; default set:validation)")
    parser.add_argument("--start-s", type=float, default=None, help="window start in scene seconds (default 0)")
    parser.add_argument("--duration-s", type=float, default=None,
                        help="window length in seconds (default: the whole scene, its duration_s)")
    parser.add_argument("--allow-short", action="store_true",
                        help=f"accept windows shorter than {MIN_WINDOW_S:g} s (tests, CI)")
    parser.add_argument("--phases", type=int, default=1,
                        help="runs per scene with starting jitter phases spread over 0..15 (default 1)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--size", default="256x192",
                        help="render size WxH (default 256x192); the display size with --scale")
    parser.add_argument("--scale", default=None,
                        help="temporal upscaling: quality, balanced, performance, ultra_performance or a ratio in "
                             "[1, 3]; --size is the display size, the render size is floored from it")
    parser.add_argument("--display-size", default=None,
                        help="temporal upscaling: display (reference) size WxH, 1x to 3x --size per axis")
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel, k*k (default 64)")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    add_common_arguments(parser)  # --methods, --warmup, --exposure, --out, --no-progress
    return parser.parse_args(argv)


@command("qw-eval")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point. Returns the process exit code (0, or 2 with the error on stderr)."""
    from engine_bridge.render import parse_size
    from engine_bridge.scene.sets import resolve_scene_list

    args = _parse_args(argv)
    command = "python -m engine_bridge.eval " + " ".join(sys.argv[1:] if argv is None else argv)
    width, height = parse_size(args.size)
    if args.spp < 1:
        raise InvalidArgument("evaluation needs a reference", field="--spp", expected=">= 1", actual=str(args.spp))
    upscaling = None
    if args.scale is not None or args.display_size is not None:
        from engine_bridge.render import upscale_settings

        (width, height), display, mip_bias, phase_count = upscale_settings(
            (width, height), args.display_size, args.scale)
        upscaling = None if display is None else (display, mip_bias, phase_count)
    methods = [m for m in args.methods.split(",") if m]
    from qwplugin.runtime.registry import parse_spec

    for m in methods:
        parse_spec(m)  # refuse a typo (or a bad NAME=PATH) before minutes of rendering
    if upscaling is not None:
        from qwplugin.eval.cli_args import DEFAULT_METHODS
        from qwplugin.eval.methods import UPSCALING_DEFAULT, check_upscaling_methods

        if args.methods == DEFAULT_METHODS:
            methods = UPSCALING_DEFAULT.split(",")
        check_upscaling_methods(methods)
    phases = start_phases(args.phases, PHASE_COUNT if upscaling is None else upscaling[2])
    specs = resolve_scene_list(args.scenes)
    scenes = [spec.load() for spec in specs]  # a bad scene file fails here, naming file and field
    windows = [scene_window(spec.name, scene.duration_s, args.fps, args.start_s, args.duration_s,
                            args.allow_short) for spec, scene in zip(specs, scenes)]
    for spec, w in zip(specs, windows):
        if w.frames <= args.warmup:
            raise InvalidArgument(f"--warmup: nothing of {spec.name!r} would be scored", field="--warmup",
                                  expected=f"< {w.frames} (frames in the window)", actual=str(args.warmup))
    out = Path(args.out)
    inputs = render_inputs(specs, windows, phases, out, width, height, args.spp, args.backend, scenes,
                           upscaling)
    del scenes
    from qwplugin.eval import evaluate_and_report

    report = evaluate_and_report(inputs, methods, out, args.warmup, args.exposure, config=vars(args),
                                 command=command, progress=not args.no_progress,
                                 costly_every=args.costly_every)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
