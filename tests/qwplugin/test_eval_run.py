"""The runner (no GL): the warm-up rule around camera cuts, resets reaching the methods, runs pooled per
scene, TAA configurations from JSON files."""

import json

import numpy as np
import pytest

from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.eval import SceneInput, evaluate
from qwplugin.io.sequence import read_sequence
from qwplugin.taa import TAAConfig


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    write_synthetic_dataset(root, sequences=2, frames=12, width=24, height=16, spp=4, seed=4)
    return root


def _with_cut(folder, at):
    seq = read_sequence(folder)
    seq.reset = seq.reset.copy()
    seq.reset[at] = True  # a camera cut: the methods must drop their history here
    return seq


def test_frames_after_a_cut_are_scored_once_the_warm_up_has_passed(data):
    seq = _with_cut(data / "seq_0000", 6)
    result = evaluate([SceneInput("cut", [("phase 0", seq)])], ["noaa", "taa-classic"], warmup=2, with_flip=False,
                      progress=False)
    run = result.scenes[0].runs[0]
    assert np.flatnonzero(run.reset).tolist() == [0, 6]
    assert np.flatnonzero(run.scored).tolist() == [2, 3, 4, 5, 8, 9, 10, 11]
    for m in ("noaa", "taa-classic"):
        psnr, temporal = run.per_frame[m]["psnr_db"], run.per_frame[m]["temporal"]
        assert np.flatnonzero(np.isfinite(psnr)).tolist() == [2, 3, 4, 5, 8, 9, 10, 11]
        # Temporal metrics of frame 8 compare it with frame 7: both after the cut, so it is defined.
        assert np.flatnonzero(np.isfinite(temporal)).tolist() == [2, 3, 4, 5, 8, 9, 10, 11]
    summary = result.scenes[0].summary("taa-classic")["psnr_db"]
    assert summary.n == 8 and summary.mean == pytest.approx(np.nanmean(run.per_frame["taa-classic"]["psnr_db"]))


def test_the_methods_receive_the_reset_at_a_cut(data):
    seq = _with_cut(data / "seq_0000", 6)
    result = evaluate([SceneInput("cut", [("phase 0", seq)])], ["noaa", "taa-classic"], warmup=0, with_flip=False,
                      progress=False)
    run = result.scenes[0].runs[0]
    noaa, taa = run.per_frame["noaa"]["psnr_db"], run.per_frame["taa-classic"]["psnr_db"]
    # The classic TAA's output on a reset frame is the current sample itself: no-AA's score exactly.
    assert taa[0] == noaa[0] and taa[6] == noaa[6]
    assert abs(taa[5] - noaa[5]) > 0.1 and abs(taa[11] - noaa[11]) > 0.1  # history in use elsewhere
    # Temporal metrics never span a reset, even with no warm-up.
    assert np.flatnonzero(~np.isfinite(run.per_frame["taa-classic"]["temporal"])).tolist() == [0, 6]


def test_a_scene_pools_the_frames_of_all_its_runs(data):
    runs = [("phase 0", data / "seq_0000"), ("phase 8", data / "seq_0001")]  # folders: read one at a time
    result = evaluate([SceneInput("pooled", runs, "validation", "0.00-0.40 s")], ["noaa"], warmup=3,
                      with_flip=False, progress=False)
    scene = result.scenes[0]
    assert [r.label for r in scene.runs] == ["phase 0", "phase 8"] and scene.frames == 24
    assert scene.scored_frames == 18 and scene.split == "validation"
    pooled = np.concatenate([r.per_frame["noaa"]["ssim"] for r in scene.runs])
    s = scene.summary("noaa")["ssim"]
    assert s.n == 18 and s.mean == pytest.approx(np.nanmean(pooled), abs=1e-12)
    assert s.lo <= s.mean <= s.hi
    # The pictures come from the last frame of the first run.
    np.testing.assert_array_equal(scene.reference, read_sequence(data / "seq_0000").reference[-1])


def test_taa_configuration_from_a_json_file(data, tmp_path):
    cfg = tmp_path / "classic.json"
    cfg.write_text(json.dumps(TAAConfig.classic().to_dict()))
    seq = read_sequence(data / "seq_0000")
    result = evaluate([SceneInput("s", [("phase 0", seq)])], ["taa-classic", f"sweep7={cfg}"], warmup=2,
                      with_flip=False, progress=False)
    run = result.scenes[0].runs[0]
    np.testing.assert_array_equal(run.per_frame["sweep7"]["psnr_db"], run.per_frame["taa-classic"]["psnr_db"])
    assert str(cfg) in result.descriptions["sweep7"] and result.baseline is None  # `taa` did not run
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"alpha": 0.1, "colour": 3}))
    with pytest.raises(InvalidArgument, match="bad.json"):
        evaluate([SceneInput("s", [("phase 0", seq)])], [f"taa={bad}"], progress=False)
    with pytest.raises(InvalidArgument, match="not found"):
        evaluate([SceneInput("s", [("phase 0", seq)])], [f"taa={tmp_path / 'missing.json'}"], progress=False)


def test_refuses_runs_of_different_sizes_and_duplicate_scenes(data, tmp_path):
    write_synthetic_dataset(tmp_path, sequences=2, frames=4, width=20, height=16, spp=4, seed=0)
    with pytest.raises(InvalidArgument, match="differ in size"):
        evaluate([SceneInput("s", [("a", data / "seq_0000"), ("b", tmp_path / "seq_0000")])], ["noaa"],
                 warmup=1, with_flip=False, progress=False)
    seq = read_sequence(data / "seq_0000")
    with pytest.raises(InvalidArgument, match="listed twice"):
        evaluate([SceneInput("s", [("a", seq)]), SceneInput("s", [("a", seq)])], ["noaa"], progress=False)
