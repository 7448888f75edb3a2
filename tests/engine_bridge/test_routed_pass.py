"""The GL pass of qwnet-routed: the array method behind a Bridge, output for output."""

import numpy as np
import pytest

pytestmark = pytest.mark.gl

W, H = 64, 48
SPEC = "qwnet-routed-rule:k=1:tile=16:halo=8"


def test_routed_pass_equals_the_array_method_and_reports_its_routing(gl):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture
    from engine_bridge.passes import RenderPass, make_pass
    from engine_bridge.passes.routed_pass import RoutedPass
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.ops.halton import jitter_offset_px
    from qwplugin.runtime import Frame, registry

    io = ReadbackTransfer(W, H)
    color, motion = create_texture(W, H, GL.GL_RGBA32F), create_texture(W, H, GL.GL_RG32F)
    depth = create_texture(W, H, GL.GL_R32F)
    options = {"model": "qwnet-tiny", "backend": "cpu"}
    gl_pass = make_pass(SPEC, W, H, transfer="readback", **options)
    array = registry.make(SPEC, (W, H), **options)
    assert isinstance(gl_pass, RoutedPass) and isinstance(gl_pass, RenderPass)
    assert gl_pass.info.name == SPEC and gl_pass.info.details["transfer"] == "readback"
    assert not gl_pass.inputs()["depth"].optional  # the TAA light path and the classifier read depth
    rng = np.random.default_rng(4)
    fractions = []
    for t in range(4):
        c = rng.uniform(0, 3, (H, W, 3)).astype(np.float32)
        c[:, : W // 2] = 0.5  # a flat half and a noisy half: the rule routes only part of the frame heavy
        m = rng.uniform(-1, 1, (H, W, 2)).astype(np.float32)
        d = rng.uniform(2, 9, (H, W)).astype(np.float32)
        for tex, a in ((color, c), (motion, m), (depth, d)):
            io.write(tex, a)
        j = jitter_offset_px(t)
        out = io.read(gl_pass.dispatch(Frame(color=color, motion_px=motion, depth=depth, jitter_px=j,
                                             reset=t == 0)), 3, "out")
        expected = array.dispatch(Frame(color=c, motion_px=m, depth=d, jitter_px=j, reset=t == 0))
        # RGBA16F output texture: 11-bit mantissa; the routed method's history never leaves float32.
        np.testing.assert_allclose(out, expected, rtol=2e-3, atol=1e-4)
        assert gl_pass.info.details["heavy_fraction_last"] == array.info.details["heavy_fraction_last"]
        fractions.append(gl_pass.info.details["heavy_fraction_last"])
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert "bridge_ms_median" in gl_pass.timings_ms()
    gl_pass.close()
    array.close()
