"""``python -m engine_bridge.eval``: renders an external scene file and a built-in scene, reuses renders."""

import json
import shutil
from pathlib import Path

import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.eval import main

pytestmark = pytest.mark.gl


def test_external_scene_file_and_builtin(tmp_path, capsys):
    scene_file = tmp_path / "elsewhere" / "my_scene.json"  # a scene from outside the project
    scene_file.parent.mkdir()
    shutil.copy(Path("examples/scenes/minimal.json"), scene_file)
    args = ["--scenes", f"{scene_file},wires_fence", "--frames", "4", "--size", "32x24", "--spp", "4",
            "--warmup", "1", "--methods", "noaa,taa,qwnet-int4", "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    out = tmp_path / "out"
    data = json.loads((out / "metrics.json").read_text())
    assert set(data["scenes"]) == {"my_scene", "wires_fence"}
    assert data["scenes"]["my_scene"]["size"] == [32, 24] and data["scenes"]["my_scene"]["frames"] == 4
    assert (out / "crops" / "my_scene.png").is_file() and (out / "inputs" / "my_scene" / "sequence.json").is_file()
    # TAA accumulates jittered samples: on the aliased wires it beats the raw input on PSNR.
    s = data["scenes"]["wires_fence"]["summary"]
    assert s["taa"]["psnr_db"]["mean"] > s["noaa"]["psnr_db"]["mean"]
    # A rerun with the same settings reuses the renders (not re-rendered) and gives the same numbers.
    frame0 = out / "inputs" / "wires_fence" / "frame_0000.exr"
    mtime = frame0.stat().st_mtime_ns
    assert main(args[:-3] + ["--methods", "noaa", "--out", str(out), "--no-progress"]) == 0
    assert frame0.stat().st_mtime_ns == mtime
    again = json.loads((out / "metrics.json").read_text())["scenes"]["wires_fence"]["summary"]["noaa"]
    assert again == s["noaa"]


def test_bad_scene_file_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"camera": {"keys": []}, "objects": [{"mesh": {"type": "box"}, "colour": 1}]}')
    assert main(["--scenes", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["--scenes", "mixed", "--methods", "taa,fsr2", "--out", str(tmp_path / "o")]) == 2
    assert "unknown method" in capsys.readouterr().err and not (tmp_path / "o" / "inputs").exists()
