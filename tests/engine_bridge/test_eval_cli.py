"""``python -m engine_bridge.eval``: scene sets and files, a window across a camera cut, start phases,
render reuse, clean failures. Tiny renders (32x24, 4 spp, short windows with --allow-short)."""

import json
import shutil
from pathlib import Path

import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.eval import main
from qwplugin.ops.halton import jitter_offset_px

pytestmark = pytest.mark.gl

TINY = ["--size", "32x24", "--spp", "4", "--allow-short", "--no-progress"]


def test_external_scene_file_and_builtin(tmp_path, capsys):
    scene_file = tmp_path / "elsewhere" / "my_scene.json"  # a scene from outside the project
    scene_file.parent.mkdir()
    shutil.copy(Path("examples/scenes/minimal.json"), scene_file)
    out = tmp_path / "out"
    args = ["--scenes", f"{scene_file},wires_fence", "--duration-s", "0.2", "--warmup", "1",
            "--methods", "noaa,taa-classic,qwnet-int4", "--out", str(out)] + TINY
    assert main(args) == 0, capsys.readouterr().err
    data = json.loads((out / "metrics.json").read_text())
    assert set(data["scenes"]) == {"my_scene", "wires_fence"}
    mine = data["scenes"]["my_scene"]
    assert mine["size"] == [32, 24] and mine["frames"] == 6 and mine["set"] == "other"
    assert data["scenes"]["wires_fence"]["set"] == "training"
    assert (out / "crops" / "my_scene.png").is_file()
    assert (out / "inputs" / "my_scene" / "phase_00" / "sequence.json").is_file()
    # TAA accumulates jittered samples: on the aliased wires it beats the raw input on PSNR.
    s = data["scenes"]["wires_fence"]["summary"]
    assert s["taa-classic"]["psnr_db"]["mean"] > s["noaa"]["psnr_db"]["mean"]
    text = (out / "report.md").read_text()
    assert "| my_scene | other | 0.00-0.20 s of 2.00 s, 6 frames at 30 fps | phase 0 | 6 | 5 |" in text
    # A rerun with the same settings reuses the renders (not re-rendered) and gives the same numbers.
    frame0 = out / "inputs" / "wires_fence" / "phase_00" / "frame_0000.exr"
    mtime = frame0.stat().st_mtime_ns
    assert main(args[:args.index("--methods")] + ["--methods", "noaa", "--out", str(out)] + TINY) == 0
    assert frame0.stat().st_mtime_ns == mtime
    again = json.loads((out / "metrics.json").read_text())["scenes"]["wires_fence"]["summary"]["noaa"]
    assert again == s["noaa"]


def test_window_across_a_camera_cut_is_scored_after_the_warm_up(tmp_path, capsys):
    out = tmp_path / "out"
    # mixed cuts at 3.0 s: frames at 2.8 + i / 30, so frame 6 is the first of the second shot.
    assert main(["--scenes", "mixed", "--start-s", "2.8", "--duration-s", "0.5", "--warmup", "2",
                 "--methods", "noaa,taa-classic", "--out", str(out)] + TINY) == 0, capsys.readouterr().err
    data = json.loads((out / "metrics.json").read_text())
    scene = data["scenes"]["mixed"]
    (run,) = scene["runs"]
    assert scene["set"] == "validation" and scene["frames"] == 15
    assert run["resets"] == [0, 6]
    assert run["scored_frames"] == [2, 3, 4, 5] + list(range(8, 15))
    temporal = run["per_frame"]["taa-classic"]["temporal"]
    assert temporal[6] is None and temporal[7] is None and all(v is not None for v in temporal[8:])
    assert "2.80-3.30 s of 5.00 s" in (out / "report.md").read_text()


def test_phases_render_each_scene_from_several_start_phases(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--scenes", "wires_fence", "--duration-s", "0.2", "--phases", "2", "--warmup", "1",
                 "--methods", "noaa", "--out", str(out)] + TINY) == 0, capsys.readouterr().err
    scene = json.loads((out / "metrics.json").read_text())["scenes"]["wires_fence"]
    assert [r["label"] for r in scene["runs"]] == ["phase 0", "phase 8"]
    assert scene["frames"] == 12 and scene["summary"]["noaa"]["psnr_db"]["n"] == 10  # all runs pooled
    for phase in (0, 8):
        meta = json.loads((out / "inputs" / "wires_fence" / f"phase_{phase:02d}" / "sequence.json").read_text())
        assert meta["frames"][0]["jitter_px"] == pytest.approx(jitter_offset_px(phase))
        assert meta["frames"][1]["jitter_px"] == pytest.approx(jitter_offset_px(phase + 1))


def test_bad_scene_file_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"camera": {"keys": []}, "objects": [{"mesh": {"type": "box"}, "colour": 1}]}')
    assert main(["--scenes", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["--scenes", "mixed", "--methods", "taa,fsr2", "--out", str(tmp_path / "o")]) == 2
    assert "unknown method" in capsys.readouterr().err and not (tmp_path / "o" / "inputs").exists()
    assert main(["--scenes", "set:nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown scene set" in capsys.readouterr().err
