"""Render scenes as an aliased no-AA frame next to a supersampled reference, one PNG per scene.

Usage::

    python scripts/scene_gallery.py [--size 192x108] [--spp 64] [--out docs/img/scenes]  # built-ins
    python scripts/scene_gallery.py --set test --size 256x192 --spp 16 --at-fraction 0.25  # a scene set

Without ``--set`` it renders every built-in scene (canonical); with ``--set NAME`` every scene of that set
(``engine_bridge.scene.sets``: ``training``, ``validation`` or ``test``). Each PNG is no-AA (left) and the
``--spp``-sample reference (right) at the same time, display transform ``x/(1+x)`` then sRGB encoding;
``index.md`` lists them with the command that made them.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import engine_bridge.gl  # noqa: F401  (selects the PyOpenGL platform before OpenGL is imported)
from engine_bridge.gl.context import create_context
from engine_bridge.raster.renderer import Renderer
from engine_bridge.render import parse_size
from engine_bridge.scene import load_scene
from engine_bridge.scene.builtin import builtin_names
from engine_bridge.scene.sets import SET_NAMES, scene_set

GAP_PX = 4
"""White gap between the no-AA and the reference half, pixels."""


def to_display(linear: np.ndarray) -> np.ndarray:
    """Linear HDR (H, W, 3) -> display uint8 (H, W, 3): ``x/(1+x)`` tonemap, then sRGB encoding."""
    tm = np.clip(linear, 0, None) / (1.0 + np.clip(linear, 0, None))
    srgb = np.where(tm <= 0.0031308, 12.92 * tm, 1.055 * np.power(tm, 1 / 2.4) - 0.055)
    return (np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_pair(scene, width: int, height: int, time_s: float, spp: int) -> np.ndarray:
    """No-AA frame | gap | ``spp``-sample reference of ``scene`` at ``time_s``, as display uint8
    (H, 2 W + GAP_PX, 3). Needs a current GL context."""
    with Renderer(scene, width, height) as renderer:
        noaa = renderer.render_noaa(time_s)
        reference = renderer.render_reference(time_s, spp=spp)
    gap = np.full((height, GAP_PX, 3), 255, np.uint8)
    return np.concatenate([to_display(noaa), gap, to_display(reference)], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="192x108", help="render size WxH of each half")
    parser.add_argument("--spp", type=int, default=64, help="reference samples per pixel (k*k)")
    parser.add_argument("--time", type=float, default=0.5, help="scene time in seconds")
    parser.add_argument("--at-fraction", type=float, default=None,
                        help="render at this fraction of each scene's duration instead of --time")
    parser.add_argument("--set", choices=SET_NAMES, default=None, dest="scene_set",
                        help="render the scenes of this set instead of the built-ins")
    parser.add_argument("--out", default=None, help="output folder (default docs/img/scenes, or "
                        "docs/img/<set>_scenes with --set)")
    args = parser.parse_args()
    width, height = parse_size(args.size)
    if args.scene_set is None:
        entries = [(name, lambda name=name: load_scene(name)) for name in builtin_names()]
        title = "Built-in scenes"
    else:
        entries = [(spec.name, spec.load) for spec in scene_set(args.scene_set)]
        title = f"The {args.scene_set} set"
    default_out = "docs/img/scenes" if args.scene_set is None else f"docs/img/{args.scene_set}_scenes"
    out = Path(args.out or default_out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python scripts/scene_gallery.py" + (f" --set {args.scene_set}" if args.scene_set else "") + \
        f" --size {args.size} --spp {args.spp}" + \
        (f" --at-fraction {args.at_fraction}" if args.at_fraction is not None else "") + \
        (f" --out {args.out}" if args.out else "")
    when = f"t = {args.at_fraction} x duration" if args.at_fraction is not None else f"t = {args.time} s"
    lines = [f"# {title}: no-AA (left) vs {args.spp}-spp reference (right)", "", f"`{command}`, {when}", ""]
    with create_context(width=width, height=height):
        for name, load in entries:
            scene = load()
            t = args.time if args.at_fraction is None else args.at_fraction * scene.duration_s
            Image.fromarray(render_pair(scene, width, height, t, args.spp)).save(out / f"{name}.png")
            lines.append(f"**{name}** (t = {t:.3g} s)\n\n![{name}]({name}.png)\n")
            print(f"{name}: t = {t:.3g} s")
    (out / "index.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
