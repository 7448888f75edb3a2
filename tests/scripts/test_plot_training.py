"""scripts/plot_training.py: reads eval.csv curves of several runs and writes a PNG."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from qwplugin.train.csvlog import CsvLog
from qwplugin.train.loop import EVAL_COLUMNS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "plot_training.py"


def _module():
    spec = importlib.util.spec_from_file_location("plot_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["plot_training"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, psnrs, flip=True):
    log = CsvLog(folder / "eval.csv", EVAL_COLUMNS)  # the loop's own writer and columns
    for i, p in enumerate(psnrs):
        log.append({"step": 100 * (i + 1), "stage": "fp32" if i < 2 else "int4", "weights": "ema",
                    "val_psnr_db": p, "val_temporal": 0.01 / (i + 1), "val_flip": 0.1 - 0.01 * i if flip else "",
                    "noaa_psnr_db": 24.5, "wall_hours": 0.5 * (i + 1), "train_seconds": 1000.0 * (i + 1)})


def test_load_and_plot(tmp_path):
    m = _module()
    _run(tmp_path / "a", [25.0, 27.5, 28.0])
    _run(tmp_path / "b", [24.0, 26.0], flip=False)
    a = m.load_curves(tmp_path / "a")
    assert a.step == [100, 200, 300] and a.hours == [0.5, 1.0, 1.5] and a.psnr == [25.0, 27.5, 28.0]
    assert a.stage == ["fp32", "fp32", "int4"] and a.flip == pytest.approx([0.1, 0.09, 0.08])
    assert m.load_curves(tmp_path / "b").flip == [None, None]
    out = tmp_path / "img" / "curves.png"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out),
                           "--reference", "TAA=28.22"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "a: 3 evaluations, last step 300, PSNR 28.00 dB at 1.50 h" in proc.stdout
    from PIL import Image

    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (1210, 1056)  # 11 x 9.6 in at 110 dpi: 3 rows (with FLIP)


def test_errors(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--out", str(tmp_path / "x.png")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no eval.csv" in proc.stderr
    with pytest.raises(SystemExit):
        _module().main([str(tmp_path), "--reference", "TAA"])
