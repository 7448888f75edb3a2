"""The training command under torchrun: 2 CPU processes on gloo equal one process on the whole batch."""

import json
import os
import subprocess
import sys

import pytest
import torch

from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.train.checkpoint import load_checkpoint
from qwplugin.train.csvlog import CsvLog


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(tmp_path):
    write_synthetic_dataset(tmp_path / "data", sequences=3, frames=4, width=32, height=32, spp=4, seed=5)
    raw = json.loads(open("configs/tiny_test.json").read())  # batch 2: one sample per rank
    raw["data"]["root"] = str(tmp_path / "data")
    raw["stages"][0]["steps"], raw["stages"][1]["steps"] = 6, 2
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["-m", "qwplugin.train", "--config", str(cfg), "--no-progress"]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          *common, "--out", str(tmp_path / "ddp")], capture_output=True, text=True, timeout=400,
                         env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "single")], capture_output=True,
                            text=True, timeout=400, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    a = load_checkpoint(tmp_path / "ddp" / "stage_fp32.pt")["model"]
    b = load_checkpoint(tmp_path / "single" / "stage_fp32.pt")["model"]
    # DDP averages per-rank gradients of per-rank means = the gradient of the global mean; only float
    # summation order differs (~1e-7 relative), amplified a little by 6 optimizer steps: 1e-4 is ample,
    # while one skipped or doubled update (lr 3e-3) would move weights by ~1e-3.
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-4), k
    la = [float(r["loss"]) for r in CsvLog(tmp_path / "ddp" / "train.csv", ["step"]).read()]
    lb = [float(r["loss"]) for r in CsvLog(tmp_path / "single" / "train.csv", ["step"]).read()]
    assert len(la) == len(lb) == 8
    assert all(abs(x - y) <= 1e-4 * max(1.0, abs(y)) for x, y in zip(la[:6], lb[:6]))
    # The QAT stage ran under DDP too (rounding may amplify float noise there, so only sanity-checked).
    q = load_checkpoint(tmp_path / "ddp" / "stage_int4.pt")
    assert q["quantized"] and q["step"] == 8 and all(torch.isfinite(v).all() for v in q["model"].values())
