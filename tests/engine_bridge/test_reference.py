"""Supersampled reference: fractional coverage of edge pixels (within 1/spp for axis-aligned edges),
64 vs 256 samples agree, the no-AA frame samples pixel centres, the sample pattern is stratified."""

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.raster.probe_scenes import rect_scene, textured_ground_scene
from engine_bridge.raster.sampling import reference_sample_offsets
from qwplugin.errors import InvalidArgument

W, H = 64, 48


@pytest.mark.parametrize("spp", [1, 4, 64, 256])
def test_sample_pattern_is_stratified_and_n_rooks(spp):
    s = reference_sample_offsets(spp)
    k = int(np.sqrt(spp))
    assert s.shape == (spp, 2) and (s >= 0).all() and (s < 1).all()
    cells = {(int(x * k), int(y * k)) for x, y in s}
    assert len(cells) == spp  # one sample per k x k stratum
    for axis in range(2):  # one sample per 1/spp column and row (N-rooks)
        assert len({int(v * spp) for v in s[:, axis]}) == spp
    np.testing.assert_allclose(s.mean(0), 0.5, atol=1e-12)


def test_spp_must_be_a_perfect_square():
    for bad in (0, 2, 32, -4):
        with pytest.raises(InvalidArgument, match="spp"):
            reference_sample_offsets(bad)


@pytest.mark.gl
@pytest.mark.parametrize("spp", [64, 256])
def test_edge_pixels_take_fractional_coverage(gl, spp):
    """White rectangle on black with edges at known sub-pixel positions: each edge pixel's value is its
    covered fraction within 1/spp (one sample per 1/spp column/row), interior 1, outside 0."""
    from engine_bridge.raster import Renderer

    x0, y0, x1, y1 = 10.3, 5.7, 40.85, 30.1
    scene = rect_scene([((x0, y0, x1, y1), (1.0, 1.0, 1.0))], W, H)
    with Renderer(scene, W, H) as r:
        ref = r.render_reference(0.0, spp)[..., 0]
    cov_x = np.clip(np.minimum(np.arange(W) + 1, x1) - np.maximum(np.arange(W), x0), 0, 1)
    cov_y = np.clip(np.minimum(np.arange(H) + 1, y1) - np.maximum(np.arange(H), y0), 0, 1)
    expected = cov_y[:, None] * cov_x[None, :]
    tol = 1.0 / spp + 1e-6
    # edge pixels (not corners): one axis fully covered, so the N-rooks pattern bounds the error by 1/spp
    for (i, j) in [(15, 10), (15, 40), (5, 20), (30, 20)]:
        assert 0.05 < expected[i, j] < 0.95
        assert abs(ref[i, j] - expected[i, j]) <= tol, (i, j, ref[i, j], expected[i, j])
    # corners: product of coverages, stratified error bound ~2/sqrt(spp) (k x k strata)
    for (i, j) in [(5, 10), (30, 40)]:
        assert abs(ref[i, j] - expected[i, j]) <= 2.0 / np.sqrt(spp)
    np.testing.assert_array_equal(ref[expected == 1.0], 1.0)
    np.testing.assert_array_equal(ref[expected == 0.0], 0.0)


@pytest.mark.gl
@pytest.mark.slow
def test_64_and_256_samples_agree(gl):
    from engine_bridge.raster import Renderer

    with Renderer(textured_ground_scene(), W, H) as r:
        ref64 = r.render_reference(0.0, 64)
        ref256 = r.render_reference(0.0, 256)
        noaa = r.render_noaa(0.0)
    diff = np.abs(ref64 - ref256)
    # Tolerance: per pixel the two box-filter estimates differ by at most ~1/8 of the local contrast
    # (8x8 vs 16x16 strata); on this scene (contrast ~1) measured mean 0.0025, max 0.12 (noaa: 0.045), with
    # sub-sample LOD biases -3 / -4 (each sub-sample resolves finer texture detail than the pixel's LOD).
    assert diff.mean() < 0.01 and diff.max() < 0.2
    # and both are far closer to each other than the aliased single-sample frame is to either
    assert np.abs(noaa - ref256).mean() > 3 * diff.mean()
    frac = ((ref256 > 0.01) & (np.abs(ref256 - noaa) > 0.05)).mean()
    assert frac > 0.02  # there are antialiased (fractional) pixels at all


@pytest.mark.gl
def test_noaa_matches_unjittered_gbuffer_colour(gl):
    from engine_bridge.raster import Renderer

    with Renderer(textured_ground_scene(), W, H) as r:
        noaa = r.render_noaa(0.0)
        r.render_gbuffer(0.0, None, (0.0, 0.0))
        color = r.read_gbuffer().color
    # same samples; the G-buffer stores half floats (relative step 2^-11, plus truncation): 2^-10 relative
    np.testing.assert_allclose(color, noaa, rtol=2.0 ** -10, atol=1e-6)
