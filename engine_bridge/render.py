"""Headless render command: one scene -> one sequence folder (qwplugin.io.sequence format).

Usage::

    python -m engine_bridge.render --scene NAME_OR_FILE --frames N --size WxH --spp 64 --fps 30 --out DIR
                                   [--mip-bias -1] [--reference-mip-bias 0] [--start-phase 0]
                                   [--display-size WxH | --scale MODE_OR_RATIO]

Per frame ``i`` (time ``start + i / fps``): the aliased G-buffer colour rendered with the Halton(2, 3) jitter
of phase ``(start_phase + i) % phase_count`` and texture LOD bias ``--mip-bias`` (default -1, the FSR 2
rule at native resolution), the ``spp``-sample reference at the same time (each sub-sample at its own
footprint's LOD: ``--reference-mip-bias - log2(sqrt(spp))``), motion vectors against frame ``i - 1``,
linear view depth, and in ``sequence.json`` the jitter and its phase, times, reset flags (first frame and
camera/object cuts, from ``Scene.has_cut_between``), camera matrices and the mip biases used.

Temporal upscaling: ``--display-size WxH`` (or ``--scale quality|balanced|performance|ultra_performance|R``,
which derives the render size from the display size ``--size``, floored like FSR 2:
:func:`qwplugin.upscale.render_size_for`). With ``--display-size`` the ``--size`` is the render size. Then the
reference is rendered at the display size (same reference LOD rule), colour, motion (render pixels) and depth
at the render size; unless given explicitly, the mip bias is FSR 2's ``log2(render/display) - 1`` and the
jitter length ``max(16, int(8 * (display/render)^2))`` (:func:`qwplugin.ops.halton.default_phase_count`).
Without either option nothing changes (display = render, bias -1, 16 phases).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from qwplugin.cli import command, prog_name
from qwplugin.errors import InvalidArgument

# The defaults of engine_bridge.raster.sampling (DEFAULT_INPUT_MIP_BIAS, DEFAULT_REFERENCE_MIP_BIAS), repeated
# here because importing engine_bridge.raster loads OpenGL, which this module only does when it renders.
DEFAULT_INPUT_MIP_BIAS = -1.0
DEFAULT_REFERENCE_MIP_BIAS = 0.0


def parse_size(text: str, field: str = "--size") -> tuple[int, int]:
    """``"WxH"`` -> ``(W, H)``.

    Raises:
        InvalidArgument: not two positive integers separated by ``x`` (naming ``field``).
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise InvalidArgument("size must look like WxH", field=field, expected="e.g. 960x540",
                              actual=repr(text)) from exc
    if w < 1 or h < 1:
        raise InvalidArgument("size must be positive", field=field, expected="W, H >= 1", actual=repr(text))
    return w, h


def resolve_scene(name_or_path: str, seed: int | None = None):
    """A Scene from a built-in name or scene file (``engine_bridge.scene.loader.load_scene``), or one of
    the analytic probe scenes (``probe_ground``)."""
    import numpy as np

    if name_or_path == "probe_ground":
        from engine_bridge.raster.probe_scenes import textured_ground_scene

        return textured_ground_scene()
    from engine_bridge.scene.loader import load_scene

    rng = None if seed is None else np.random.default_rng(seed)
    return load_scene(name_or_path, rng=rng)


def render_sequence(scene, out: str | Path, frames: int, width: int, height: int, spp: int = 64,
                    fps: float = 30.0, start_time_s: float = 0.0, mip_bias: float = DEFAULT_INPUT_MIP_BIAS,
                    phase_count: int = 16, backend: str = "auto", overwrite: bool = False, progress: bool = False,
                    *, start_phase: int = 0, reference_mip_bias: float = DEFAULT_REFERENCE_MIP_BIAS,
                    display_size: tuple[int, int] | None = None) -> Path:
    """Render ``frames`` frames of ``scene`` into the sequence folder ``out`` (creates its own context).

    Args:
        scene: an engine_bridge.scene.model.Scene.
        out: output folder.
        frames: number of frames, >= 1.
        width, height: render size.
        spp: reference samples per pixel (perfect square; 0 = no reference).
        display_size: ``(width, height)`` of the reference (temporal upscaling, 1x to 3x per axis); None =
            the render size. The caller picks ``mip_bias`` and ``phase_count`` for it
            (:func:`upscale_settings`).
        fps: frame rate; frame i is at ``start_time_s + i / fps``.
        mip_bias: texture LOD bias of the aliased colour (default -1: FSR 2's ``log2(render/display) - 1``
            at native resolution).
        phase_count: Halton jitter cycle length.
        backend: OpenGL context backend ("auto", "egl", "osmesa", "glfw").
        overwrite: replace an existing sequence in ``out``.
        progress: show a tqdm progress bar.
        start_phase: Halton phase of frame 0 (frame ``i`` uses ``(start_phase + i) % phase_count``).
        reference_mip_bias: base LOD bias of the reference (0 = display pixel footprint); its sub-samples
            use ``reference_mip_bias - log2(sqrt(spp))``.

    The biases and phases are recorded in ``sequence.json`` (``input_mip_bias``, ``reference_mip_bias``,
    ``reference_sample_mip_bias``, ``jitter_phase_count``, ``jitter_start_phase``, per frame
    ``jitter_phase``).

    Returns:
        the output folder.

    Raises:
        InvalidArgument: bad frame count, fps, spp, bias, start phase or display size.
        UnsupportedHardware: no OpenGL context.
    """
    from tqdm import tqdm

    from engine_bridge.gl import create_context
    from engine_bridge.raster import Renderer
    from engine_bridge.raster.sampling import reference_sample_offsets
    from qwplugin.io.sequence import SequenceWriter

    if frames < 1:
        raise InvalidArgument("frames must be >= 1", field="frames", expected=">= 1", actual=repr(frames))
    if not fps > 0:
        raise InvalidArgument("fps must be positive", field="fps", expected="> 0", actual=repr(fps))
    if spp:
        reference_sample_offsets(spp)  # validates (perfect square) before any work
    ctx = create_context(backend)
    try:
        with Renderer(scene, width, height, mip_bias=mip_bias, phase_count=phase_count, start_phase=start_phase,
                      reference_mip_bias=reference_mip_bias, display_size=display_size) as renderer, \
                SequenceWriter(out, scene.name, width, height, spp, fps, overwrite=overwrite,
                               display_size=renderer.display_size,
                               input_mip_bias=renderer.mip_bias, reference_mip_bias=renderer.reference_mip_bias,
                               reference_sample_mip_bias=renderer.reference_sample_mip_bias(spp) if spp else None,
                               jitter_phase_count=renderer.phase_count,
                               jitter_start_phase=renderer.start_phase) as writer:
            prev_t = None
            for i in tqdm(range(frames), desc=f"render {scene.name}", unit="frame", disable=not progress):
                t = start_time_s + i / fps
                reset = prev_t is None or scene.has_cut_between(prev_t, t)
                jitter = renderer.jitter_for_frame(i)
                info = renderer.render_gbuffer(t, None if reset else prev_t, jitter)
                arrays = renderer.read_gbuffer()
                reference = renderer.render_reference(t, spp) if spp else None
                writer.add_frame(arrays.color, arrays.motion_px, arrays.depth_view, time_s=t, jitter_px=jitter,
                                 reset=reset, view=info.view, projection=info.projection,
                                 jittered_projection=info.jittered_projection, reference=reference,
                                 jitter_phase=renderer.phase_for_frame(i))
                prev_t = t
    finally:
        ctx.close()
    return Path(out)


def upscale_settings(size: tuple[int, int], display_size: str | None = None, scale: str | None = None,
                     mip_bias: float | None = None, phase_count: int | None = None):
    """The render size, display size, input mip bias and jitter length of the render / dataset commands.

    Args:
        size: ``--size``: the render size, or the display size when ``scale`` is given.
        display_size: ``--display-size`` text ``"WxH"`` (``size`` is then the render size), or None.
        scale: ``--scale`` (a mode name or ratio, :func:`qwplugin.upscale.scale_factor`), or None.
        mip_bias, phase_count: explicit values, or None for the rules (FSR 2 ``log2(render/display) - 1``;
            :func:`qwplugin.ops.halton.default_phase_count`).

    Returns:
        ``(render_size, display_size or None, mip_bias, phase_count)``; display None when equal to render,
        so native renders take exactly the old path (bias -1, 16 phases unless given).

    Raises:
        InvalidArgument: both options, a bad size text, a mode or ratio outside [1, 3], or a display size
            outside 1x..3x of the render size (naming the option).
    """
    from qwplugin.ops.halton import default_phase_count
    from qwplugin.upscale import render_size_for, scale_of

    if display_size is not None and scale is not None:
        raise InvalidArgument("give --display-size or --scale, not both", field="--display-size/--scale",
                              expected="one of them", actual="both")
    render, display = tuple(size), None
    if scale is not None:
        display = render
        render = render_size_for(display, _scale_arg(scale))
    elif display_size is not None:
        display = parse_size(display_size, "--display-size")
        try:
            scale_of(render, display)
        except InvalidArgument as exc:
            raise InvalidArgument(str(exc), field="--display-size", expected=exc.expected,
                                  actual=exc.actual) from None
    if display == render:
        display = None
    d = render if display is None else display
    if mip_bias is None:
        mip_bias = DEFAULT_INPUT_MIP_BIAS if display is None else math.log2(render[0] / d[0]) - 1.0
    if phase_count is None:
        phase_count = default_phase_count(render[0], d[0])
    return render, display, float(mip_bias), int(phase_count)


def _scale_arg(text: str) -> float:
    from qwplugin.upscale import scale_factor

    return scale_factor(text, field="--scale")


@command("qw-render")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point (also ``qw-render``). Returns the process exit code."""
    parser = argparse.ArgumentParser(prog=prog_name("qw-render", "engine_bridge.render"),
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", required=True, help="built-in scene name, scene JSON file, or probe_ground")
    parser.add_argument("--frames", type=int, default=16, help="number of frames (default 16)")
    parser.add_argument("--size", default="256x144",
                        help="render size WxH (default 256x144); the display size with --scale")
    parser.add_argument("--display-size", default=None,
                        help="temporal upscaling: display (reference) size WxH, 1x to 3x --size per axis")
    parser.add_argument("--scale", default=None,
                        help="temporal upscaling: quality, balanced, performance, ultra_performance or a ratio "
                             "in [1, 3]; --size is then the display size, the render size is floored from it")
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel, k*k (0: none)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second (time step 1/fps)")
    parser.add_argument("--start-time", type=float, default=0.0, help="time of frame 0 in seconds")
    parser.add_argument("--mip-bias", type=float, default=None,
                        help="texture LOD bias of the aliased input (default: FSR 2 log2(render/display) - 1, "
                             "-1 at native size)")
    parser.add_argument("--reference-mip-bias", type=float, default=DEFAULT_REFERENCE_MIP_BIAS,
                        help="base LOD bias of the reference; sub-samples add -log2(sqrt(spp)) (default 0)")
    parser.add_argument("--phase-count", type=int, default=None,
                        help="Halton jitter sequence length (default max(16, int(8 * ratio^2)))")
    parser.add_argument("--start-phase", type=int, default=0, help="Halton phase of frame 0 (default 0)")
    parser.add_argument("--seed", type=int, default=None, help="randomize a built-in scene with this seed")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    parser.add_argument("--overwrite", action="store_true", help="replace an existing sequence in --out")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    (width, height), display, mip_bias, phase_count = upscale_settings(
        parse_size(args.size), args.display_size, args.scale, args.mip_bias, args.phase_count)
    scene = resolve_scene(args.scene, args.seed)
    out = render_sequence(scene, args.out, args.frames, width, height, spp=args.spp, fps=args.fps,
                          start_time_s=args.start_time, mip_bias=mip_bias,
                          phase_count=phase_count, backend=args.backend, overwrite=args.overwrite,
                          progress=True, start_phase=args.start_phase,
                          reference_mip_bias=args.reference_mip_bias, display_size=display)
    shown = f"{width}x{height}" + ("" if display is None else f" (display {display[0]}x{display[1]})")
    print(f"wrote {args.frames} frames of {scene.name!r} at {shown} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
