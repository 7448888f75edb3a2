"""Spatial upscaling baselines (qwplugin.ops.resample) against independent references: PIL's resize
(bilinear, bicubic a = -0.5, Lanczos-3) and torch's bilinear interpolation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from qwplugin.errors import InvalidArgument
from qwplugin.ops.resample import METHODS, resample_matrix, upscale

PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
SUPPORT = {"bilinear": 1, "bicubic": 2, "lanczos": 3}


def _smooth(h, w):
    ys, xs = np.mgrid[0:h, 0:w]
    return (np.sin(xs / 5.0) * np.cos(ys / 4.0) + 0.3 * np.sin((xs + ys) / 7.0) + 1.0).astype(np.float32)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("display", [(64, 48), (48, 36), (96, 72), (55, 30)])
def test_matches_pil_away_from_the_border(method, display):
    """PIL's float-image resize uses the same kernels and pixel-centre convention; it renormalises the taps
    that fall outside the image where we clamp to the edge, so only pixels whose taps all lie inside are
    compared. Tolerance 1e-6: float32 rounding of values ~1-2 (measured max 2.4e-7)."""
    img = _smooth(24, 32)
    ref = np.asarray(Image.fromarray(img, mode="F").resize(display, PIL_FILTERS[method]))
    out = upscale(torch.from_numpy(img)[None, None], display, method)[0, 0].numpy()
    assert out.shape == ref.shape
    by = SUPPORT[method] * display[1] // 24 + 2
    bx = SUPPORT[method] * display[0] // 32 + 2
    np.testing.assert_allclose(out[by:-by, bx:-bx], ref[by:-by, bx:-bx], rtol=0, atol=1e-6)


def test_bilinear_equals_torch_interpolate_everywhere():
    """torch's bilinear (align_corners=False) also clamps at the edge: equal on the whole image (1e-6)."""
    img = torch.from_numpy(np.stack([_smooth(18, 24), 2 * _smooth(18, 24)]))[None]
    for size in ((48, 36), (40, 27)):
        ref = F.interpolate(img, size=(size[1], size[0]), mode="bilinear", align_corners=False)
        torch.testing.assert_close(upscale(img, size, "bilinear"), ref, rtol=0, atol=1e-6)


def test_rows_sum_to_one_and_identity_at_scale_one():
    for method in METHODS:
        m = resample_matrix(10, 23, method)
        np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-12)
        np.testing.assert_allclose(resample_matrix(9, 9, method), np.eye(9), atol=1e-12)


def test_bad_inputs_are_refused_naming_the_field():
    img = torch.rand(1, 3, 8, 8)
    cases = [("image", dict(image=torch.rand(3, 8, 8))), ("image", dict(image=torch.zeros(1, 3, 8, 8, dtype=torch.int32))),
             ("display_size", dict(display_size=(4, 8))), ("display_size", dict(display_size=(0, 8))),
             ("method", dict(method="nearest"))]
    for field, change in cases:
        kwargs = {"image": img, "display_size": (16, 16), "method": "bicubic", **change}
        with pytest.raises(InvalidArgument) as info:
            upscale(**kwargs)
        assert info.value.field == field


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
def test_deringing_removes_the_overshoot_of_a_step_and_keeps_smooth_ramps(method):
    """A hard step rings without deringing (values outside [0, 1]); deringed, every output lies within the
    2x2 source texels around its sample (checked against a per-pixel loop) and a linear ramp's interior,
    where no lobe overshoots, is unchanged."""
    from qwplugin.ops.resample import nearest_texels, upscale

    step = torch.zeros(1, 1, 6, 10)
    step[..., 5:] = 1.0
    raw = upscale(step, (25, 15), method)
    assert raw.min() < -1e-3 and raw.max() > 1 + 1e-3  # the ringing being removed
    out = upscale(step, (25, 15), method, dering=True)
    ys, xs = nearest_texels(6, 15), nearest_texels(10, 25)
    for y in range(15):
        for x in range(25):
            texels = step[0, 0, [ys[0][y], ys[1][y]]][:, [xs[0][x], xs[1][x]]]
            want = min(max(float(raw[0, 0, y, x]), float(texels.min())), float(texels.max()))
            assert float(out[0, 0, y, x]) == pytest.approx(want, abs=1e-7)
    ramp = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 6, 10).contiguous()
    inner = (slice(None), slice(None), slice(None), slice(8, 17))  # display columns whose 6 taps stay inside
    assert torch.allclose(upscale(ramp, (25, 15), method, dering=True)[inner], upscale(ramp, (25, 15), method)[inner],
                          atol=1e-5)
