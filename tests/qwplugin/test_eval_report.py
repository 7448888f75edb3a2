"""The evaluation command on a tiny run (no GL): report files, columns, legend, intervals and verdicts,
numbers that can be recomputed."""

import csv
import json

import numpy as np
import pytest

from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.eval import metrics as M
from qwplugin.eval.__main__ import main
from qwplugin.io.sequence import read_sequence

METHODS = "noaa,taa,taa-classic,qwnet-fp32,qwnet-int4"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    write_synthetic_dataset(root / "data", sequences=2, frames=5, width=24, height=16, spp=16, seed=2)
    seqs = f"{root / 'data' / 'seq_0000'},{root / 'data' / 'seq_0001'}"
    rc = main(["--sequences", seqs, "--methods", METHODS, "--warmup", "2", "--set", "validation",
               "--out", str(root / "out"), "--no-progress"])
    assert rc == 0
    return root


def test_report_files_and_columns(report):
    out = report / "out"
    for name in ("report.md", "table.csv", "winloss.csv", "metrics.json", "plots/synthetic_0.png",
                 "crops/synthetic_1.png", "flip/synthetic_0.png"):
        assert (out / name).is_file(), name
    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["scene", "set", "method", "metric", "mean", "lo", "hi", "n"]
    assert {r["scene"] for r in rows} == {"synthetic_0", "synthetic_1", "overall"}
    assert {r["set"] for r in rows} == {"validation"}
    assert {r["method"] for r in rows} == set(METHODS.split(","))
    assert {r["metric"] for r in rows} == set(M.METRIC_NAMES)
    with open(out / "winloss.csv") as f:
        versus = list(csv.DictReader(f))
    assert {r["method"] for r in versus} == set(METHODS.split(",")) - {"taa"}
    for r in versus:  # the verdict follows from the interval's side of 0 and the metric's direction
        lo, hi, better_up = float(r["lo"]), float(r["hi"]), M.HIGHER_IS_BETTER[r["metric"]]
        expected = ("win" if better_up else "loss") if lo > 0 else ("loss" if better_up else "win") if hi < 0 else "tie"
        assert r["verdict"] == expected, r
    text = (out / "report.md").read_text()
    head = "| PSNR dB ↑ | PSNR-sRGB dB ↑ | SSIM ↑ | FLIP ↓ | HDR-FLIP ↓ | temporal error ↓ | flicker ↓ |"
    assert f"| method {head}" in text and f"| method − TAA {head}" in text
    assert "**Test scenes are reported here, never used for decisions**" in text.splitlines()[2]
    assert "| PSNR-sRGB dB | srgb | higher ↑ |" in text and "| HDR-FLIP | linear | lower ↓ |" in text
    assert "circular block bootstrap" in text and "blocks of 8" in text and "seed 0" in text
    assert "## Summary: validation set (2 scenes" in text and "wins / ties / losses" in text
    assert "## Timing: CPU ms/frame, shared 2-core dev machine (not a benchmark)" in text
    assert "ms / frame" not in text.split("## Timing")[0]  # no timing column in the quality tables
    assert "QW-Net 4-bit wins against TAA on PSNR dB" in text and "## What ran" in text


def test_numbers_match_an_independent_computation(report):
    data = json.loads((report / "out" / "metrics.json").read_text())
    seq = read_sequence(report / "data" / "seq_0000")
    scene = data["scenes"]["synthetic_0"]
    assert scene["set"] == "validation" and scene["scored_frames"] == 3
    (run,) = scene["runs"]
    assert run["scored_frames"] == [2, 3, 4]  # warm-up 2 after the reset at frame 0
    psnr, psnr_srgb = run["per_frame"]["noaa"]["psnr_db"], run["per_frame"]["noaa"]["psnr_srgb_db"]
    assert psnr[:2] == [None, None]
    for i in (2, 3, 4):  # no-AA output is the input: PSNR of the tonemapped input vs reference
        a, b = seq.color[i] / (1 + seq.color[i]), seq.reference[i] / (1 + seq.reference[i])
        assert psnr[i] == pytest.approx(-10 * np.log10(np.mean((a.astype(np.float64) - b) ** 2)), abs=1e-4)
        sa, sb = M.srgb_encode(a), M.srgb_encode(b)
        assert psnr_srgb[i] == pytest.approx(-10 * np.log10(np.mean((sa.astype(np.float64) - sb) ** 2)), abs=1e-4)
    summary = scene["summary"]["noaa"]["psnr_db"]
    assert summary["n"] == 3 and summary["mean"] == pytest.approx(np.mean(psnr[2:]), abs=1e-9)
    assert summary["lo"] <= summary["mean"] <= summary["hi"]
    overall = data["overall"]["validation"]["taa"]["flip"]
    means = [data["scenes"][s]["summary"]["taa"]["flip"]["mean"] for s in ("synthetic_0", "synthetic_1")]
    assert overall["mean"] == pytest.approx(np.mean(means)) and overall["n"] == 2
    versus = scene["versus_baseline"]["qwnet-int4"]["psnr_db"]
    q, t = run["per_frame"]["qwnet-int4"]["psnr_db"][2:], run["per_frame"]["taa"]["psnr_db"][2:]
    assert versus["mean"] == pytest.approx(np.mean(np.subtract(q, t)), abs=1e-9)
    counts = data["counts"]["validation"]["qwnet-int4"]["psnr_db"]
    verdicts = [data["scenes"][s]["versus_baseline"]["qwnet-int4"]["psnr_db"]["verdict"]
                for s in ("synthetic_0", "synthetic_1")]
    assert counts == {v: verdicts.count(v) for v in ("win", "tie", "loss")}
    assert data["metric_domains"]["psnr_srgb_db"] == "srgb" and data["bootstrap"]["block_frames"] == 8
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
