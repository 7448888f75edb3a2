"""Evaluation metrics against known values and independent computations."""

import math

import numpy as np
import pytest

from qwplugin.errors import InvalidArgument
from qwplugin.eval import metrics as M
from qwplugin.eval.run import scored_frames


def _image(seed=0, h=24, w=32):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32) * 0.8 + 0.1


def test_psnr_of_a_known_error():
    ref = _image()
    assert M.psnr_db(ref, ref + 0.1) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 -> 20 dB exactly
    assert M.psnr_db(ref, ref + 0.01) == pytest.approx(40.0, abs=1e-3)
    assert M.psnr_db(ref, ref) == pytest.approx(100.0)  # floored MSE
    with pytest.raises(InvalidArgument, match="shape"):
        M.psnr_db(ref, ref[:-1])
    with pytest.raises(InvalidArgument, match="NaN"):
        M.psnr_db(ref, np.full_like(ref, np.nan))


def test_ssim_sanity():
    ref = _image(1)
    assert M.ssim(ref, ref) == pytest.approx(1.0, abs=1e-9)
    noise = np.random.default_rng(2).normal(0, 1, ref.shape).astype(np.float32)
    values = [M.ssim(ref, np.clip(ref + s * noise, 0, 1)) for s in (0.02, 0.1, 0.3)]
    assert 1.0 > values[0] > values[1] > values[2] > 0.0
    # A constant offset changes only the luminance term: l = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1).
    flat = np.full((16, 16, 3), 0.5, np.float32)
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * 0.5 * 0.6 + c1) / (0.5 ** 2 + 0.6 ** 2 + c1)
    assert M.ssim(flat, flat + 0.1) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(InvalidArgument, match="11x11"):
        M.ssim(ref[:8, :8], ref[:8, :8])


def test_flip_is_zero_for_identical_images_and_grows_with_error():
    ref = _image(3)
    assert M.flip_ldr(ref, ref) == pytest.approx(0.0, abs=1e-7)
    assert M.flip_hdr(ref * 4, ref * 4) == pytest.approx(0.0, abs=1e-7)
    small, large = M.flip_ldr(ref, np.clip(ref + 0.02, 0, 1)), M.flip_ldr(ref, np.clip(ref + 0.2, 0, 1))
    assert 0.0 < small < large
    mean, error_map = M.flip_ldr(ref, ref[::-1].copy(), with_map=True)
    assert mean > small and error_map.shape == ref.shape


def test_srgb_psnr_matches_an_independent_computation():
    rng = np.random.default_rng(9)
    ref, out = rng.random((2, 20, 24, 3)).astype(np.float32)
    ref[0, :4] = 0.001  # some values in the OETF's linear toe (<= 0.0031308)

    def oetf(x):  # IEC 61966-2-1, written as np.piecewise over float64
        x = np.clip(x.astype(np.float64), 0, 1)
        return np.piecewise(x, [x <= 0.0031308, x > 0.0031308], [lambda v: v * 12.92,
                                                                   lambda v: 1.055 * v ** (1 / 2.4) - 0.055])

    rmse = np.sqrt(np.mean((oetf(ref) - oetf(out)) ** 2))
    # float32 encoding inside psnr_srgb_db vs float64 here: ~1e-7 relative in MSE, < 1e-5 dB.
    assert M.psnr_srgb_db(ref, out) == pytest.approx(20 * np.log10(1.0 / rmse), abs=1e-4)
    # Closed form on flat images: display 0.02 vs 0.03 -> sRGB code values differ by a known amount.
    a, b = np.full((12, 12, 3), 0.02, np.float32), np.full((12, 12, 3), 0.03, np.float32)
    diff = (1.055 * 0.03 ** (1 / 2.4) - 0.055) - (1.055 * 0.02 ** (1 / 2.4) - 0.055)
    assert M.psnr_srgb_db(a, b) == pytest.approx(-20 * np.log10(diff), abs=1e-3)
    # The domain matters: in the dark the OETF's slope is ~3.8, so the sRGB error is larger (~11.5 dB).
    assert M.psnr_srgb_db(a, b) < M.psnr_db(a, b) - 10.0
    assert set(M.DOMAIN_OF) == set(M.METRIC_NAMES) and set(M.DOMAIN_OF.values()) <= set(M.DOMAINS)
    with pytest.raises(InvalidArgument, match="shape"):
        M.psnr_srgb_db(a, b[:-1])


def test_display_domain_and_srgb():
    lin = np.array([[[0.0, 1.0, 3.0]]], np.float32)
    np.testing.assert_allclose(M.to_display(lin), [[[0.0, 0.5, 0.75]]], rtol=1e-6)
    np.testing.assert_allclose(M.to_display(lin, exposure=2.0), [[[0.0, 2 / 3, 6 / 7]]], rtol=1e-6)
    assert float(M.srgb_encode(np.array(0.5))) == pytest.approx(1.055 * 0.5 ** (1 / 2.4) - 0.055)
    assert float(M.srgb_encode(np.array(0.002))) == pytest.approx(12.92 * 0.002)


def test_temporal_error_and_flicker():
    rng = np.random.default_rng(4)
    base = rng.random((20, 28, 3)).astype(np.float32)
    zero = np.zeros((16, 20, 2), np.float32)
    ref_prev, ref_t = base[2:18, 3:23], base[2:18, 4:24]  # content moves left by one pixel
    motion = zero.copy()
    motion[..., 0] = 1.0  # current pixel (r, c) was at (r, c + 1)
    assert M.temporal_metrics(ref_t, ref_prev, ref_t, ref_prev, motion) == (0.0, 0.0)
    # An output equal to the reference except +0.05 in the current frame: temporal error 0.05 where the
    # warp is valid (the last column samples outside the previous frame and is left out).
    temporal, flicker = M.temporal_metrics(ref_t + 0.05, ref_prev, ref_t, ref_prev, motion)
    assert temporal == pytest.approx(0.05, abs=1e-6)
    d_ref = np.abs(ref_t[:, :19] - ref_prev[:, 1:])
    expected = np.maximum(0, np.abs(ref_t[:, :19] + 0.05 - ref_prev[:, 1:]) - d_ref).mean()
    assert flicker == pytest.approx(float(expected), abs=1e-6)
    # A static reference and an output that alternates by +-d: flicker 2d, temporal 2d.
    flat = np.full((16, 20, 3), 0.4, np.float32)
    t2, f2 = M.temporal_metrics(flat + 0.01, flat - 0.01, flat, flat, zero)
    assert t2 == pytest.approx(0.02, abs=1e-6) and f2 == pytest.approx(0.02, abs=1e-6)
    far = np.full((16, 20, 2), 100.0, np.float32)  # everything from outside the previous frame
    assert all(math.isnan(v) for v in M.temporal_metrics(flat, flat, flat, flat, far))


def test_warm_up_rule():
    resets = np.array([True, False, False, False, True, False, False])
    assert scored_frames(resets, 2).tolist() == [False, False, True, True, False, False, True]
    assert scored_frames(resets, 0).tolist() == [True] * 7
    assert scored_frames(np.zeros(3, bool), 1).tolist() == [False, True, True]  # frame 0 is a reset anyway
    # Frames after a camera cut are scored again once the warm-up has passed.
    cut = np.zeros(12, bool)
    cut[[0, 6]] = True
    assert np.flatnonzero(scored_frames(cut, 2)).tolist() == [2, 3, 4, 5, 8, 9, 10, 11]
