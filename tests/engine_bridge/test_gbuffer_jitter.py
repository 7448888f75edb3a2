"""Jitter: Halton(2, 3) values, and a rendered feature moves by the jitter in the documented direction
(pixel (i, j) samples the image at (j + 0.5 + jx, i + 0.5 + jy), top-down, +y down)."""

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.raster.probe_scenes import rect_scene
from engine_bridge.raster.sampling import jitter_to_ndc

W, H = 64, 48
RECT = (10.3, 5.3, 20.6, 12.6)  # edges at sub-pixel positions: x0, y0, x1, y1 (top-down pixels)


def test_halton_sequence_values():
    from engine_bridge.raster import Renderer

    class NoGL:  # jitter_for_frame reads only these attributes, so no context is needed
        phase_for_frame = Renderer.phase_for_frame

        def __init__(self, phase_count, start_phase=0):
            self.phase_count, self.start_phase = phase_count, start_phase

    # Halton(2, 3) points 1..4 by hand: base 2: 1/2, 1/4, 3/4, 1/8; base 3: 1/3, 2/3, 1/9, 4/9
    expected = [(0.5, 1 / 3), (0.25, 2 / 3), (0.75, 1 / 9), (0.125, 4 / 9)]
    for i, (hx, hy) in enumerate(expected):
        jx, jy = Renderer.jitter_for_frame(NoGL(16), i)
        assert (jx, jy) == pytest.approx((hx - 0.5, hy - 0.5), abs=1e-15)
        # a sequence starting at phase 2 reaches point i + 1 at frame i - 2 (mod 16)
        assert Renderer.jitter_for_frame(NoGL(16, 2), (i - 2) % 16) == (jx, jy)
    r = NoGL(4)
    assert Renderer.jitter_for_frame(r, 4) == Renderer.jitter_for_frame(r, 0)


def test_jitter_to_ndc_signs():
    # +x jitter samples further right = image moves left (negative NDC x); +y (down) jitter samples
    # lower = image moves up in GL's y-up NDC (positive)
    assert jitter_to_ndc((0.5, 0.0), 64, 48) == (-1 / 64, 0.0)
    assert jitter_to_ndc((0.0, 0.5), 64, 48) == (0.0, 1 / 48)


def expected_mask(jx: float, jy: float) -> np.ndarray:
    x0, y0, x1, y1 = RECT
    sx = np.arange(W) + 0.5 + jx
    sy = np.arange(H) + 0.5 + jy
    return ((sy >= y0) & (sy < y1))[:, None] & ((sx >= x0) & (sx < x1))[None, :]


@pytest.mark.gl
@pytest.mark.parametrize("jitter", [(0.0, 0.0), (0.25, 0.25), (-0.25, -0.25), (0.45, -0.4), (-0.45, 0.4)])
def test_rendered_rectangle_follows_the_jitter(gl, jitter):
    from engine_bridge.raster import Renderer

    scene = rect_scene([(RECT, (1.0, 1.0, 1.0))], W, H)
    with Renderer(scene, W, H) as r:
        r.render_gbuffer(0.0, None, jitter)
        lit = r.read_gbuffer().color[..., 0] > 0.5
    np.testing.assert_array_equal(lit, expected_mask(*jitter))


@pytest.mark.gl
def test_feature_moves_by_minus_jitter(gl):
    """Columns/rows covered move opposite to the jitter: with +0.25 the rectangle covers columns 10..19,
    with -0.25 columns 11..20 (x edges at 10.3 and 20.6); rows 5..11 vs 6..12."""
    from engine_bridge.raster import Renderer

    scene = rect_scene([(RECT, (1.0, 1.0, 1.0))], W, H)
    with Renderer(scene, W, H) as r:
        r.render_gbuffer(0.0, None, (0.25, 0.25))
        plus = r.read_gbuffer().color[..., 0] > 0.5
        r.render_gbuffer(0.0, None, (-0.25, -0.25))
        minus = r.read_gbuffer().color[..., 0] > 0.5
    cols_plus, rows_plus = np.nonzero(plus.any(0))[0], np.nonzero(plus.any(1))[0]
    cols_minus, rows_minus = np.nonzero(minus.any(0))[0], np.nonzero(minus.any(1))[0]
    assert (cols_plus.min(), cols_plus.max(), rows_plus.min(), rows_plus.max()) == (10, 19, 5, 11)
    assert (cols_minus.min(), cols_minus.max(), rows_minus.min(), rows_minus.max()) == (11, 20, 6, 12)


@pytest.mark.gl
def test_jittered_projection_is_reported(gl):
    from engine_bridge.raster import Renderer

    scene = rect_scene([(RECT, (1.0, 1.0, 1.0))], W, H)
    with Renderer(scene, W, H) as r:
        info = r.render_gbuffer(0.0, None, (0.25, -0.5))
        delta = info.jittered_projection - info.projection
    # P' = T(tx, ty, 0) @ P with (tx, ty) = (-2 jx / W, 2 jy / H) adds tx * row 3 = tx * (0, 0, -1, 0) to
    # row 0, so delta[0, 2] = -tx; likewise delta[1, 2] = -ty; nothing else changes
    tx, ty = -2 * 0.25 / W, 2 * -0.5 / H
    expected = np.zeros((4, 4))
    expected[0, 2], expected[1, 2] = -tx, -ty
    np.testing.assert_allclose(delta, expected, atol=1e-12)


@pytest.mark.parametrize("bad", [(0.7, 0.0), (0.0, -0.51), (float("nan"), 0.0), (0.1,), "xy", None])
def test_renderer_refuses_bad_jitter_with_the_shared_check(gl, bad):
    from engine_bridge.raster import Renderer
    from qwplugin.errors import InvalidArgument
    from qwplugin.runtime.validate import check_jitter

    with pytest.raises(InvalidArgument) as shared:
        check_jitter(bad)
    scene = rect_scene([(RECT, (1.0, 1.0, 1.0))], W, H)
    with Renderer(scene, W, H) as r:
        with pytest.raises(InvalidArgument) as got:
            r.render_gbuffer(0.0, None, bad)
    assert got.value.field == "jitter_px" and str(got.value) == str(shared.value)
