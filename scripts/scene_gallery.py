"""Render each built-in scene at t = 0.5 s: aliased no-AA frame next to the 64-spp reference.

Usage: python scripts/scene_gallery.py [--size 192x108] [--spp 64] [--out docs/img/scenes]
Writes one PNG per scene (display transform: x/(1+x) tonemap, then sRGB encoding) and index.md.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import engine_bridge.gl  # noqa: F401  (selects the PyOpenGL platform before OpenGL is imported)
from engine_bridge.gl.context import create_context
from engine_bridge.raster.renderer import Renderer
from engine_bridge.scene import load_scene
from engine_bridge.scene.builtin import builtin_names


def to_display(linear: np.ndarray) -> np.ndarray:
    tm = np.clip(linear, 0, None) / (1.0 + np.clip(linear, 0, None))
    srgb = np.where(tm <= 0.0031308, 12.92 * tm, 1.055 * np.power(tm, 1 / 2.4) - 0.055)
    return (np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="192x108")
    parser.add_argument("--spp", type=int, default=64)
    parser.add_argument("--time", type=float, default=0.5)
    parser.add_argument("--out", default="docs/img/scenes")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Built-in scenes: no-AA (left) vs reference (right)", "",
             f"`python scripts/scene_gallery.py --size {args.size} --spp {args.spp}`, t = {args.time} s", ""]
    with create_context(width=width, height=height):
        for name in builtin_names():
            renderer = Renderer(load_scene(name), width, height)
            noaa = renderer.render_noaa(args.time)
            reference = renderer.render_reference(args.time, spp=args.spp)
            renderer.close()
            gap = np.full((height, 4, 3), 255, np.uint8)
            Image.fromarray(np.concatenate([to_display(noaa), gap, to_display(reference)], axis=1)).save(
                out / f"{name}.png")
            lines.append(f"**{name}**\n\n![{name}]({name}.png)\n")
            print(name)
    (out / "index.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
