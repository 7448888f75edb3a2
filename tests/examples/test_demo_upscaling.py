"""The demo in upscaling mode: the headless comparison at the display size, the render size / jitter length /
mip bias it rendered with, the U key cycling the scales, and the window at a scale under Xvfb."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DW, DH, FRAMES = 64, 48, 3


def _demo():
    spec = importlib.util.spec_from_file_location("demo_under_test", ROOT / "examples" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_u_key_cycles_the_scales_and_modes_map_to_upscaling_methods():
    demo = _demo()
    state = {"mode": "taa", "split": False, "paused": False, "step": False, "reset": False, "scale": "native",
             "rescale": False}
    seen = []
    for _ in range(len(demo.SCALES)):
        demo.apply_key(state, "u")
        assert state["rescale"]
        state["rescale"] = False
        seen.append(state["scale"])
    assert seen == ["quality", "balanced", "performance", "ultra_performance", "native"]
    demo.apply_key(state, "5")
    assert state["mode"] == "taau"
    assert [demo.method_for(m, True) for m in ("noaa", "taa", "qwnet-fast-int4", "qwnet-int4", "taau")] == \
        ["noaa+bilinear", "taa+lanczos", "qwnet-fast-int4+lanczos", "qwnet-int4+lanczos", "taau"]
    assert demo.method_for("taa", False) == "taa"
    # at 2x the shipped network's mode runs the upscaling QW-Net; at other scales QW-Net then Lanczos-3
    assert demo.method_for("qwnet-fast-int4", True, "performance") == "qwnet-fast-up2-int4"
    assert demo.method_for("qwnet-fast-fp32", True, 2.0) == "qwnet-fast-up2-fp32"
    assert demo.method_for("qwnet-fast-int4", True, "quality") == "qwnet-fast-int4+lanczos"
    assert demo.method_for("qwnet-int4", True, "performance") == "qwnet-int4+lanczos"  # no 2x paper network
    render, display, bias, phases = demo.scale_setup((1920, 1080), "performance")
    assert render == (960, 540) and display == (1920, 1080)
    assert bias == math.log2(960 / 1920) - 1 and phases == 32  # FSR 2: log2(render/display) - 1, 8 * 2^2
    assert demo.scale_setup((96, 64), "native") == ((96, 64), (96, 64), -1.0, 16)


@pytest.mark.gl
@pytest.mark.slow
def test_headless_upscaling_comparison_is_display_size(tmp_path):
    from PIL import Image

    import qwplugin

    png_path = tmp_path / "up.png"
    cmd = [sys.executable, str(ROOT / "examples" / "demo.py"), "--headless", "--size", f"{DW}x{DH}",
           "--frames", str(FRAMES), "--reference-spp", "4", "--compare-upscaling", str(png_path),
           "--out", str(tmp_path / "demo")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "demo" / "timings.json").read_text())
    render = qwplugin.render_size_for((DW, DH), "performance")
    assert report["scale"] == "performance" and report["render_size"] == list(render)
    assert report["display_size"] == [DW, DH] and report["size"] == [DW, DH]
    assert report["jitter_phase_count"] == 32 and report["input_mip_bias"] == -2.0
    assert list(report["passes"]) == ["noaa+bilinear", "taa+lanczos", "taau", "qwnet-fast-up2-int4"]
    for name, entry in report["passes"].items():
        assert entry["render_size"] == list(render) and entry["display_size"] == [DW, DH], name
        assert len(entry["all_ms"]) == FRAMES and entry["psnr_db_vs_reference_last_frame"] > 0
    png = Image.open(png_path)
    scale = -(-240 // DW)  # tiles enlarged (nearest, integer) to >= 240 px wide, as comparison.png
    assert png.size == (5 * DW * scale + 4 * 4, DH * scale + 16 + 16)  # 4 methods + reference, labels, title
    assert Image.open(tmp_path / "demo" / "comparison.png").size == png.size[:1] + (DH * scale + 16,)


@pytest.mark.gl
@pytest.mark.slow
def test_window_starts_upscaled_and_cycles_with_u_under_xvfb(tmp_path):
    import shutil

    import numpy as np
    from PIL import Image

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run not installed")
    shot = tmp_path / "shot.png"
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 320x240x24", sys.executable, str(ROOT / "examples" / "demo.py"),
           "--size", "96x64", "--scale", "quality", "--max-frames", "4", "--keys", "1:2,2:u,3:5",
           "--model", "qwnet-tiny", "--backend", "cpu", "--screenshot", str(shot)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYOPENGL_PLATFORM", "QW_GL_BACKEND", "DISPLAY")}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    img = np.asarray(Image.open(shot))
    assert img.shape == (64, 96, 3)  # the display size, whatever the render size


def test_modes_accept_specs_with_options():
    """``--modes`` takes registry names and specs with options (``qwnet-routed:k=1``)."""
    args = _demo().parse_args(["--headless", "--modes", "taa, qwnet-routed:k=1,noaa"])
    assert args.modes == ["taa", "qwnet-routed:k=1", "noaa"]


@pytest.mark.parametrize("modes, message", [("taa,no-such-mode", "unknown modes ['no-such-mode']"),
                                            ("taa:k=1", "takes no options"),
                                            ("qwnet-routed:nokey=1", "bad method option")])
def test_bad_modes_are_usage_errors(modes, message, capsys):
    """Unknown names and options are usage errors (argparse's exit status 2), before any GL work."""
    with pytest.raises(SystemExit) as info:
        _demo().parse_args(["--headless", "--modes", modes])
    assert info.value.code == 2 and message in capsys.readouterr().err
