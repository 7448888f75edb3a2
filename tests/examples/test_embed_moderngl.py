"""The moderngl embedding example runs headless (moderngl's EGL context) and matches a direct Context call.

Run in a subprocess: the example needs PyOpenGL on the EGL platform, fixed per process at first import.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.gl
@pytest.mark.slow
def test_moderngl_embedding_headless(tmp_path):
    from PIL import Image

    env = {"QW_GL_BACKEND": "egl", "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, str(ROOT / "examples" / "embed_moderngl.py"), "--size", "64x48", "--frames", "3",
           "--model", "qwnet-tiny", "--precision", "fp32", "--backend", "cpu", "--verify", "--out", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "transfer: readback" in run.stdout
    assert "untrained" in run.stdout or "trained" in run.stdout  # the honest backend line is printed
    diff = float(re.search(r"max relative difference to a direct Context call: (\S+)", run.stdout).group(1))
    # Both sides see the same half-float textures; the bridge output lands in an RGBA16F texture, compared
    # with the direct output rounded to half: at most one half ulp (2^-10 relative) from GL's rounding.
    assert diff <= 2 ** -10
    img = np.asarray(Image.open(tmp_path / "embed_input_output.png"))
    assert img.shape == (48, 128, 3)
    left, right = img[:, :64].astype(int), img[:, 64:].astype(int)
    assert left.std() > 10          # moderngl rendered a scene (checker + cube), not a blank target
    assert not np.array_equal(left, right)
