"""Per-pass benchmark and soak test of the anti-aliasing passes (no-AA, TAA, QW-Net 4-bit, QW-Net FP32).

Benchmark: renders a built-in scene at each size, runs every pass on the same G-buffer frames, and reports
the median milliseconds per pass (``glFinish`` before and after each pass, so GL work is included; QW-Net
times include the bridge's GL read-back/upload)::

    python -m engine_bridge.bench_passes --out docs/bench_passes.md

Soak: thousands of frames at a small size through every pass, with history resets and resizes in between;
checks that no frame raises or produces non-finite output and that the resident set size (RSS) stays flat
(growth over the second half of the run below ``--rss-limit-mb``)::

    python -m engine_bridge.bench_passes --soak 3000

Upscaling (``--upscaling``): for each display size of ``--sizes`` and each scale of ``--scales``, the scene is
rendered at :func:`qwplugin.render_size_for` ``(display, scale)`` (FSR 2's jitter length and mip bias) and the
upscaling passes of the registry (``--upscale-modes``: TAAU, no-AA + bilinear, TAA + Lanczos-3, QW-Net 4-bit +
Lanczos-3) are timed; the table gives milliseconds per frame and nanoseconds per display pixel (MACs per
display pixel: ``python -m qwplugin.analysis --upscaling``; TAAU is reported in ms only)::

    python -m engine_bridge.bench_passes --upscaling --sizes 1920x1080 --out docs/bench_upscaling.md

Exit status 1 when the soak fails (this is a CLI: it prints; the library code it calls does not).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

from qwplugin.cli import command, prog_name

MODES = ("noaa", "taa", "qwnet-int4", "qwnet-fp32")
SOAK_SIZES = ((48, 32), (32, 24), (40, 24))
UPSCALE_MODES = ("taau", "noaa+bilinear", "taa+lanczos", "qwnet-int4+lanczos")
"""The upscaling passes timed by ``--upscaling`` (registry names)."""
UPSCALE_SCALES = ("quality", "balanced", "performance", "ultra_performance")


def make_pass(mode: str, width: int, height: int, model: str | None, backend: str):
    """The pass object for a mode name, from the registry (:func:`engine_bridge.passes.make_pass`)."""
    from engine_bridge.passes import make_pass as make

    return make(mode, width, height, model=model, backend=backend)


def execute(pass_, renderer, jitter, reset: bool, frame_index: int | None = None) -> tuple[int, float]:
    """Dispatch a pass on the renderer's G-buffer: (output texture, ms including the GL work)."""
    from OpenGL import GL

    from qwplugin.runtime import Frame

    frame = Frame(color=renderer.color_tex, motion_px=renderer.motion_tex, depth=renderer.depth_view_tex,
                  jitter_px=tuple(jitter), reset=reset, frame_index=frame_index)
    GL.glFinish()
    t0 = time.perf_counter()
    out = pass_.dispatch(frame)
    GL.glFinish()
    return out, (time.perf_counter() - t0) * 1e3


def rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _time_frames(renderer, passes: dict, frames: int, gl_frames: int, desc: str, progress: bool):
    """Render ``max(frames, gl_frames) + 1`` frames (frame 0 is warm-up), timing the G-buffer and every pass
    (network passes on the first ``frames`` frames only: they are slow). Returns (G-buffer ms per frame,
    {mode: ms per frame}), frame 0 included."""
    from OpenGL import GL
    from tqdm import tqdm

    times = {m: [] for m in passes}
    gbuffer, prev = [], None
    for i in tqdm(range(max(frames, gl_frames) + 1), desc=desc, unit="frame", disable=not progress):
        t = i / 30.0
        jitter = renderer.jitter_for_frame(i)
        GL.glFinish()
        t0 = time.perf_counter()
        renderer.render_gbuffer(t, prev, jitter)
        GL.glFinish()
        gbuffer.append((time.perf_counter() - t0) * 1e3)
        for m, p in passes.items():
            if i <= (frames if p.info.family == "network" else gl_frames):
                times[m].append(execute(p, renderer, jitter, reset=(i == 0), frame_index=i)[1])
        prev = t
    return gbuffer, times


def bench(sizes, modes, scene_name: str, frames: int, gl_frames: int, model: str, backend: str,
          progress=True):
    """Median ms per (size, mode), plus the G-buffer render time. Returns {size: {mode|"render": ms}}."""
    from engine_bridge.raster.renderer import Renderer
    from engine_bridge.scene.loader import load_scene

    scene = load_scene(scene_name)
    results, details = {}, {}
    for w, h in sizes:
        renderer = Renderer(scene, w, h)
        passes = {m: make_pass(m, w, h, model, backend) for m in modes}
        render, times = _time_frames(renderer, passes, frames, gl_frames, f"{w}x{h}", progress)
        results[(w, h)] = {"render": statistics.median(render[1:]),
                           **{m: statistics.median(v[1:]) for m, v in times.items()}}
        details[(w, h)] = {m: _what_ran(p.info) for m, p in passes.items() if p.info.family == "network"}
        for p in passes.values():
            p.close()
        renderer.close()
    return results, details


def bench_upscaling(display_sizes, scales, modes, scene_name: str, frames: int, gl_frames: int, model: str | None,
                    backend: str, progress=True):
    """Median ms per (display size, scale, mode) of the upscaling passes, plus the G-buffer render time at the
    render size. Returns ``{(display, scale): {"render_size": (w, h), "render": ms, mode: ms}}`` and what ran."""
    import engine_bridge.passes.upscale_passes  # noqa: F401  (registers the GL upscalers)
    from engine_bridge.passes import make_pass as make
    from engine_bridge.raster.renderer import Renderer
    from engine_bridge.render import upscale_settings
    from engine_bridge.scene.loader import load_scene

    scene = load_scene(scene_name)
    results, details = {}, {}
    for display in display_sizes:
        for scale in scales:
            render, disp, bias, phases = upscale_settings(tuple(display), scale=scale)
            disp = disp or render
            renderer = Renderer(scene, *render, mip_bias=bias, phase_count=phases,
                                display_size=None if disp == render else disp)
            passes = {m: make(m, *render, display_size=disp, model=model, backend=backend) for m in modes}
            gbuffer, times = _time_frames(renderer, passes, frames, gl_frames, f"{disp[0]}x{disp[1]} {scale}",
                                          progress)
            results[(tuple(disp), scale)] = {"render_size": render, "render": statistics.median(gbuffer[1:]),
                                             **{m: statistics.median(v[1:]) for m, v in times.items()}}
            details[(tuple(disp), scale)] = {m: _what_ran(p.info) for m, p in passes.items()}
            for p in passes.values():
                p.close()
            renderer.close()
    return results, details


def upscaling_markdown(results, details, command: str, machine: str, frames: int, gl_frames: int) -> str:
    """The upscaling table: ms per frame and ns per display pixel per (display size, scale, mode)."""
    first = next(iter(results.values()), {})
    modes = [m for m in first if m not in ("render", "render_size")]
    lines = ["# Upscaling pass benchmark", "", f"Command: `{command}`", "", f"Machine: {machine}", "",
             (f"Median milliseconds per output frame (networks: {frames} timed frames, GLSL passes: {gl_frames}; "
              "frame 0 excluded), each pass between two `glFinish` calls, inputs at the render size, output at "
              "the display size; in brackets nanoseconds per display pixel. MACs: `python -m qwplugin.analysis "
              "--upscaling` (TAAU: milliseconds only)."), "",
             "| display | scale | render | G-buffer render | " + " | ".join(modes) + " |",
             "|---" * (len(modes) + 4) + "|"]
    for (display, scale), row in results.items():
        pixels = display[0] * display[1]
        cells = [f"{row[m]:.1f} ({row[m] * 1e6 / pixels:.1f})" if m in row else "-" for m in modes]
        rw, rh = row["render_size"]
        lines.append(f"| {display[0]}x{display[1]} | {scale} | {rw}x{rh} | {row['render']:.1f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "What ran:", ""]
    for (display, scale), d in details.items():
        for m, text in d.items():
            lines.append(f"- {display[0]}x{display[1]} {scale} {m}: {text}")
    return "\n".join(lines) + "\n"


def soak(n: int, model: str, backend: str, reset_every: int, resize_every: int, rss_limit_mb: float,
         progress=True) -> dict:
    """Run ``n`` frames through every pass with resets and resizes; return the verdict and numbers."""
    from tqdm import tqdm

    from engine_bridge.raster.renderer import Renderer
    from engine_bridge.scene.loader import load_scene
    from engine_bridge.transfer.readback import ReadbackTransfer

    scene = load_scene("mixed")
    size_index = 0
    w, h = SOAK_SIZES[0]
    renderer = Renderer(scene, w, h)
    passes = {m: make_pass(m, w, h, model, backend) for m in MODES}
    io = ReadbackTransfer(w, h)
    failures, rss, resets, resizes = [], [], 0, 0
    prev = None
    for i in tqdm(range(n), desc="soak", unit="frame", disable=not progress):
        if i and i % resize_every == 0:
            size_index += 1
            w, h = SOAK_SIZES[size_index % len(SOAK_SIZES)]
            renderer.close()
            renderer = Renderer(scene, w, h)
            for p in passes.values():
                p.resize(w, h)
            io.resize(w, h)
            resizes += 1
            prev = None
        reset = prev is None or (i % reset_every == 0)
        resets += reset
        t = (i / 30.0) % scene.duration_s
        jitter = renderer.jitter_for_frame(i)
        try:
            renderer.render_gbuffer(t, None if reset else prev, jitter)
            for m, p in passes.items():
                out = io.read(execute(p, renderer, jitter, reset, i)[0], 3, m)
                if not np.isfinite(out).all():
                    failures.append(f"frame {i} {m}: non-finite output")
        except Exception as exc:  # noqa: BLE001 - the soak counts every failure instead of stopping
            failures.append(f"frame {i}: {type(exc).__name__}: {exc}")
        prev = t
        if i % 25 == 0:
            rss.append((i, rss_mb()))
    for p in passes.values():
        p.close()
    renderer.close()
    half = [r for i, r in rss if i >= n // 2] or [rss[-1][1]]
    growth = max(half) - half[0]
    slope = 0.0
    if len(rss) >= 4:
        tail = rss[len(rss) // 2:]
        xs, ys = np.array([i for i, _ in tail], float), np.array([r for _, r in tail])
        slope = float(np.polyfit(xs, ys, 1)[0] * 1000) if len(xs) > 1 else 0.0
    return {"frames": n, "failures": failures, "resets": resets, "resizes": resizes,
            "rss_start_mb": rss[0][1], "rss_mid_mb": half[0], "rss_end_mb": rss[-1][1],
            "rss_growth_second_half_mb": growth, "rss_slope_mb_per_1000_frames": slope,
            "ok": not failures and growth < rss_limit_mb}


def _what_ran(info) -> str:
    """``info.description`` plus the GL transfer, for the table's notes."""
    transfer = info.details.get("transfer")
    return info.description + (f"; transfer {transfer}" if transfer else "")


def machine_line() -> str:
    import torch
    from OpenGL import GL

    renderer = GL.glGetString(GL.GL_RENDERER).decode()
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{os.cpu_count()}-core {platform.machine()} CPU ({platform.processor() or 'unknown'}), "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), GL: {renderer}, {cuda}; "
            f"load average at the end of the run {load} (other jobs share the CPU when it exceeds the "
            "core count)")


def to_markdown(results, details, command: str, machine: str, frames: int, gl_frames: int) -> str:
    first = next(iter(results.values()), {})
    modes = [m for m in first if m != "render"] or list(MODES)  # the modes that ran, in order
    lines = ["# Per-pass benchmark", "", f"Command: `{command}`", "", f"Machine: {machine}", "",
             (f"Median milliseconds per frame (networks: {frames} timed frames, GLSL passes: {gl_frames}; "
              "frame 0 excluded as warm-up). Each pass is timed between two `glFinish` calls; the network "
              "passes include the bridge's GL read-back and upload."), "",
             "| size | G-buffer render | " + " | ".join(modes) + " |", "|---" * (len(modes) + 2) + "|"]
    for (w, h), row in results.items():
        cells = [f"{row[m]:.1f}" if m in row else "-" for m in modes]
        lines.append(f"| {w}x{h} | {row['render']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "What ran (network passes):", ""]
    for (w, h), d in details.items():
        for m, text in d.items():
            lines.append(f"- {w}x{h} {m}: {text}")
    return "\n".join(lines) + "\n"


@command("qw-bench-passes")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=prog_name("qw-bench-passes", "engine_bridge.bench_passes"),
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="write the benchmark table (markdown) here")
    p.add_argument("--sizes", default="960x540,1920x1080")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--scene", default="mixed")
    p.add_argument("--frames", type=int, default=5, help="timed QW-Net frames per size")
    p.add_argument("--gl-frames", type=int, default=30, help="timed frames of the GL passes per size")
    p.add_argument("--model", default=None, help="network modes: model name or weights path (default: the mode's)")
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--soak", type=int, default=0, help="run a soak of N frames instead of the benchmark")
    p.add_argument("--soak-model", default="qwnet-tiny", help="model for the soak (small: many frames)")
    p.add_argument("--reset-every", type=int, default=97)
    p.add_argument("--resize-every", type=int, default=400)
    p.add_argument("--rss-limit-mb", type=float, default=30.0, help="allowed RSS growth over the second half")
    p.add_argument("--upscaling", action="store_true",
                   help="time the upscaling passes instead: --sizes are display sizes, one row per --scales entry")
    p.add_argument("--scales", default=",".join(UPSCALE_SCALES),
                   help="with --upscaling: scales (mode names or ratios in [1, 3])")
    p.add_argument("--upscale-modes", default=",".join(UPSCALE_MODES), help="with --upscaling: registry names")
    args = p.parse_args(argv)

    from engine_bridge.gl import create_context

    gl = create_context()
    try:
        if args.soak:
            r = soak(args.soak, args.soak_model, args.backend, args.reset_every, args.resize_every,
                     args.rss_limit_mb)
            print(f"soak: {r['frames']} frames x {len(MODES)} passes, {r['resets']} resets, "
                  f"{r['resizes']} resizes")
            print(f"RSS MiB: start {r['rss_start_mb']:.1f}, mid {r['rss_mid_mb']:.1f}, "
                  f"end {r['rss_end_mb']:.1f}; "
                  f"second-half growth {r['rss_growth_second_half_mb']:.1f} (limit {args.rss_limit_mb}), "
                  f"slope {r['rss_slope_mb_per_1000_frames']:.2f} MiB/1000 frames")
            print(f"failures: {len(r['failures'])}" + "".join(f"\n  {f}" for f in r["failures"][:20]))
            print("OK" if r["ok"] else "FAILED")
            return 0 if r["ok"] else 1
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
        if args.upscaling:
            modes = [m for m in args.upscale_modes.split(",") if m]
            scales = [x for x in args.scales.split(",") if x]
            results, details = bench_upscaling(sizes, scales, modes, args.scene, args.frames, args.gl_frames,
                                               args.model, args.backend)
            argv_used = argv if argv is not None else sys.argv[1:]
            command = "python -m engine_bridge.bench_passes " + " ".join(argv_used)
            text = upscaling_markdown(results, details, command.strip(), machine_line(), args.frames,
                                      args.gl_frames)
            print(text)
            if args.out:
                with open(args.out, "w") as f:
                    f.write(text)
            return 0
        modes = [m for m in args.modes.split(",") if m]
        results, details = bench(sizes, modes, args.scene, args.frames, args.gl_frames, args.model,
                                 args.backend)
        argv_used = argv if argv is not None else sys.argv[1:]
        command = "python -m engine_bridge.bench_passes " + " ".join(argv_used)
        text = to_markdown(results, details, command.strip(), machine_line(), args.frames, args.gl_frames)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
        return 0
    finally:
        gl.close()


if __name__ == "__main__":
    sys.exit(main())
