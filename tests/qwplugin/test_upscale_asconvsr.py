"""``INNER+asconvsr``: a render-size method, then the shipped AsConvSR x2 (coefficients smoothed across frames).

Reference computed directly: :class:`~qwplugin.sr.asconvsr.AsConvSRUpscaler` on the inner method's output in the
network domain, with the reset of the frame; the same ops in the same order, so exactly equal.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from qwplugin import Frame, make
from qwplugin.errors import InvalidArgument
from qwplugin.ops.colour import from_network, to_network
from qwplugin.sr.asconvsr import AsConvSRUpscaler
from qwplugin.sr.shipped import SHIPPED_ASCONVSR, load_shipped_asconvsr

W, H = 16, 12
pytestmark = pytest.mark.skipif(not SHIPPED_ASCONVSR.exists(), reason="no AsConvSR weights shipped")


def _frames(n: int) -> list[Frame]:
    rng = np.random.default_rng(4)
    return [Frame(color=rng.uniform(0, 3, (H, W, 3)).astype(np.float32), motion_px=np.zeros((H, W, 2), np.float32),
                  jitter_px=(0.1, -0.2), reset=i in (0, 2)) for i in range(n)]


def test_noaa_then_asconvsr_equals_the_network_on_the_input():
    method = make("noaa+asconvsr", (W, H), display_size=(2 * W, 2 * H))
    direct = AsConvSRUpscaler(load_shipped_asconvsr())
    for f in _frames(4):
        got = method.dispatch(f)
        x = to_network(torch.from_numpy(f.color).permute(2, 0, 1)[None])
        want = from_network(direct(x, reset=f.reset).clamp(0.0, 1.0 - 1e-4))[0].permute(1, 2, 0).numpy()
        assert got.shape == (2 * H, 2 * W, 3)
        np.testing.assert_array_equal(got, want)
    assert method.info.details["spatial_upscaler"] == "asconvsr" and "AsConvSR x2" in method.info.summary
    method.close()


def test_asconvsr_needs_twice_the_render_size():
    with pytest.raises(InvalidArgument) as err:
        make("noaa+asconvsr", (W, H), display_size=(W * 3 // 2, H * 3 // 2))
    assert err.value.field == "display_size"
    method = make("taa+asconvsr", (W, H), display_size=(2 * W, 2 * H))
    with pytest.raises(InvalidArgument) as err:
        method.resize((W, H), (3 * W, 3 * H))
    assert err.value.field == "display_size" and method.display_size == (2 * W, 2 * H)
    method.close()


def test_missing_or_tampered_weights_are_refused(tmp_path):
    with pytest.raises(InvalidArgument) as err:
        load_shipped_asconvsr(tmp_path / "asconvsr-x2.safetensors")
    assert err.value.field == "method" and "qwplugin.sr.train" in str(err.value)
    copy = tmp_path / "asconvsr-x2.safetensors"
    shutil.copy(SHIPPED_ASCONVSR, copy)
    (tmp_path / "manifest.json").write_text(json.dumps({"files": {copy.name: {"sha256": "0" * 64, "bytes": 1}}}))
    with pytest.raises(InvalidArgument) as err:
        load_shipped_asconvsr(copy)
    assert "checksum mismatch" in str(err.value)
