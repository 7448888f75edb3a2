"""QW-Net vs TAA vs no-AA over the built-in scenes: a GLFW window with a run-time toggle, or a headless run.

Window (needs a display)::

    python examples/demo.py --scene mixed --size 960x540

Keys: 1 no-AA, 2 TAA, 3 QW-Net fast 4-bit, 4 QW-Net fast FP32, 5 TAAU, S split screen (TAA | QW-Net fast 4-bit), U cycle the
upscaling scale (native, quality 1.5x, balanced 1.7x, performance 2x, ultra performance 3x), P pause, N single
step (while paused), R reset histories, Esc or Q quit. The overlay shows the mode, the render and display size,
the backend that really runs (device, precision, whether the weights are trained) and per-pass milliseconds.

Temporal upscaling: ``--size`` is the display (window) size; at a scale other than native the scene is rendered
at ``qwplugin.render_size_for(display, scale)`` with FSR 2's jitter length and mip bias
(:func:`engine_bridge.render.upscale_settings`), and each mode runs as its upscaling method of the registry:
TAAU upscales itself; no-AA, TAA and QW-Net run at the render size and are then upscaled spatially
(``noaa+bilinear``, ``taa+lanczos``, ``qwnet-fast-int4+lanczos``), except QW-Net at 2x (performance), which
runs the upscaling network ``qwnet-fast-up2-int4`` / ``-fp32`` (samples on the display grid, display history).

Headless (no ``DISPLAY``, or ``--headless``): renders one sequence, runs every method on the same G-buffer
frames and writes into ``--out``:

* ``comparison.png``: the last frame of each method side by side with the supersampled reference, labelled;
* ``comparison.gif``: the whole sequence, methods side by side;
* ``timings.json``: per-pass median milliseconds, the backend/weights/transfer actually used, PSNR vs the
  reference, the GL renderer and the machine.

    python examples/demo.py --headless --scene mixed --size 320x180 --frames 24 --out out/demo

``--scale performance`` runs the headless comparison in upscaling mode (``--size`` is then the display size);
``--compare-upscaling out.png`` writes the upscaling comparison (no-AA + bilinear, TAA + Lanczos-3, TAAU and
the reference, all at the display size, labelled with sizes and milliseconds; ``--scale`` default
performance)::

    python examples/demo.py --headless --size 320x180 --frames 24 --compare-upscaling out/upscaling.png

The mode toggle swaps pass objects built by name from the one registry (``engine_bridge.passes.make_pass``:
``NoAAPass``, ``TAAPass``, ``QWNetPass``): the app never looks at a mode's name beyond handing it to the
registry, and asks each pass what it runs (``pass_.info``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import engine_bridge  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODES = ("noaa", "taa", "qwnet-fast-int4", "qwnet-fast-fp32")
"""The shipped default network (``qwnet-fast``, the best test-set quality); ``--modes`` can add the paper
network (``qwnet-int4``, ``qwnet-fp32``)."""
KEY_MODES = {"1": "noaa", "2": "taa", "3": "qwnet-fast-int4", "4": "qwnet-fast-fp32", "5": "taau"}
SPLIT = ("taa", "qwnet-fast-int4")
SCALES = ("native", "quality", "balanced", "performance", "ultra_performance")
"""The upscaling scales the U key cycles through (:data:`qwplugin.UPSCALING_MODES`)."""
UPSCALED = {"noaa": "noaa+bilinear", "taa": "taa+lanczos", "qwnet-int4": "qwnet-int4+lanczos",
            "qwnet-fp32": "qwnet-fp32+lanczos", "qwnet-fast-int4": "qwnet-fast-int4+lanczos",
            "qwnet-fast-fp32": "qwnet-fast-fp32+lanczos"}
"""What a render-size mode runs as when upscaling: reconstruct at the render size, then upscale."""
COMPARE_UPSCALING = ("noaa+bilinear", "taa+lanczos", "taau", "qwnet-fast-int4")
"""The methods of ``--compare-upscaling`` (the reference is added; ``qwnet-fast-int4`` runs as
:func:`method_for` says: the 2x network at performance, else QW-Net then Lanczos-3)."""
UPSCALING_NETWORKS = {2.0: {"qwnet-fast-int4": "qwnet-fast-up2-int4", "qwnet-fast-fp32": "qwnet-fast-up2-fp32"}}
"""Scale -> (render-size mode -> the upscaling QW-Net that replaces it at that scale)."""
MIN_TILE_WIDTH = 240  # px: tiles are upscaled (nearest, integer factor) so labels stay readable


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scene", default="mixed", help="built-in scene name or scene JSON path")
    p.add_argument("--size", default=None, help="render size WxH (default 960x540 window, 320x180 headless)")
    p.add_argument("--headless", action="store_true", help="no window: write comparison files")
    p.add_argument("--frames", type=int, default=24, help="headless: frames to render")
    p.add_argument("--fps", type=float, default=30.0, help="scene time step = 1/fps seconds")
    p.add_argument("--out", default="out/demo", help="headless: output folder")
    p.add_argument("--modes", default=",".join(MODES), help="headless: comma-separated methods")
    p.add_argument("--model", default=None,
                   help="network modes: model name or weights path (qwnet-tiny, ...; default: the mode's own)")
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--transfer", default="auto", choices=("auto", "readback", "cuda_interop"))
    p.add_argument("--reference-spp", type=int, default=64, help="headless: reference samples (perfect square)")
    p.add_argument("--gif-ms", type=int, default=100, help="headless: GIF frame duration")
    p.add_argument("--max-frames", type=int, default=0, help="window: quit after N frames (0: run until Esc)")
    p.add_argument("--keys", default="", help="window: scripted key presses 'frame:key,...', e.g. '2:2,4:s'")
    p.add_argument("--screenshot", default=None, help="window: save the last presented frame (PNG) on exit")
    p.add_argument("--scale", default="native",
                   help="upscaling scale: native, quality, balanced, performance, ultra_performance or a ratio in "
                        "[1, 3]; --size is the display size (window: the starting scale, U cycles)")
    p.add_argument("--compare-upscaling", default=None, metavar="PNG",
                   help="headless: write the upscaling comparison (no-AA + bilinear, TAA + Lanczos-3, TAAU, "
                        "reference) at the display size to PNG (--scale default performance)")
    args = p.parse_args(argv)
    args.headless = args.headless or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    size = args.size or ("320x180" if args.headless else "960x540")
    try:
        args.width, args.height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        p.error(f"--size must be WxH, got {size!r}")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.compare_upscaling:
        args.headless = True
        args.modes = list(COMPARE_UPSCALING)
        if args.scale == "native":
            args.scale = "performance"
    from qwplugin.runtime import registry

    from qwplugin.errors import InvalidArgument

    unknown = []
    for m in args.modes:  # a name, or a spec with options (qwnet-routed:k=1)
        try:
            base = registry.split_spec_options(m)[0]
        except InvalidArgument as err:
            p.error(f"--modes {m!r}: {err}")
        if base not in registry.names():
            unknown.append(m)
    if unknown:
        p.error(f"unknown modes {unknown}; choose from {', '.join(registry.names())} (options as NAME:key=value)")
    return args


def label(mode: str) -> str:
    """The mode's human label (from the registry)."""
    from qwplugin.runtime import registry

    return registry.label(mode)


# ---------------------------------------------------------------------------------------------------------
# passes and frames


def make_pass(mode: str, width: int, height: int, args, display_size=None):
    """The pass object of a mode, from the registry (the toggle swaps these); ``display_size`` for the
    upscaling names (``taau``, ``taa+lanczos``, ...; None: the render size)."""
    import engine_bridge.passes.upscale_passes  # noqa: F401  (registers the GL upscalers)
    from engine_bridge.passes import make_pass as make

    model = None if mode in {n for m in UPSCALING_NETWORKS.values() for n in m.values()} else args.model
    return make(mode, width, height, display_size=display_size, model=model, backend=args.backend,
                transfer=args.transfer)


def method_for(mode: str, upscaling: bool, scale: str | float | None = None) -> str:
    """The registry name that runs ``mode``: the mode itself at native scale or when it upscales by itself
    (``taau``, ``taa+lanczos``); the upscaling QW-Net of that scale where one exists (:data:`UPSCALING_NETWORKS`,
    ``qwnet-fast-int4`` at ``performance`` -> ``qwnet-fast-up2-int4``); else its "reconstruct at the render
    size, then upscale" name (:data:`UPSCALED`)."""
    from qwplugin.runtime import registry
    from qwplugin.upscale import scale_factor

    if not upscaling or registry.upscales(mode):
        return mode
    if scale is not None and mode in UPSCALING_NETWORKS.get(scale_factor(scale), {}):
        return UPSCALING_NETWORKS[scale_factor(scale)][mode]
    return UPSCALED.get(mode, f"{mode}+lanczos")


def scale_setup(display: tuple[int, int], scale: str):
    """``(render_size, display_size, mip_bias, jitter_phase_count)`` for a display size and a scale: the render
    size floored as FSR 2 does, its mip bias ``log2(render / display) - 1`` and jitter length
    (:func:`engine_bridge.render.upscale_settings`; native: render = display, bias -1, 16 phases).

    Raises:
        InvalidArgument: an unknown scale or one outside [1, 3] (field ``--scale``).
    """
    from engine_bridge.render import upscale_settings

    render, display_or_none, bias, phases = upscale_settings(tuple(display), scale=scale)
    return render, display_or_none or render, bias, phases


def make_renderer(scene, display: tuple[int, int], scale: str):
    """A renderer at the render size of ``scale`` (references at the display size); returns it and its sizes."""
    from engine_bridge.raster.renderer import Renderer

    render, disp, bias, phases = scale_setup(display, scale)
    renderer = Renderer(scene, *render, mip_bias=bias, phase_count=phases,
                        display_size=None if disp == render else disp)
    return renderer, render, disp


def size_line(scale: str, render, display) -> str:
    """HUD / label text, e.g. ``performance: render 480x270 -> display 960x540``."""
    return f"{scale}: render {render[0]}x{render[1]} -> display {display[0]}x{display[1]}"


def describe_pass(pass_) -> dict:
    """What really runs in a pass: honest backend, weights and transfer (shown in overlay and JSON)."""
    info = pass_.info
    return {"backend": info.description, "trained": info.trained, "summary": info.summary, **info.details}


def routing_line(pass_) -> str | None:
    """HUD line of a routed method (``qwnet-routed``: ``info.details`` has ``heavy_fraction_last``), read each
    frame: the last heavy fraction, the worst so far, the knob (k or budget) and the frames over budget;
    None for every other method."""
    details = pass_.info.details
    if "heavy_fraction_last" not in details:
        return None
    stats = getattr(pass_, "stats", None) or getattr(getattr(pass_, "context", None), "stats", None)
    last = details["heavy_fraction_last"]
    text = f"heavy tiles {'-' if last is None else f'{100 * last:.0f}%'}"
    if stats is not None and hasattr(stats, "heavy_fraction_worst"):
        text += f" (worst {100 * stats.heavy_fraction_worst:.0f}%, k {stats.k_last:+.2f})"
    if details.get("budget_ms") is not None:
        over = getattr(stats, "frames_over_budget", None)
        text += f" | budget {details['budget_ms']:g} ms" + ("" if over is None else f", {over} frames over")
    return text


def run_pass(pass_, renderer, jitter, reset: bool, frame_index: int) -> tuple[int, float]:
    """Dispatch one pass on the renderer's G-buffer; returns (output texture, milliseconds incl. GL work)."""
    from OpenGL import GL

    from qwplugin.runtime import Frame

    frame = Frame(color=renderer.color_tex, motion_px=renderer.motion_tex, depth=renderer.depth_view_tex,
                  jitter_px=tuple(jitter), reset=reset, frame_index=frame_index)
    GL.glFinish()
    t0 = time.perf_counter()
    out = pass_.dispatch(frame)
    GL.glFinish()
    return out, (time.perf_counter() - t0) * 1e3


def to_display(rgb: np.ndarray) -> np.ndarray:
    """Linear HDR (H, W, 3) -> sRGB uint8 for viewing: Reinhard x/(1+x), then the sRGB curve."""
    x = np.clip(rgb, 0.0, None)
    x = x / (1.0 + x)
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return (np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two display-mapped images (uint8 scale)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def labelled(img: np.ndarray, text: str, scale: int):
    """A Pillow image: ``img`` upscaled by ``scale`` (nearest) under a label bar."""
    from PIL import Image, ImageDraw

    tile = Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST)
    bar = 16
    out = Image.new("RGB", (tile.width, tile.height + bar), (0, 0, 0))
    out.paste(tile, (0, bar))
    ImageDraw.Draw(out).text((4, 2), text, fill=(255, 255, 255))
    return out


def side_by_side(tiles):
    from PIL import Image

    gap = 4
    out = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), max(t.height for t in tiles)),
                    (40, 40, 40))
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + gap
    return out


def draw_overlay(img: np.ndarray, lines: list[str]) -> np.ndarray:
    """Text lines on a dark box at the top-left (Pillow's built-in bitmap font)."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    width = max(draw.textlength(line) for line in lines) + 8
    draw.rectangle((0, 0, width, 12 * len(lines) + 6), fill=(0, 0, 0))
    for i, line in enumerate(lines):
        draw.text((4, 3 + 12 * i), line, fill=(255, 255, 90))
    return np.asarray(pil)


def _median(values):
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------------------
# headless


def run_headless(args) -> dict:
    """Render ``args.frames`` frames, run every mode on them, write comparison.png/.gif and timings.json."""
    import torch

    from engine_bridge.gl import create_context
    from engine_bridge.scene.loader import load_scene
    from engine_bridge.transfer.readback import ReadbackTransfer

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    w, h = args.width, args.height  # the display size (= the render size at native scale)
    gl = create_context(width=w, height=h, visible=False)
    try:
        scene = load_scene(args.scene)
        renderer, render_size, _ = make_renderer(scene, (w, h), args.scale)
        upscaling = render_size != (w, h)
        args.modes = [method_for(m, upscaling, args.scale) for m in args.modes]
        passes = {m: make_pass(m, *render_size, args, display_size=(w, h)) for m in args.modes}
        described = {m: describe_pass(p) for m, p in passes.items()}
        io = ReadbackTransfer(w, h)
        ms = {m: [] for m in args.modes}
        render_ms, frames = [], {m: [] for m in args.modes}
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is a dependency; keep the example runnable without it anyway
            def tqdm(x, **_):
                return x
        prev_t = None
        last = {}
        for i in tqdm(range(args.frames), desc="frames", unit="frame"):
            t = i / args.fps
            reset = i == 0 or scene.has_cut_between(prev_t, t)
            jitter = renderer.jitter_for_frame(i)
            t0 = time.perf_counter()
            renderer.render_gbuffer(t, prev_t, jitter)
            from OpenGL import GL

            GL.glFinish()
            render_ms.append((time.perf_counter() - t0) * 1e3)
            for m, p in passes.items():
                tex, dt = run_pass(p, renderer, jitter, reset, i)
                ms[m].append(dt)
                last[m] = io.read(tex, 3, m).copy()
                frames[m].append(to_display(last[m]))
            prev_t = t
        reference = renderer.render_reference(prev_t, spp=args.reference_spp)
        ref8 = to_display(reference)
        warm = slice(1, None) if args.frames > 2 else slice(None)  # frame 0 includes one-off warm-up work
        report = {
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
            "scene": args.scene, "size": [w, h], "frames": args.frames, "fps": args.fps,
            "scale": args.scale, "render_size": list(render_size), "display_size": [w, h],
            "jitter_phase_count": renderer.phase_count, "input_mip_bias": renderer.mip_bias,
            "machine": {"gl_backend": gl.backend, "gl_renderer": gl.renderer, "gl_version": gl.version,
                        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
            "render_gbuffer_ms_median": _median(render_ms[warm]),
            "timing_note": "median over frames 1.. (frame 0 excluded as warm-up); pass ms include glFinish",
            "passes": {},
        }
        for m, p in passes.items():
            assert frames[m][-1].shape[:2] == (h, w), (m, frames[m][-1].shape)  # every output: display size
            entry = {"label": label(m), "median_ms": _median(ms[m][warm]), "all_ms": [round(v, 3) for v in ms[m]],
                     "render_size": list(p.info.render_size or render_size),
                     "display_size": list(p.info.display_size or (w, h)),
                     "psnr_db_vs_reference_last_frame": round(psnr_db(frames[m][-1], ref8), 3), **described[m],
                     **p.timings_ms()}
            report["passes"][m] = entry
        (out_dir / "timings.json").write_text(json.dumps(report, indent=2))

        scale = max(1, math.ceil(MIN_TILE_WIDTH / w))
        tiles = [labelled(frames[m][-1], f"{label(m)} {_fmt_ms(report['passes'][m]['median_ms'])}"
                          f"{'' if described[m]['trained'] in (None, True) else ' (untrained)'}", scale)
                 for m in args.modes]
        tiles.append(labelled(ref8, f"reference {args.reference_spp} spp {w}x{h}", scale))
        side_by_side(tiles).save(out_dir / "comparison.png")
        if args.compare_upscaling:
            write_upscaling_comparison(Path(args.compare_upscaling), frames, ref8, report, args)
        gif = [side_by_side([labelled(frames[m][i], label(m), scale) for m in args.modes])
               for i in range(args.frames)]
        gif[0].save(out_dir / "comparison.gif", save_all=True, append_images=gif[1:], duration=args.gif_ms, loop=0)
        for p in passes.values():
            p.close()
        renderer.close()
        return report
    finally:
        gl.close()


def write_upscaling_comparison(path: Path, frames: dict, ref8: np.ndarray, report: dict, args) -> None:
    """The last frame of each upscaling method and the reference, at the display size, side by side, each
    labelled with its method, render -> display size and median ms, over a title line with the scale."""
    from PIL import Image, ImageDraw

    (rw, rh), (dw, dh) = report["render_size"], report["display_size"]
    scale = max(1, math.ceil(MIN_TILE_WIDTH / dw))
    tiles = [labelled(frames[m][-1], f"{label(m)} {rw}x{rh}->{dw}x{dh} {_fmt_ms(report['passes'][m]['median_ms'])}",
                      scale) for m in args.modes]
    tiles.append(labelled(ref8, f"reference {args.reference_spp} spp at {dw}x{dh}", scale))
    row = side_by_side(tiles)
    title = 16
    image = Image.new("RGB", (row.width, row.height + title), (0, 0, 0))
    image.paste(row, (0, title))
    ImageDraw.Draw(image).text((4, 2), f"{size_line(report['scale'], (rw, rh), (dw, dh))}, {args.scene}, "
                               f"frame {args.frames - 1}", fill=(255, 255, 90))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _fmt_ms(v) -> str:
    return "" if v is None else (f"{v:.1f} ms" if v < 1000 else f"{v / 1000:.2f} s")


# ---------------------------------------------------------------------------------------------------------
# window


def apply_key(state: dict, name: str) -> bool:
    """Apply one key to the app state (1-5 mode, s split, u next upscaling scale, p pause, n step, r reset);
    True = quit."""
    if name in ("esc", "escape", "q"):
        return True
    if name in KEY_MODES:
        state["mode"], state["split"] = KEY_MODES[name], False
    elif name == "u":
        i = SCALES.index(state["scale"]) if state["scale"] in SCALES else -1
        state["scale"], state["rescale"] = SCALES[(i + 1) % len(SCALES)], True
    elif name == "s":
        state["split"] = not state["split"]
    elif name == "p":
        state["paused"] = not state["paused"]
    elif name == "n":
        state["step"] = True
    elif name == "r":
        state["reset"] = True
    return False


class Presenter:
    """Shows a top-down uint8 RGBA image in the window: upload to an RGBA8 texture, blit to the back buffer."""

    def __init__(self, width: int, height: int):
        from OpenGL import GL

        from engine_bridge.gl.textures import create_texture

        self.size = (width, height)
        self.tex = create_texture(width, height, GL.GL_RGBA8)
        self.fbo = int(GL.glGenFramebuffers(1))
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.fbo)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.tex, 0)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)

    def show(self, rgba: np.ndarray, window) -> None:
        import glfw
        from OpenGL import GL

        from engine_bridge.gl.textures import upload_texture

        upload_texture(self.tex, rgba)
        fw, fh = glfw.get_framebuffer_size(window)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glBlitFramebuffer(0, 0, *self.size, 0, 0, fw, fh, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)


def run_window(args) -> None:
    import glfw

    from engine_bridge.gl import create_context
    from engine_bridge.scene.loader import load_scene
    from engine_bridge.transfer.readback import ReadbackTransfer

    w, h = args.width, args.height  # the display (window) size
    gl = create_context(backend="glfw", width=w, height=h, visible=True,
                        title="qwplugin demo: 1 noAA 2 TAA 3 QW4 4 QW32 5 TAAU S U P N R")
    scene = load_scene(args.scene)
    renderer, render_size, _ = make_renderer(scene, (w, h), args.scale)
    passes, described = {}, {}
    state = {"mode": "qwnet-fast-int4", "split": False, "paused": False, "step": False, "reset": True,
             "scale": args.scale, "rescale": False}

    def get_pass(mode):
        if mode not in passes:  # built on first use: QW-Net contexts load weights
            passes[mode] = make_pass(mode, *render_size, args, display_size=(w, h))
            described[mode] = describe_pass(passes[mode])
        return passes[mode]

    def on_key(window, key, scancode, action, mods):
        if action != glfw.PRESS:
            return
        name = "esc" if key == glfw.KEY_ESCAPE else (glfw.get_key_name(key, scancode) or "")
        if apply_key(state, name):
            glfw.set_window_should_close(window, True)

    scripted = {}
    for item in filter(None, args.keys.split(",")):
        at, key = item.split(":")
        scripted.setdefault(int(at), []).append(key.strip().lower())
    glfw.set_key_callback(gl.window, on_key)
    presenter = Presenter(w, h)
    io = ReadbackTransfer(w, h)
    frame_index, prev_t, ran_last = 0, None, set()
    shown = np.zeros((h, w, 4), np.uint8)
    presented = 0
    while not glfw.window_should_close(gl.window):
        glfw.poll_events()
        for key in scripted.pop(presented, []):
            if apply_key(state, key):
                glfw.set_window_should_close(gl.window, True)
        if state["rescale"]:  # U: a new render size; passes are rebuilt for it on first use
            state["rescale"] = False
            for p in passes.values():
                p.close()
            passes.clear()
            described.clear()
            renderer.close()
            renderer, render_size, _ = make_renderer(scene, (w, h), state["scale"])
            state["reset"], ran_last = True, set()
        if not state["paused"] or state["step"]:
            state["step"] = False
            t = (frame_index / args.fps) % scene.duration_s
            reset = state["reset"] or prev_t is None or t < prev_t or scene.has_cut_between(prev_t, t)
            jitter = renderer.jitter_for_frame(frame_index)
            t0 = time.perf_counter()
            renderer.render_gbuffer(t, None if reset else prev_t, jitter)
            render_ms = (time.perf_counter() - t0) * 1e3
            upscaling = render_size != (w, h)
            active = tuple(method_for(m, upscaling, state["scale"])
                           for m in (SPLIT if state["split"] else (state["mode"],)))
            images, times = [], []
            for mode in active:
                # a pass that did not run last frame has a stale history: reset it
                tex, dt = run_pass(get_pass(mode), renderer, jitter, reset or mode not in ran_last, frame_index)
                images.append(to_display(io.read(tex, 3, mode).copy()))
                times.append(f"{label(mode)} {dt:.1f} ms")
            ran_last = set(active)
            img = images[0] if len(images) == 1 else np.concatenate([images[0][:, : w // 2],
                                                                     images[1][:, w // 2:]], axis=1)
            if len(images) == 2:
                img[:, w // 2 - 1: w // 2 + 1] = 255
            lines = [(f"mode: {' | '.join(label(m) for m in active)}   frame {frame_index}"
                      f"{'  PAUSED' if state['paused'] else ''}"),
                     size_line(state["scale"], render_size, (w, h)),
                     *[f"{label(m)}: {described[m]['summary']}" for m in active],
                     *filter(None, (routing_line(passes[m]) for m in active)),
                     f"render {render_ms:.1f} ms | " + " | ".join(times)]
            img = draw_overlay(img, lines)
            shown = np.concatenate([img, np.full((h, w, 1), 255, np.uint8)], axis=2)
            state["reset"] = False
            prev_t = t
            frame_index += 1
        presenter.show(shown, gl.window)
        gl.swap_buffers()
        presented += 1
        if args.max_frames and presented >= args.max_frames:
            break
    if args.screenshot:
        from PIL import Image

        Image.fromarray(shown[..., :3]).save(args.screenshot)
    for p in passes.values():
        p.close()
    renderer.close()
    gl.close()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.headless:
        report = run_headless(args)
        print(f"wrote {args.out}/comparison.png, comparison.gif, timings.json"
              + (f" and {args.compare_upscaling}" if args.compare_upscaling else ""))
        print(f"  {size_line(report['scale'], report['render_size'], report['display_size'])}")
        for e in report["passes"].values():
            print(f"  {e['label']:14s} {_fmt_ms(e['median_ms']):>10s}  {e['backend']}")
        return 0
    run_window(args)
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, exit status 2/1 (see qwplugin/cli.py)

    sys.exit(run_main(main))
