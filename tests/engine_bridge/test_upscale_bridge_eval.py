"""``python -m engine_bridge.eval --scale``: a tiny smoke evaluation (one scene, 6 frames, 32x24 display):
inputs rendered at the render size with FSR 2's jitter length and mip bias, references at the display size,
upscalers scored at the display size; non-upscaling methods refused before any rendering."""

import json
import math

import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.eval import main

pytestmark = pytest.mark.gl

TINY = ["--scenes", "mixed", "--duration-s", "0.2", "--allow-short", "--spp", "4", "--warmup", "2",
        "--no-progress"]


def test_tiny_upscaling_evaluation(tmp_path, capsys):
    out = tmp_path / "eval"
    args = TINY + ["--size", "32x24", "--scale", "performance", "--methods", "noaa+bilinear,taa+lanczos,taau",
                   "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    seq = json.loads((out / "inputs" / "mixed" / "phase_00" / "sequence.json").read_text())
    assert (seq["width"], seq["height"], seq["display_width"], seq["display_height"]) == (16, 12, 32, 24)
    assert seq["jitter_phase_count"] == 32 and seq["input_mip_bias"] == math.log2(16 / 32) - 1
    data = json.loads((out / "metrics.json").read_text())
    scene = data["scenes"]["mixed"]
    assert scene["size"] == [32, 24] and scene["frames"] == 6 and scene["scored_frames"] == 4
    assert data["baseline"] == "taau" and list(data["methods"]) == ["noaa+bilinear", "taa+lanczos", "taau"]
    assert "render 16x12 -> display 32x24" in data["methods"]["taau"]
    s = scene["summary"]
    for m in list(data["methods"]):
        assert 10 < s[m]["psnr_db"]["mean"] < 60, m
    # temporal accumulation beats upscaling the raw aliased input
    assert s["taau"]["psnr_db"]["mean"] > s["noaa+bilinear"]["psnr_db"]["mean"]
    assert (out / "crops" / "mixed.png").is_file()
    # the same folder again: the renders match the settings and are reused
    mtime = (out / "inputs" / "mixed" / "phase_00" / "sequence.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "inputs" / "mixed" / "phase_00" / "sequence.json").stat().st_mtime_ns == mtime


def test_non_upscalers_are_refused_before_rendering(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(TINY + ["--size", "32x24", "--scale", "2", "--methods", "taa,qwnet-int4", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--methods" in err and "taa, qwnet-int4" in err and "taau" in err
    assert not (out / "inputs").exists()
