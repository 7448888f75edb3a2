"""TAAUPass (GLSL) agrees with qwplugin.taau (PyTorch) with every option, at 2x and 1.5x; ports, sizes, state."""

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.ops.halton import jitter_offset_px, jitter_phase_count
from qwplugin.taau import TAAUConfig, TemporalUpscaler

pytestmark = pytest.mark.gl

SIZES = [((14, 10), (28, 20)), ((12, 8), (18, 12))]  # (render, display): 2x and 1.5x

CONFIGS = [
    TAAUConfig(alpha=0.2, gamma=1.25, filter_sigma_px=0.45, dilate_motion=True, depth_rejection=True,
               depth_tolerance=0.05, perceptual_clip=True, motion_feedback=0.1, clip_feedback=0.5, feedback_max=0.7,
               sharpen=0.3),
    TAAUConfig(alpha=0.3, gamma=1.5, filter_sigma_px=0.8, dilate_motion=False, depth_rejection=False,
               perceptual_clip=False, motion_feedback=0.0, clip_feedback=0.0, feedback_max=1.0, sharpen=0.0),
]


def _frame(t, w, h, phases):
    """A moving HDR pattern with fractional motion, a near bright square moving right (disocclusions)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    jitter = jitter_offset_px(t, phases)
    value = np.sin((xs + 0.7 * t + jitter[0]) * 0.9) * np.cos((ys + jitter[1]) * 0.7) * 2.0 + 2.1
    color = np.stack([value, 0.5 * value, 4.2 - value, np.ones_like(value)], -1).astype(np.float32)
    motion = np.stack([np.full_like(xs, -0.7), 0.3 * np.sin(xs * 0.3) + 0.8 * (ys < 2)], -1).astype(np.float32)
    depth = (20.0 + 0.3 * xs + 0.1 * ys).astype(np.float32)
    x0 = 2 + 0.9 * t
    near = (xs >= x0) & (xs < x0 + 4) & (ys >= 2) & (ys < 6)
    depth[near] = 3.0 + 0.01 * xs[near]
    color[near] = (6.0, 0.2, 0.1, 1.0)
    motion[near] = (-0.9, 0.0)
    return color, motion, depth, jitter


def _to_torch(array_hwc):
    return torch.from_numpy(np.ascontiguousarray(array_hwc)).permute(2, 0, 1)[None].float()


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("sizes", SIZES)
def test_taau_pass_matches_pytorch(gl, sizes, config):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture, read_texture, upload_texture
    from engine_bridge.passes import PassFrame
    from engine_bridge.passes.taau_pass import TAAUPass

    (w, h), (dw, dh) = sizes
    phases = jitter_phase_count(w, dw)
    color_tex, motion_tex, depth_tex = (create_texture(w, h, f) for f in (GL.GL_RGBA32F, GL.GL_RG32F, GL.GL_R32F))
    up_gl = TAAUPass(w, h, dw, dh, config, history_format="RGBA32F")
    up_torch = TemporalUpscaler((dw, dh), config)
    out = np.zeros((dh, dw, 3), np.float32)
    for t in range(10):
        color, motion, depth, jitter = _frame(t, w, h, phases)
        reset = t in (0, 6)
        for tex, data in ((color_tex, color), (motion_tex, motion), (depth_tex, depth)):
            upload_texture(tex, data)
        inputs = {"color": color_tex, "motion_px": motion_tex}
        if config.uses_depth:
            inputs["depth"] = depth_tex
        result = up_gl.execute(inputs, PassFrame(jitter, reset, 1.0, t))
        read_texture(result["color"], out)
        ref = up_torch.step(_to_torch(color[..., :3]), _to_torch(motion), reset, jitter,
                            depth=torch.from_numpy(depth)[None, None])[0].permute(1, 2, 0).numpy()
        # The same float32 operations in the same order (``precise`` keeps llvmpipe from contracting the
        # position arithmetic to FMAs); GLSL's exp, division and sqrt may differ by a few ulps, carried through
        # the history: the TAA twins' tolerance, 2e-5 relative and absolute on values up to ~6.
        np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-5)
    up_gl.close()
    GL.glDeleteTextures(3, [color_tex, motion_tex, depth_tex])


def test_taau_pass_ports_sizes_and_properties(gl):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture, texture_size
    from engine_bridge.passes import PassFrame
    from engine_bridge.passes.taau_pass import TAAUPass

    with TAAUPass(8, 6, 16, 12, CONFIGS[0]) as up:
        assert set(up.inputs()) == {"color", "motion_px", "depth"} and up.display_size == (16, 12)
        props = up.get_properties()
        assert props["display_size"] == [16, 12]
        with TAAUPass.from_properties(props, 8, 6) as again:
            assert again.config == up.config and again.display_size == (16, 12)
        small = create_texture(8, 6, GL.GL_RGBA16F)
        big = create_texture(16, 12, GL.GL_RGBA16F)
        motion = create_texture(8, 6, GL.GL_RG16F)
        depth = create_texture(8, 6, GL.GL_R32F)
        with pytest.raises(InvalidArgument) as info:  # display-size colour where the render size belongs
            up.execute({"color": big, "motion_px": motion, "depth": depth}, PassFrame())
        assert info.value.field == "color"
        with pytest.raises(InvalidArgument) as info:
            up.execute({"color": small, "motion_px": motion}, PassFrame())
        assert info.value.field == "depth"
        out = up.execute({"color": small, "motion_px": motion, "depth": depth}, PassFrame())["color"]
        assert texture_size(out)[:2] == (16, 12)
        GL.glDeleteTextures(4, [small, big, motion, depth])
    with pytest.raises(InvalidArgument) as info:
        TAAUPass(8, 6, 32, 12)
    assert info.value.field == "display_size"
    up = TAAUPass(8, 6, 16, 12)
    up.close()
    with pytest.raises(InvalidOperation):
        up.resize(8, 6)
