"""The evaluation command on a tiny run (no GL): report files, columns, numbers that can be recomputed."""

import csv
import json

import numpy as np
import pytest

from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.eval import metrics as M
from qwplugin.eval.__main__ import main
from qwplugin.io.sequence import read_sequence

METHODS = "noaa,taa,qwnet-fp32,qwnet-int4"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    write_synthetic_dataset(root / "data", sequences=2, frames=5, width=24, height=16, spp=16, seed=2)
    seqs = f"{root / 'data' / 'seq_0000'},{root / 'data' / 'seq_0001'}"
    rc = main(["--sequences", seqs, "--methods", METHODS, "--warmup", "2", "--out", str(root / "out"),
               "--no-progress"])
    assert rc == 0
    return root


def test_report_files_and_columns(report):
    out = report / "out"
    for name in ("report.md", "table.csv", "metrics.json", "plots/synthetic_0.png", "crops/synthetic_1.png",
                 "flip/synthetic_0.png"):
        assert (out / name).is_file(), name
    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["scene", "method", "metric", "mean", "std", "n"]
    assert {r["scene"] for r in rows} == {"synthetic_0", "synthetic_1", "overall"}
    assert {r["method"] for r in rows} == set(METHODS.split(","))
    assert {r["metric"] for r in rows} == set(M.METRIC_NAMES)
    text = (out / "report.md").read_text()
    assert "| method | PSNR dB ↑ | SSIM ↑ | FLIP ↓ | HDR-FLIP ↓ | temporal error ↓ | flicker ↓ |" in text
    assert "QW-Net 4-bit beats TAA on PSNR dB" in text and "## What ran" in text


def test_numbers_match_an_independent_computation(report):
    data = json.loads((report / "out" / "metrics.json").read_text())
    seq = read_sequence(report / "data" / "seq_0000")
    scene = data["scenes"]["synthetic_0"]
    assert scene["scored_frames"] == [2, 3, 4]  # warm-up 2 after the reset at frame 0
    psnr = scene["per_frame"]["noaa"]["psnr_db"]
    assert psnr[:2] == [None, None]
    for i in (2, 3, 4):  # no-AA output is the input: PSNR of the tonemapped input vs reference
        a, b = seq.color[i] / (1 + seq.color[i]), seq.reference[i] / (1 + seq.reference[i])
        assert psnr[i] == pytest.approx(-10 * np.log10(np.mean((a.astype(np.float64) - b) ** 2)), abs=1e-4)
    summary = scene["summary"]["noaa"]["psnr_db"]
    assert summary["n"] == 3 and summary["mean"] == pytest.approx(np.mean(psnr[2:]), abs=1e-9)
    overall = data["overall"]["taa"]["flip"]["mean"]
    means = [data["scenes"][s]["summary"]["taa"]["flip"]["mean"] for s in ("synthetic_0", "synthetic_1")]
    assert overall == pytest.approx(np.mean(means))
    assert "cpu-int8" in data["methods"]["qwnet-int4"] or "int4" in data["methods"]["qwnet-int4"]
    assert data["targets"] and all(set(t) >= {"scene", "target", "met"} for t in data["targets"])


def test_bad_method_or_sequence_fails_cleanly(tmp_path, capsys):
    write_synthetic_dataset(tmp_path / "d", sequences=2, frames=3, width=16, height=16, spp=4, seed=0)
    assert main(["--sequences", str(tmp_path / "d" / "seq_0000"), "--methods", "noaa,dlss",
                 "--out", str(tmp_path / "o")]) == 2
    assert "unknown method" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["--sequences", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "sequence" in capsys.readouterr().err
    assert main(["--sequences", str(tmp_path / "d" / "seq_0000"), "--methods", "noaa", "--warmup", "3",
                 "--out", str(tmp_path / "o")]) == 2
    assert "warm-up" in capsys.readouterr().err
