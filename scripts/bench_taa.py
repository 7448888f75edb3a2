"""Time the TAA baseline per frame (PyTorch and, if a GL context can be made, the GL pass); or, with
``--quality``, measure the GL pass's error against supersampled references on static built-in scenes.

Usage: .venv/bin/python scripts/bench_taa.py [--sizes 960x540 1920x1080] [--frames 20] [--no-gl]
       [--device cpu]
       .venv/bin/python scripts/bench_taa.py --quality [--sizes 128x96]
Prints a markdown table: milliseconds per frame (median over ``--frames`` after 3 warm-up frames), or mean
absolute error in the tonemapped domain x / (1 + x) against a 64-spp reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from qwplugin.taa import TemporalAA


def bench_torch(width: int, height: int, frames: int, device: str) -> float:
    taa = TemporalAA()
    color = torch.rand(1, 3, height, width, device=device) * 4
    motion = (torch.rand(1, 2, height, width, device=device) - 0.5) * 4
    times = []
    for i in range(frames + 3):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        taa.step(color, motion, reset=(i == 0))
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[3:]) * 1e3


def bench_gl(width: int, height: int, frames: int) -> float:
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture, delete_textures, upload_texture
    from engine_bridge.passes import PassFrame, TAAPass

    rng = np.random.default_rng(0)
    color_tex = create_texture(width, height, GL.GL_RGBA16F)
    motion_tex = create_texture(width, height, GL.GL_RG16F)
    upload_texture(color_tex, rng.uniform(0, 4, (height, width, 4)).astype(np.float16))
    upload_texture(motion_tex, rng.uniform(-2, 2, (height, width, 2)).astype(np.float16))
    times = []
    with TAAPass(width, height) as taa:
        for i in range(frames + 3):
            GL.glFinish()
            start = time.perf_counter()
            taa.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame(reset=(i == 0)))
            GL.glFinish()
            times.append(time.perf_counter() - start)
    delete_textures(color_tex, motion_tex)
    return statistics.median(times[3:]) * 1e3


def quality_table(width: int, height: int, scenes: list[str]) -> None:
    """Static scenes (time 0.5 s): mean |tm(out) - tm(reference)| over frames 32..47 of the GL TAA pass."""
    from tqdm import tqdm

    from engine_bridge.gl.textures import read_texture
    from engine_bridge.passes import PassFrame, TAAPass
    from engine_bridge.raster.renderer import Renderer
    from engine_bridge.scene.loader import load_scene
    from qwplugin.taa import TAAConfig

    def tonemap(x):
        return x / (1.0 + x)

    print(f"| scene ({width}x{height}) | no-AA | jittered mean (16) | TAA gamma 1 | TAA no clip (gamma 1e6) |")
    print("|---|---|---|---|---|")
    out = np.zeros((height, width, 3), np.float32)
    for name in tqdm(scenes, desc="scenes", leave=False):
        with Renderer(load_scene(name), width, height) as renderer:
            reference = tonemap(renderer.render_reference(0.5, spp=64))
            noaa = np.abs(tonemap(renderer.render_noaa(0.5)) - reference).mean()
            mean = np.zeros((height, width, 3), np.float64)
            for i in range(16):
                renderer.render_gbuffer(0.5, None, renderer.jitter_for_frame(i))
                mean += renderer.read_gbuffer().color / 16.0
            row = [noaa, np.abs(tonemap(mean) - reference).mean()]
            for gamma in (1.0, 1e6):
                errors = []
                with TAAPass(width, height, TAAConfig(gamma=gamma)) as taa:
                    for i in range(48):
                        jitter = renderer.jitter_for_frame(i)
                        g = renderer.render_gbuffer(0.5, None, jitter)
                        result = taa.execute({"color": g.color, "motion_px": g.motion}, PassFrame(jitter, i == 0))
                        if i >= 32:
                            errors.append(np.abs(tonemap(read_texture(result["color"], out)) - reference).mean())
                row.append(float(np.mean(errors)))
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["960x540", "1920x1080"])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-gl", action="store_true")
    parser.add_argument("--quality", action="store_true", help="error table on static built-in scenes")
    parser.add_argument("--scenes", nargs="+", default=["wires_fence", "grazing_textures", "foliage", "specular",
                                                        "mixed"])
    args = parser.parse_args()
    if args.quality:
        from engine_bridge.gl import create_context

        with create_context():
            for size in args.sizes:
                width, height = (int(v) for v in size.split("x"))
                quality_table(width, height, args.scenes)
        return
    ctx = None
    if not args.no_gl:
        from engine_bridge.gl import create_context

        ctx = create_context()
        print(f"GL: {ctx.backend}, {ctx.renderer}")
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    print("| size | PyTorch TemporalAA (ms) | GL TAAPass (ms) |\n|---|---|---|")
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        t_torch = bench_torch(width, height, args.frames, args.device)
        t_gl = f"{bench_gl(width, height, args.frames):.1f}" if ctx else "-"
        print(f"| {size} | {t_torch:.1f} | {t_gl} |")
    if ctx:
        ctx.close()


if __name__ == "__main__":
    main()
