"""The window rule and the start phases of ``python -m engine_bridge.eval`` (no rendering, no GL)."""

import pytest

from engine_bridge.eval import MIN_WINDOW_S, main, scene_window, start_phases
from qwplugin.errors import InvalidArgument


def test_whole_scene_by_default():
    w = scene_window("mixed", 5.0, 30.0)
    assert (w.start_s, w.frames, w.whole) == (0.0, 150, True)  # duration_s at the sequence fps
    assert w.describe() == "whole scene 0.00-5.00 s, 150 frames at 30 fps"
    w = scene_window("mixed", 5.0, 30.0, start_s=2.0)  # from 2 s to the end
    assert (w.start_s, w.frames, w.whole) == (2.0, 90, False)
    assert w.describe() == "2.00-5.00 s of 5.00 s, 90 frames at 30 fps"
    # 0.1 + 0.2 style float sums: a window ending exactly at the scene's end is accepted.
    assert scene_window("s", 0.3, 30.0, start_s=0.1, duration_s=0.2, allow_short=True).frames == 6


def test_refuses_a_window_longer_than_the_scene():
    with pytest.raises(InvalidArgument, match="--duration-s.*longer than scene 'mixed'") as exc:
        scene_window("mixed", 5.0, 30.0, start_s=1.0, duration_s=4.5)
    assert exc.value.field == "--duration-s"
    with pytest.raises(InvalidArgument, match="after the end of scene") as exc:
        scene_window("mixed", 5.0, 30.0, start_s=5.0)
    assert exc.value.field == "--start-s"
    with pytest.raises(InvalidArgument) as exc:
        scene_window("mixed", 5.0, 30.0, start_s=-1.0)
    assert exc.value.field == "--start-s"


def test_short_windows_need_allow_short():
    with pytest.raises(InvalidArgument, match="shorter than 3 s.*--allow-short") as exc:
        scene_window("mixed", 5.0, 30.0, duration_s=0.4)
    assert exc.value.field == "--duration-s"
    assert scene_window("mixed", 5.0, 30.0, duration_s=0.4, allow_short=True).frames == 12
    assert scene_window("mixed", 5.0, 30.0, duration_s=MIN_WINDOW_S).frames == 90
    with pytest.raises(InvalidArgument, match="whole scene"):  # a scene shorter than 3 s, scored whole
        scene_window("minimal", 2.0, 30.0)
    with pytest.raises(InvalidArgument, match="no frame"):
        scene_window("mixed", 5.0, 30.0, duration_s=0.01, allow_short=True)


def test_start_phases_spread_over_the_cycle():
    assert start_phases(1) == [0]
    assert start_phases(2) == [0, 8]
    assert start_phases(16) == list(range(16))
    for n in (0, 17):
        with pytest.raises(InvalidArgument) as exc:
            start_phases(n)
        assert exc.value.field == "--phases"


def test_command_refuses_before_rendering(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["--scenes", "mixed", "--start-s", "3", "--duration-s", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--duration-s" in err and "'mixed'" in err and not out.exists()
    assert main(["--scenes", "set:validation", "--duration-s", "1", "--out", str(out)]) == 2
    assert "--allow-short" in capsys.readouterr().err and not out.exists()
    assert main(["--scenes", "mixed", "--phases", "20", "--out", str(out)]) == 2
    assert "--phases" in capsys.readouterr().err and not out.exists()
    assert main(["--scenes", "mixed", "--duration-s", "0.1", "--allow-short", "--out", str(out)]) == 2
    assert "--warmup" in capsys.readouterr().err and not out.exists()  # 3 frames, warm-up 4: nothing scored
