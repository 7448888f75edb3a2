"""The pyglet and raw PyOpenGL + GLFW example hosts run headless, and the Bridge inside them equals a direct
``Context`` call on the same arrays, bit for bit.

Each host runs in a subprocess (PyOpenGL's platform is fixed per process at its first import; pyglet's
headless mode too) with ``--headless --dump``: it writes its own read-back of its colour and motion
textures per frame, the Bridge's returned outputs, its read-back of the output texture and the PNG of
what its window shows. The test then feeds a fresh ``Context`` with the same description the same arrays
(motion scaled by the host's ``motion_vector_scale`` exactly as the Bridge does, in float32) and checks:

* the Context's outputs equal the Bridge's bit for bit (the textures reached the Context unchanged, rows
  flipped once);
* the host's output texture (RGBA16F) holds exactly those outputs rounded to half floats, alpha 1 (the
  upload is exact and flipped once back);
* the PNG is the host's present pass (tonemap ``x / (1 + x)``, sRGB) of the last output texture;
* the host follows the motion contract: a ``Context(debug_checks=True)`` fed its frames raises no
  ``DebugCheckWarning``, and raises ``motion_y_flipped`` when the test flips y on purpose.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
W, H, FRAMES = 128, 96, 5
MODEL, PRECISION = "qwnet", "int4"  # the shipped weights on the exact integer backend, as a user runs it

# probes run in a fresh process: can this machine give the host its headless context at all?
PROBES = {
    "host_pyglet": "import pyglet\npyglet.options['headless'] = True\nimport pyglet.window\n"
                   "w = pyglet.window.Window(8, 8, visible=False)\nw.close()\n",
    "host_glfw": "import glfw\nglfw.init_hint(glfw.PLATFORM, glfw.PLATFORM_NULL)\n"
                 "assert glfw.init(), glfw.get_error()\n"
                 "glfw.window_hint(glfw.CONTEXT_CREATION_API, glfw.OSMESA_CONTEXT_API)\n"
                 "glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 4)\n"
                 "glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 1)\n"
                 "glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)\n"
                 "glfw.window_hint(glfw.VISIBLE, glfw.FALSE)\n"
                 "assert glfw.create_window(8, 8, 'probe', None, None), glfw.get_error()\nglfw.terminate()\n",
}


def _env(**extra) -> dict:
    """The environment without this process's GL platform choice; one torch thread (the comparison runs
    with one thread too, so both sides sum in the same order)."""
    drop = ("PYOPENGL_PLATFORM", "QW_GL_BACKEND", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def _headless_or_skip(host: str) -> None:
    if host == "host_pyglet":
        pytest.importorskip("pyglet", reason="pyglet not installed (pip install -e '.[dev]')")
    probe = subprocess.run([sys.executable, "-c", PROBES[host]], capture_output=True, text=True, timeout=120,
                           env=_env())
    if probe.returncode != 0:
        what = "pyglet's headless EGL context" if host == "host_pyglet" else "GLFW's null platform + OSMesa"
        pytest.skip(f"{what} is not available here: {probe.stderr.strip().splitlines()[-1:]}")


def _run_host(host: str, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "examples" / f"{host}.py"), "--headless", "--size", f"{W}x{H}",
           "--frames", str(FRAMES), "--model", MODEL, "--precision", PRECISION, "--backend", "cpu",
           "--out", str(out), "--dump"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=_env())
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def _present(rgb: np.ndarray) -> np.ndarray:
    """The hosts' present pass in numpy: tonemap, sRGB encode, 8 bits."""
    x = np.clip(rgb, 0, None)
    x = x / (1 + x)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.clip(s * 255 + 0.5, 0, 255).astype(np.uint8)


def _frames(d, motion_scale):
    from qwplugin.runtime import Frame

    for i in range(len(d["color"])):
        motion = d["motion"][i].copy()
        motion[..., 0] *= float(motion_scale[0])  # the Bridge's own float32 in-place scaling
        motion[..., 1] *= float(motion_scale[1])
        yield Frame(color=d["color"][i], motion_px=motion, jitter_px=tuple(float(v) for v in d["jitter"][i]),
                    reset=bool(d["reset"][i]), frame_time_ms=1000.0 / 30)


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("host, motion_scale", [("host_glfw", (1.0, 1.0)), ("host_pyglet", (W / 2, -H / 2))])
def test_host_runs_headless_and_matches_a_direct_context(tmp_path, host, motion_scale):
    import torch
    from PIL import Image

    from qwplugin import DebugCheckWarning
    from qwplugin.ops.halton import jitter_offset_px
    from qwplugin.runtime import Context, ContextDesc

    _headless_or_skip(host)
    run = _run_host(host, tmp_path)
    assert "transfer: readback" in run.stdout and "plugin: qwnet 'qwnet' on cpu, int4" in run.stdout
    d = np.load(tmp_path / "frames.npz")
    n = len(d["color"])
    assert n == FRAMES and d["color"].shape == (FRAMES, H, W, 3) and d["motion"].shape == (FRAMES, H, W, 2)
    np.testing.assert_array_equal(d["motion_vector_scale"], np.float32(motion_scale))
    np.testing.assert_array_equal(d["jitter"], [jitter_offset_px(i) for i in range(FRAMES)])  # Halton helper
    assert d["reset"].tolist() == [True] + [False] * (FRAMES - 1)
    # the host drew a scene of its own that moves (otherwise the comparison below would prove little)
    assert d["color"][-1].std() > 0.05 and d["color"].max() > 1.0  # textured, HDR
    moving = np.abs(d["motion"][1:] * np.float32(motion_scale)).max(-1) > 0.25
    assert moving.mean() > 0.02

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ctx = Context(ContextDesc(render_size=(W, H), model=MODEL, precision=PRECISION, backend="cpu"))
        expected = np.stack([ctx.dispatch(f) for f in _frames(d, motion_scale)])
        ctx.close()
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(d["bridge_output"], expected)                       # bit-exact
    half = expected.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(d["output_texture"][..., :3], half)                # GL rounds like numpy
    assert (d["output_texture"][..., 3] == 1.0).all()

    shot = np.asarray(Image.open(tmp_path / f"{host}.png"))
    assert shot.shape == (H, W, 3)
    diff = np.abs(shot.astype(int) - _present(d["output_texture"][-1, ..., :3]).astype(int))
    assert diff.max() <= 1  # the present pass's pow() on llvmpipe vs numpy: at most one 8-bit step

    # the host's motion follows the contract (and the checker would have noticed if it did not)
    for flip, checks in (((1.0, 1.0), set()), ((1.0, -1.0), {"motion_y_flipped"})):
        ctx = Context(ContextDesc(render_size=(W, H), model="qwnet-tiny", backend="cpu", debug_checks=True))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for f in _frames(d, (motion_scale[0] * flip[0], motion_scale[1] * flip[1])):
                ctx.dispatch(f)
        ctx.close()
        assert {w.message.check for w in caught if issubclass(w.category, DebugCheckWarning)} == checks


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("host", ["host_glfw", "host_pyglet"])
def test_host_window_mode_under_xvfb(tmp_path, host):
    """The windowed path (X11 window, GLX, double buffering, swap/flip) presents the Bridge's output too."""
    import shutil

    from PIL import Image

    if host == "host_pyglet":
        pytest.importorskip("pyglet", reason="pyglet not installed (pip install -e '.[dev]')")
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run not installed")
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 320x240x24", sys.executable,
           str(ROOT / "examples" / f"{host}.py"), "--size", "96x64", "--frames", "3", "--model", "qwnet-tiny",
           "--precision", "fp32", "--backend", "cpu", "--out", str(tmp_path), "--dump"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())
    assert run.returncode == 0, run.stderr[-3000:]
    d = np.load(tmp_path / "frames.npz")
    shot = np.asarray(Image.open(tmp_path / f"{host}.png"))
    assert shot.shape == (64, 96, 3)
    diff = np.abs(shot.astype(int) - _present(d["output_texture"][-1, ..., :3]).astype(int))
    assert diff.max() <= 1 and shot.std() > 5
