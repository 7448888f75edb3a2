"""scripts/device/train.sh on a CPU with a tiny budget: render (llvmpipe EGL), probe, fitted training, export."""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "device" / "train.sh"
TOTAL_S = 150


def test_unknown_option_is_refused():
    proc = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "unknown option --bogus" in proc.stderr


@pytest.mark.slow
@pytest.mark.gl
def test_tiny_cpu_run_fits_its_budget_and_returns_loadable_weights_and_curves(tmp_path):
    from engine_bridge.gl.platform import egl_headless_available

    ok, why = egl_headless_available()
    if not ok:
        pytest.skip(f"no headless GL to render the dataset: {why}")
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), "--tiny", "--total-s", str(TOTAL_S), "--work", str(tmp_path / "work")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=TOTAL_S + 240)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert elapsed < TOTAL_S + 30, elapsed  # the budget is the whole script's (a loaded machine adds a little)
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8, files  # what comes back from the device machine
    assert {"manifest.json", "training_curves.png", "eval.csv", "train.csv", "config.json", "log.txt"} <= set(files)
    weights = [f for f in files if f.endswith(".safetensors")]
    assert "qwnet-fp32.safetensors" in weights

    from qwplugin.runtime.weights import load_weights_file

    for name in weights:
        loaded = load_weights_file(out / name, require_manifest=True)
        assert loaded.trained and loaded.config.levels == 3  # the tiny preset
        assert loaded.metadata["metrics"]["val_psnr_db"] > 0
        assert loaded.metadata["training"]["weights"].startswith("EMA")
    fitted = json.loads((out / "config.json").read_text())
    assert sum(s["steps"] for s in fitted["stages"]) > 6  # more than the probe: the budget was used
    with (out / "train.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 8
    with (out / "eval.csv").open() as f:
        evals = list(csv.DictReader(f))
    assert evals and all(float(r["wall_hours"]) > 0 for r in evals)
    log = (out / "log.txt").read_text()
    assert "device cpu" in log and "rendering 3 sequences" in log and "done:" in log
