"""The example app's headless mode writes its comparison image, GIF and honest timings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
W, H, FRAMES = 64, 48, 3


@pytest.mark.gl
@pytest.mark.slow
def test_headless_run_writes_png_gif_and_timings(tmp_path):
    from PIL import Image

    out = tmp_path / "demo"
    cmd = [sys.executable, str(ROOT / "examples" / "demo.py"), "--headless", "--size", f"{W}x{H}",
           "--frames", str(FRAMES), "--model", "qwnet-tiny", "--backend", "cpu", "--reference-spp", "4",
           "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]

    report = json.loads((out / "timings.json").read_text())
    assert report["size"] == [W, H] and report["frames"] == FRAMES
    assert list(report["passes"]) == ["noaa", "taa", "qwnet-fast-int4", "qwnet-fast-fp32"]
    for mode, entry in report["passes"].items():
        assert len(entry["all_ms"]) == FRAMES and entry["median_ms"] > 0
        assert 0 < entry["psnr_db_vs_reference_last_frame"]
    # honesty: what the JSON says runs is what a Context with the same description reports
    from qwplugin.runtime import Context, ContextDesc

    for mode, precision in (("qwnet-fast-int4", "int4"), ("qwnet-fast-fp32", "fp32")):
        ctx = Context(ContextDesc(render_size=(W, H), model="qwnet-tiny", precision=precision, backend="cpu"))
        entry = report["passes"][mode]
        assert entry["backend"] == str(ctx.backend_info) and entry["trained"] == ctx.backend_info.trained
        assert entry["transfer"] == "readback" and entry["transfer_reason"].startswith("read-back: ")
        ctx.close()
    assert report["passes"]["taa"]["backend"].startswith("GLSL on ")
    assert report["machine"]["gl_renderer"]

    png = Image.open(out / "comparison.png")
    scale = -(-240 // W)  # tiles upscaled to >= 240 px wide
    assert png.size == (5 * W * scale + 4 * 4, H * scale + 16)  # 4 methods + reference, 4 px gaps, label bar
    gif = Image.open(out / "comparison.gif")
    assert gif.n_frames == FRAMES and gif.size == (4 * W * scale + 3 * 4, H * scale + 16)


@pytest.mark.gl
@pytest.mark.slow
def test_window_mode_under_xvfb_with_scripted_keys(tmp_path):
    """The windowed app (GLFW/GLX under Xvfb): scripted keys 2 (TAA) then s (split), a screenshot with the
    overlay (its text is drawn in yellow (255, 255, 90), antialiased, on a black box)."""
    import shutil

    import numpy as np
    from PIL import Image

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run not installed")
    shot = tmp_path / "shot.png"
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 320x240x24", sys.executable, str(ROOT / "examples" / "demo.py"),
           "--size", "96x64", "--max-frames", "4", "--keys", "1:2,2:s", "--model", "qwnet-tiny", "--backend", "cpu",
           "--screenshot", str(shot)]
    # the GL platform is chosen per process: drop what this (headless) pytest process chose
    env = {k: v for k, v in os.environ.items() if k not in ("PYOPENGL_PLATFORM", "QW_GL_BACKEND", "DISPLAY")}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    img = np.asarray(Image.open(shot))
    assert img.shape == (64, 96, 3)
    yellowish = (img[..., 0] > 150) & (img[..., 1] > 150) & (img[..., 2] < 120)
    assert yellowish.sum() > 20
