"""Texture level of detail: each reference sub-sample samples at its own footprint (bias -log2(k) for
k x k samples), and the aliased input uses the FSR 2 bias (-1 at native resolution).

Probe: a 2-texel black/white checker on a ground plane seen at a grazing angle (``grazing_plane_scene``),
ambient-lit so a pixel is the filtered texel average in [0, 1]. Every mip level above 1 of this texture
is flat grey, so a too-coarse LOD shows up as lost contrast. Ground truth: 1024 sub-samples, all at mip
level 0 (bias -16, the GL maximum): a brute-force box filter of the bilinear texture over each pixel that
does not depend on mip-mapping at all (1024 vs 4096 such samples differ by mean 0.003).
"""

import math

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.raster.probe_scenes import grazing_plane_scene
from engine_bridge.raster.sampling import fsr2_input_mip_bias, reference_sample_mip_bias
from qwplugin.errors import InvalidArgument

W, H = 64, 48


@pytest.fixture(scope="module")
def truth(gl):
    from engine_bridge.raster import Renderer

    with Renderer(grazing_plane_scene(), W, H, reference_mip_bias=-16.0) as r:
        return r.render_reference(0.0, 1024)


def laplacian_variance(image: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the 5-point Laplacian of the grey image over ``mask`` (interior pixels): the image's
    high-frequency energy."""
    g = image.mean(-1)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap[mask[1:-1, 1:-1]].var())


def test_bias_rules():
    assert reference_sample_mip_bias(64) == -3.0 and reference_sample_mip_bias(256, 0.5) == -3.5
    assert reference_sample_mip_bias(1) == 0.0
    assert fsr2_input_mip_bias(960, 960) == -1.0 and fsr2_input_mip_bias(1280, 1920) == pytest.approx(-1.585, abs=1e-3)
    with pytest.raises(InvalidArgument, match="spp"):
        reference_sample_mip_bias(8)


@pytest.mark.gl
@pytest.mark.parametrize("spp", [16, 64])
def test_reference_lod_follows_the_sample_footprint(truth, spp):
    from engine_bridge.raster import Renderer

    scene = grazing_plane_scene()
    plane = truth.mean(-1) > 0.02  # the background above the horizon is black
    assert 0.3 * W * H < plane.sum() < 0.8 * W * H
    with Renderer(scene, W, H) as r:
        assert r.reference_mip_bias == 0.0 and r.reference_sample_mip_bias(spp) == -math.log2(math.isqrt(spp))
        footprint = r.render_reference(0.0, spp)
    # the old reference: every sub-sample at the whole pixel's LOD (base bias log2(k) cancels the -log2(k))
    with Renderer(scene, W, H, reference_mip_bias=math.log2(math.isqrt(spp))) as r:
        assert r.reference_sample_mip_bias(spp) == 0.0
        pixel_lod = r.render_reference(0.0, spp)
    err_new = float(np.abs(footprint - truth).mean(-1)[plane].mean())
    err_old = float(np.abs(pixel_lod - truth).mean(-1)[plane].mean())
    lap_new, lap_old, lap_truth = (laplacian_variance(x, plane) for x in (footprint, pixel_lod, truth))
    print(f"spp {spp}: error {err_new:.4f} vs {err_old:.4f}; laplacian variance {lap_new:.3f} vs {lap_old:.3f} "
          f"(truth {lap_truth:.3f})")
    # Measured at 64x48: error 0.0195 / 0.0105 (16 / 64 spp) against 0.048 for the pixel-LOD reference;
    # Laplacian variance 0.35 / 0.34 against 0.05 (truth 0.33). Bounds leave ~2x margin.
    assert err_new < 0.5 * err_old
    assert err_new < (0.035 if spp == 16 else 0.02)
    assert lap_new > 3.0 * lap_old
    assert abs(lap_new - lap_truth) < 0.25 * lap_truth
    # filtering changes detail, not brightness: mean over the plane within 1% of the truth
    assert abs(footprint[plane].mean() - truth[plane].mean()) < 0.01 * truth[plane].mean()


@pytest.mark.gl
def test_aliased_input_mip_bias_minus_one_is_sharper(truth):
    from engine_bridge.raster import Renderer

    scene = grazing_plane_scene()
    plane = truth.mean(-1) > 0.02
    colors = {}
    for bias in (None, 0.0):
        kwargs = {} if bias is None else {"mip_bias": bias}
        with Renderer(scene, W, H, **kwargs) as r:
            colors[r.mip_bias] = []
            for i in range(4):  # several jitters, so one lucky sample pattern does not decide
                r.render_gbuffer(0.0, None, r.jitter_for_frame(i))
                colors[r.mip_bias].append(r.read_gbuffer().color.copy())
    assert set(colors) == {-1.0, 0.0}  # the default is the FSR 2 rule at native resolution
    for sharp, blurred in zip(colors[-1.0], colors[0.0]):
        lap_sharp, lap_blurred = laplacian_variance(sharp, plane), laplacian_variance(blurred, plane)
        # measured 0.94 vs 0.147 at jitter 0: one mip level finer keeps ~4x the checker's contrast energy
        assert lap_sharp > 3.0 * lap_blurred, (lap_sharp, lap_blurred)
        assert abs(sharp[plane].mean() - blurred[plane].mean()) < 0.01
