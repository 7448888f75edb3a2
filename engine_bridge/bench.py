"""Engine benchmark: G-buffer render and read-back milliseconds, and reference cost per sample.

Usage::

    python -m engine_bridge.bench [--scene mixed] [--frames 20] [--out docs/bench_engine.md]

"render" = the G-buffer draws plus ``glFinish`` (so the GPU/llvmpipe work is inside the measurement);
"read-back" = colour + motion + view depth into preallocated top-down arrays (``Renderer.read_gbuffer``);
"reference / sample" = ``render_reference`` time divided by its sample count. Medians over repeated frames
(the scene animates between frames; jitter cycles through the Halton sequence).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

from qwplugin.cli import command, prog_name

SIZES = ((960, 540), (1920, 1080))


def _median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def bench_size(scene, width: int, height: int, frames: int, ref_spp: int, ref_repeats: int) -> dict:
    """Medians for one render size (needs a current context). Returns a dict of milliseconds."""
    from OpenGL import GL

    from engine_bridge.raster import Renderer

    with Renderer(scene, width, height) as r:
        render, readback = [], []
        for i in range(frames + 2):  # 2 warm-up frames (shader compile, texture upload, page faults)
            t = i / 30.0
            GL.glFinish()
            t0 = time.perf_counter()
            r.render_gbuffer(t, t - 1 / 30.0, r.jitter_for_frame(i))
            GL.glFinish()
            t1 = time.perf_counter()
            r.read_gbuffer()
            t2 = time.perf_counter()
            if i >= 2:
                render.append(t1 - t0)
                readback.append(t2 - t1)
        r.render_reference(0.0, 1)  # warm-up of the accumulation targets
        per_sample = []
        for i in range(ref_repeats):
            t0 = time.perf_counter()
            r.render_reference(i / 30.0, ref_spp)
            per_sample.append((time.perf_counter() - t0) / ref_spp)
    return {"render_ms": _median_ms(render), "readback_ms": _median_ms(readback),
            "ref_sample_ms": _median_ms(per_sample)}


def triangle_count(scene) -> int:
    return sum(len(o.mesh.indices) for o in scene.objects)


def run(scene_name: str, frames: int, ref_spp: int, ref_repeats: int, backend: str = "auto") -> str:
    """Run the benchmark and return the markdown report."""
    from tqdm import tqdm

    from engine_bridge.gl import create_context
    from engine_bridge.render import resolve_scene

    scene = resolve_scene(scene_name)
    ctx = create_context(backend)
    try:
        rows = []
        for w, h in tqdm(SIZES, desc="bench", unit="size"):
            rows.append(((w, h), bench_size(scene, w, h, frames, ref_spp, ref_repeats)))
        renderer, version, used_backend = ctx.renderer, ctx.version, ctx.backend
    finally:
        ctx.close()
    lines = [
        f"Scene `{scene.name}` ({triangle_count(scene):,} triangles, {len(scene.objects)} objects), backend "
        f"`{used_backend}`, `{renderer}`, OpenGL `{version}`, Python {platform.python_version()}.",
        f"Medians over {frames} frames (G-buffer) and {ref_repeats} references of {ref_spp} samples.",
        "",
        "| size | G-buffer render ms | read-back ms (colour+motion+depth) | reference ms / sample | "
        "64-spp reference ms |",
        "|---|---|---|---|---|",
    ]
    for (w, h), m in rows:
        lines.append(f"| {w}x{h} | {m['render_ms']:.1f} | {m['readback_ms']:.1f} | {m['ref_sample_ms']:.1f} | "
                     f"{64 * m['ref_sample_ms']:.0f} |")
    return "\n".join(lines) + "\n"


@command("qw-bench-engine")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog_name("qw-bench-engine", "engine_bridge.bench"), description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", default="mixed", help="built-in scene, scene file or probe_ground")
    parser.add_argument("--frames", type=int, default=20, help="G-buffer frames per size (median)")
    parser.add_argument("--ref-spp", type=int, default=16, help="samples per timed reference (k*k)")
    parser.add_argument("--ref-repeats", type=int, default=3, help="timed references per size (median)")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    parser.add_argument("--machine", default="", help="machine description for the report header")
    parser.add_argument("--out", default=None, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    report = run(args.scene, args.frames, args.ref_spp, args.ref_repeats, args.backend)
    command = "python -m engine_bridge.bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    header = "# Engine benchmark\n\n"
    if args.machine:
        header += f"Machine: {args.machine}.\n"
    header += f"Command: `{command.strip()}`\n"
    if hasattr(os, "getloadavg"):
        header += (f"1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
                   "(other jobs inflate these timings).\n")
    header += "\n"
    print(header + report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(header + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
