"""Headless render command: one scene -> one sequence folder (qwplugin.io.sequence format).

Usage::

    python -m engine_bridge.render --scene NAME_OR_FILE --frames N --size WxH --spp 64 --fps 30 --out DIR
                                   [--mip-bias -1] [--reference-mip-bias 0] [--start-phase 0]

Per frame ``i`` (time ``start + i / fps``): the aliased G-buffer colour rendered with the Halton(2, 3) jitter
of phase ``(start_phase + i) % phase_count`` and texture LOD bias ``--mip-bias`` (default -1, the FSR 2
rule at native resolution), the ``spp``-sample reference at the same time (each sub-sample at its own
footprint's LOD: ``--reference-mip-bias - log2(sqrt(spp))``), motion vectors against frame ``i - 1``,
linear view depth, and in ``sequence.json`` the jitter and its phase, times, reset flags (first frame and
camera/object cuts, from ``Scene.has_cut_between``), camera matrices and the mip biases used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qwplugin.errors import InvalidArgument, QWPluginError

# The defaults of engine_bridge.raster.sampling (DEFAULT_INPUT_MIP_BIAS, DEFAULT_REFERENCE_MIP_BIAS), repeated
# here because importing engine_bridge.raster loads OpenGL, which this module only does when it renders.
DEFAULT_INPUT_MIP_BIAS = -1.0
DEFAULT_REFERENCE_MIP_BIAS = 0.0


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(W, H)``.

    Raises:
        InvalidArgument: not two positive integers separated by ``x``.
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise InvalidArgument("size must look like WxH", field="--size", expected="e.g. 960x540",
                              actual=repr(text)) from exc
    if w < 1 or h < 1:
        raise InvalidArgument("size must be positive", field="--size", expected="W, H >= 1", actual=repr(text))
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
                    *, start_phase: int = 0, reference_mip_bias: float = DEFAULT_REFERENCE_MIP_BIAS) -> Path:
    """Render ``frames`` frames of ``scene`` into the sequence folder ``out`` (creates its own context).

    Args:
        scene: an engine_bridge.scene.model.Scene.
        out: output folder.
        frames: number of frames, >= 1.
        width, height: render size.
        spp: reference samples per pixel (perfect square; 0 = no reference).
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
        InvalidArgument: bad frame count, fps, spp, bias or start phase.
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
                      reference_mip_bias=reference_mip_bias) as renderer, \
                SequenceWriter(out, scene.name, width, height, spp, fps, overwrite=overwrite,
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


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (also ``qw-render``). Returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m engine_bridge.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", required=True, help="built-in scene name, scene JSON file, or probe_ground")
    parser.add_argument("--frames", type=int, default=16, help="number of frames (default 16)")
    parser.add_argument("--size", default="256x144", help="render size WxH (default 256x144)")
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel, k*k (0: none)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second (time step 1/fps)")
    parser.add_argument("--start-time", type=float, default=0.0, help="time of frame 0 in seconds")
    parser.add_argument("--mip-bias", type=float, default=DEFAULT_INPUT_MIP_BIAS,
                        help="texture LOD bias of the aliased input (default -1: FSR 2 rule at native size)")
    parser.add_argument("--reference-mip-bias", type=float, default=DEFAULT_REFERENCE_MIP_BIAS,
                        help="base LOD bias of the reference; sub-samples add -log2(sqrt(spp)) (default 0)")
    parser.add_argument("--phase-count", type=int, default=16, help="Halton jitter sequence length")
    parser.add_argument("--start-phase", type=int, default=0, help="Halton phase of frame 0 (default 0)")
    parser.add_argument("--seed", type=int, default=None, help="randomize a built-in scene with this seed")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    parser.add_argument("--overwrite", action="store_true", help="replace an existing sequence in --out")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        width, height = parse_size(args.size)
        scene = resolve_scene(args.scene, args.seed)
        out = render_sequence(scene, args.out, args.frames, width, height, spp=args.spp, fps=args.fps,
                              start_time_s=args.start_time, mip_bias=args.mip_bias,
                              phase_count=args.phase_count, backend=args.backend, overwrite=args.overwrite,
                              progress=True, start_phase=args.start_phase,
                              reference_mip_bias=args.reference_mip_bias)
    except QWPluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.frames} frames of {scene.name!r} at {width}x{height} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
