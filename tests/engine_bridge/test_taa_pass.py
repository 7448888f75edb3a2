"""The GL passes: TAAPass agrees with qwplugin.taa (PyTorch), NoAAPass copies, the pass protocol behaves."""

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.ops.halton import jitter_offset_px
from qwplugin.taa import TAAConfig, TemporalAA, taa_resolve

pytestmark = pytest.mark.gl

W, H = 28, 20


@pytest.fixture
def clean_gl(gl):
    """The module's context; the clean GL error state before and after each test is demanded by
    ``tests/engine_bridge/conftest.py`` for every test using ``gl``."""
    return gl


def _textures(color_format="GL_RGBA32F", motion_format="GL_RG32F"):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture

    return create_texture(W, H, getattr(GL, color_format)), create_texture(W, H, getattr(GL, motion_format))


def _frame_data(t):
    """A moving HDR pattern with fractional, spatially varying motion, partly leaving the frame."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    jitter = jitter_offset_px(t)
    value = np.sin((xs + 0.7 * t + jitter[0]) * 0.9) * np.cos((ys + jitter[1]) * 0.7) * 2.0 + 2.1
    color = np.stack([value, 0.5 * value, 4.2 - value, np.ones_like(value)], -1).astype(np.float32)
    motion_y = 0.3 * np.sin(xs * 0.3) + 0.8 * (ys < 2)
    motion = np.stack([np.full_like(xs, -0.7), motion_y], -1).astype(np.float32)
    return color, motion, jitter


def _to_torch(array_hwc):
    return torch.from_numpy(np.ascontiguousarray(array_hwc)).permute(2, 0, 1)[None].float()


@pytest.mark.parametrize("config", [TAAConfig.classic(), TAAConfig.classic(alpha=0.2, gamma=1.5, unjitter=True)])
def test_taa_pass_matches_pytorch_in_fp32(clean_gl, config):
    from engine_bridge.gl.textures import read_texture, upload_texture
    from engine_bridge.passes import PassFrame, TAAPass

    color_tex, motion_tex = _textures()
    taa_gl = TAAPass(W, H, config, history_format="RGBA32F")
    taa_torch = TemporalAA(config)
    out = np.zeros((H, W, 3), np.float32)
    for t in range(10):
        color, motion, jitter = _frame_data(t)
        reset = t in (0, 6)
        upload_texture(color_tex, color)
        upload_texture(motion_tex, motion)
        result = taa_gl.execute({"color": color_tex, "motion_px": motion_tex},
                                PassFrame(jitter, reset, 1.0, t))
        read_texture(result["color"], out)
        ref = taa_torch.step(_to_torch(color[..., :3]), _to_torch(motion), reset, jitter)[0].permute(1, 2, 0)
        if reset:
            expected = color[..., :3] if not config.unjitter else ref.numpy()
            np.testing.assert_array_equal(out, expected)
        # Same float32 operations in the same order; llvmpipe may contract to FMA, so allow a few ulps of
        # values up to ~4, accumulated over frames (measured max 1.4e-6).
        np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-5)
    taa_gl.close()


def _round_to_half(x: torch.Tensor, toward_zero: bool) -> torch.Tensor:
    """float32 -> float16 values (as float32), round-to-nearest-even or toward zero (x >= 0, normal range)."""
    if not toward_zero:
        return x.half().float()
    return (x.view(torch.int32) & ~0x1FFF).view(torch.float32)  # drop the 13 mantissa bits fp16 lacks


def _driver_rounds_half_toward_zero() -> bool:
    """Probe how the driver converts float32 shader output to an RGBA16F target (Mesa llvmpipe 22.3
    truncates; NVIDIA rounds to nearest): resolve a reset frame of value 2 + 0.6 half-ulp."""
    from engine_bridge.gl.textures import read_texture, upload_texture
    from engine_bridge.passes import PassFrame, TAAPass

    color_tex, motion_tex = _textures()
    upload_texture(color_tex, np.full((H, W, 4), 2.0 + 0.6 * 2.0**-9, np.float32))
    upload_texture(motion_tex, np.zeros((H, W, 2), np.float32))
    with TAAPass(W, H, TAAConfig.classic()) as taa:
        out = read_texture(taa.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame())["color"],
                           np.zeros((H, W, 3), np.float32))
    assert np.all(out == out[0, 0, 0]) and out[0, 0, 0] in (2.0, 2.0 + 2.0**-9)
    return bool(out[0, 0, 0] == 2.0)


def test_taa_pass_fp16_history_matches_pytorch_with_fp16_rounding(clean_gl):
    """The shipping configuration: RGBA16F colour, RG16F motion, RGBA16F history. The reference rounds its
    history to float16 the way the driver does."""
    from engine_bridge.gl.textures import read_texture, upload_texture
    from engine_bridge.passes import PassFrame, TAAPass

    toward_zero = _driver_rounds_half_toward_zero()
    color_tex, motion_tex = _textures("GL_RGBA16F", "GL_RG16F")
    taa_gl = TAAPass(W, H, TAAConfig.classic())
    history = None
    out = np.zeros((H, W, 3), np.float32)
    for t in range(10):
        color, motion, jitter = _frame_data(t)
        color, motion = color.astype(np.float16), motion.astype(np.float16)  # what the textures store
        upload_texture(color_tex, color)
        upload_texture(motion_tex, motion)
        result = taa_gl.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame(jitter, t == 0))
        read_texture(result["color"], out)
        ref = taa_resolve(_to_torch(color[..., :3]), _to_torch(motion), history, TAAConfig.classic(), jitter)
        ref = _round_to_half(ref, toward_zero)  # the history texture stores float16
        history = ref
        # fp16 has an 11-bit significand (relative step 2^-11 = 4.9e-4 to 2^-10); a GL/torch difference of an
        # ulp in float32 can round to the neighbouring half, and the history carries it on (x0.9 per frame):
        # allow ~2 half ulps.
        np.testing.assert_allclose(out, ref[0].permute(1, 2, 0).numpy(), rtol=2e-3, atol=1e-4)
    taa_gl.close()


def test_taa_pass_ping_pongs_and_resets(clean_gl):
    from engine_bridge.gl.textures import read_texture, upload_texture
    from engine_bridge.passes import PassFrame, TAAPass

    color_tex, motion_tex = _textures()
    taa = TAAPass(W, H, TAAConfig.classic(), history_format="RGBA32F")
    color0, motion, _ = _frame_data(0)
    color1, _, _ = _frame_data(3)
    inputs = {"color": color_tex, "motion_px": motion_tex}
    upload_texture(motion_tex, motion)
    upload_texture(color_tex, color0)
    first = taa.execute(inputs, PassFrame())["color"]  # first frame: no history, output = input
    upload_texture(color_tex, color1)
    second = taa.execute(inputs, PassFrame())["color"]
    assert first != second
    out = np.zeros((H, W, 3), np.float32)
    np.testing.assert_array_equal(read_texture(first, out), color0[..., :3])  # still valid (ping-pong)
    assert not np.array_equal(read_texture(second, out), color1[..., :3])  # blended with history
    taa.reset()
    third = taa.execute(inputs, PassFrame())["color"]
    np.testing.assert_array_equal(read_texture(third, out), color1[..., :3])
    taa.resize(W, H)  # a resize drops the history too
    after_resize = taa.execute(inputs, PassFrame())["color"]
    np.testing.assert_array_equal(read_texture(after_resize, out), color1[..., :3])
    taa.close()
    taa.close()  # idempotent
    with pytest.raises(InvalidOperation):
        taa.execute(inputs, PassFrame())


def test_taa_pass_restores_host_state(clean_gl):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture
    from engine_bridge.passes import PassFrame, TAAPass

    color_tex, motion_tex = _textures()
    host_fbo = int(GL.glGenFramebuffers(1))
    host_tex = create_texture(8, 8, GL.GL_RGBA8)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, host_fbo)
    GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, host_tex, 0)
    GL.glViewport(1, 2, 5, 6)
    GL.glEnable(GL.GL_BLEND)
    with TAAPass(W, H, TAAConfig.classic()) as taa:
        taa.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame())
    assert int(GL.glGetIntegerv(GL.GL_DRAW_FRAMEBUFFER_BINDING)) == host_fbo
    assert [int(v) for v in GL.glGetIntegerv(GL.GL_VIEWPORT)] == [1, 2, 5, 6]
    assert GL.glIsEnabled(GL.GL_BLEND)
    GL.glDisable(GL.GL_BLEND)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
    GL.glDeleteFramebuffers(1, [host_fbo])


def test_pass_protocol_ports_and_properties(clean_gl):
    from engine_bridge.passes import NoAAPass, RenderPass, TAAPass

    cfg = TAAConfig.classic(alpha=0.3, gamma=2.0, unjitter=True)
    taa = TAAPass(W, H, cfg, history_format="RGBA32F")
    assert isinstance(taa, RenderPass)
    assert set(taa.inputs()) == {"color", "motion_px"} and set(taa.outputs()) == {"color"}
    props = taa.get_properties()
    assert props == {**cfg.to_dict(), "history_format": "RGBA32F"}
    assert props["alpha"] == 0.3 and props["gamma"] == 2.0 and props["unjitter"] is True
    clone = TAAPass.from_properties(props, 4, 4)
    assert clone.config == cfg and clone.history_format == "RGBA32F" and clone.size == (4, 4)
    with pytest.raises(InvalidArgument):
        TAAPass.from_properties({**props, "sharpness": 1}, 4, 4)
    with pytest.raises(InvalidArgument):
        TAAPass(W, H, history_format="RGB8")
    noaa = NoAAPass.from_properties({}, W, H)
    assert noaa.get_properties() == {} and set(noaa.inputs()) == {"color"}
    for p in (taa, clone, noaa):
        p.close()


def test_bad_inputs_raise_naming_the_port(clean_gl):
    from engine_bridge.gl.textures import create_texture
    from engine_bridge.passes import PassFrame, TAAPass
    from OpenGL import GL

    color_tex, motion_tex = _textures()
    small = create_texture(W - 1, H, GL.GL_RG32F)
    with TAAPass(W, H, TAAConfig.classic()) as taa:
        with pytest.raises(InvalidArgument) as info:
            taa.execute({"color": color_tex}, PassFrame())
        assert info.value.field == "motion_px"
        with pytest.raises(InvalidArgument) as info:
            taa.execute({"color": color_tex, "motion_px": small}, PassFrame())
        assert info.value.field == "motion_px" and info.value.actual == f"{W - 1}x{H}"
        with pytest.raises(InvalidArgument) as info:
            taa.execute({"color": color_tex, "motion_px": motion_tex}, {"reset": True})
        assert info.value.field == "frame"
        with pytest.raises(InvalidArgument) as info:  # the values are checked when the pass runs
            taa.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame(jitter_px=(0.0, 0.7)))
        assert info.value.field == "jitter_px"


def test_noaa_pass_copies_colour_exactly(clean_gl):
    from engine_bridge.gl.textures import read_texture, upload_texture
    from engine_bridge.passes import NoAAPass, PassFrame

    color_tex, _ = _textures("GL_RGBA16F")
    color = _frame_data(2)[0].astype(np.float16)
    upload_texture(color_tex, color)
    with NoAAPass(W, H) as noaa:
        result = noaa.execute({"color": color_tex}, PassFrame(reset=True))
        assert result["color"] != color_tex
        out = np.zeros((H, W, 4), np.float16)
        np.testing.assert_array_equal(read_texture(result["color"], out), color)


def test_pass_frame_is_the_one_frame_and_values_are_normalised_once():
    from engine_bridge.passes import PassFrame
    from qwplugin.runtime import Frame
    from qwplugin.runtime.validate import check_values

    frame = PassFrame(np.array([0.25, -0.5], np.float32), np.bool_(True), np.float32(2), 7)
    assert type(frame) is Frame and isinstance(frame, PassFrame) and frame.frame_index == 7
    values = check_values(frame)
    assert values.jitter_px == (0.25, -0.5) and type(values.jitter_px[0]) is float
    assert values.reset is True and values.exposure == 2.0 and values.frame_index == 7
    for field, bad in (("jitter_px", dict(jitter_px=(float("nan"), 0.0))), ("jitter_px", dict(jitter_px=(0.1,))),
                       ("reset", dict(reset=1)), ("exposure", dict(exposure=0.0)),
                       ("frame_index", dict(frame_index=-1))):
        with pytest.raises(InvalidArgument) as info:
            check_values(PassFrame(**bad))
        assert info.value.field == field


@pytest.mark.slow
def test_taa_pass_on_rendered_scene_matches_pytorch_and_beats_noaa(clean_gl):
    """The built-in "mixed" scene through the real G-buffer (RGBA16F colour, RG16F motion, camera and object
    motion, disocclusions), 64x48, 24 frames at 30 Hz."""
    from engine_bridge.gl.textures import read_texture
    from engine_bridge.passes import PassFrame, TAAPass
    from engine_bridge.raster.renderer import Renderer
    from engine_bridge.scene.loader import load_scene

    w, h = 64, 48

    def tonemap(x):
        return x / (1.0 + x)

    out = np.zeros((h, w, 3), np.float32)
    free_running = TemporalAA(TAAConfig.classic())
    err_taa, err_noaa = [], []
    with Renderer(load_scene("mixed"), w, h) as renderer, TAAPass(w, h, TAAConfig.classic(), history_format="RGBA32F") as taa:
        gl_history = None
        for i in range(24):
            time_s, jitter = i / 30.0, renderer.jitter_for_frame(i)
            g = renderer.render_gbuffer(time_s, None if i == 0 else (i - 1) / 30.0, jitter)
            result = taa.execute({"color": g.color, "motion_px": g.motion}, PassFrame(jitter, i == 0))
            read_texture(result["color"], out)
            arrays = renderer.read_gbuffer()
            color, motion = _to_torch(arrays.color), _to_torch(arrays.motion_px)
            # One frame from the same history: float32 rounding only (measured max 1e-6 relative).
            one = taa_resolve(color, motion, gl_history, TAAConfig.classic(), jitter)[0].permute(1, 2, 0).numpy()
            np.testing.assert_allclose(out, one, rtol=1e-5, atol=1e-5)
            # Free-running: the histories drift apart as ulp differences pass through Catmull-Rom's negative
            # lobes frame after frame (measured max 3.7e-4 relative after 24 frames).
            ref_free = free_running.step(color, motion, i == 0, jitter)[0].permute(1, 2, 0).numpy()
            assert (np.abs(out - ref_free) / (1.0 + np.abs(ref_free))).max() < 2e-3
            gl_history = _to_torch(out.copy())  # `out` is overwritten by the next read
            if i >= 20:
                reference = renderer.render_reference(time_s, spp=16)
                err_taa.append(np.abs(tonemap(out) - tonemap(reference)).mean())
                err_noaa.append(np.abs(tonemap(renderer.render_noaa(time_s)) - tonemap(reference)).mean())
    # Measured 0.011 vs 0.016 (ratio 0.68) on llvmpipe.
    assert np.mean(err_taa) < 0.85 * np.mean(err_noaa)


# --- the strong TAA's options ----------------------------------------------------------------------------

STRONG_CONFIGS = [
    TAAConfig.classic(alpha=0.05, gamma=1.25, filter="gaussian", filter_sigma_px=0.47, dilate_motion=True,
                      depth_rejection=True, depth_tolerance=0.05, perceptual_clip=True, motion_feedback=0.1,
                      clip_feedback=0.5, feedback_max=0.6, sharpen=0.4),
    TAAConfig.classic(alpha=0.08, unjitter=True, depth_rejection=True, clip_feedback=0.3, sharpen=0.2),
    TAAConfig.classic(alpha=0.1, dilate_motion=True, perceptual_clip=True, motion_feedback=0.05),
]


def _depth_data(t):
    """Linear depth: a far slanted background and a near square moving right 1.3 px/frame (disocclusions)."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    depth = 20.0 + 0.3 * xs + 0.1 * ys
    x0 = 4 + 1.3 * t
    near = (xs >= x0) & (xs < x0 + 7) & (ys >= 5) & (ys < 13)
    depth[near] = 3.0 + 0.01 * xs[near]
    return depth.astype(np.float32), near


@pytest.mark.parametrize("config", STRONG_CONFIGS)
def test_strong_taa_pass_matches_pytorch_with_every_option(clean_gl, config):
    from engine_bridge.gl.textures import create_texture, read_texture, upload_texture
    from engine_bridge.passes import PassFrame, TAAPass
    from OpenGL import GL

    color_tex, motion_tex = _textures()
    depth_tex = create_texture(W, H, GL.GL_R32F)
    taa_gl = TAAPass(W, H, config, history_format="RGBA32F")
    taa_torch = TemporalAA(config)
    out = np.zeros((H, W, 3), np.float32)
    for t in range(10):
        color, motion, jitter = _frame_data(t)
        depth, near = _depth_data(t)
        color[near] = (6.0, 0.2, 0.1, 1.0)  # a bright HDR foreground object
        motion[near] = (-1.3, 0.0)
        reset = t in (0, 6)
        upload_texture(color_tex, color)
        upload_texture(motion_tex, motion)
        upload_texture(depth_tex, depth)
        inputs = {"color": color_tex, "motion_px": motion_tex}
        if config.uses_depth:
            inputs["depth"] = depth_tex
        result = taa_gl.execute(inputs, PassFrame(jitter, reset, 1.0, t))
        read_texture(result["color"], out)
        ref = taa_torch.step(_to_torch(color[..., :3]), _to_torch(motion), reset, jitter,
                             depth=torch.from_numpy(depth)[None, None])[0].permute(1, 2, 0).numpy()
        # Same float32 operations in the same order, except that llvmpipe may contract a*b+c to an FMA and
        # GLSL's division and sqrt are allowed a few ulps: relative differences of ~1e-6 per frame on values
        # up to ~6, carried through the history (measured max below 2e-5 over 10 frames).
        np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-5)
    taa_gl.close()
    GL.glDeleteTextures(3, [color_tex, motion_tex, depth_tex])


def test_strong_taa_pass_needs_depth_when_configured(clean_gl):
    from engine_bridge.passes import PassFrame, TAAPass

    color_tex, motion_tex = _textures()
    with TAAPass(W, H, STRONG_CONFIGS[0]) as taa:
        assert "depth" in taa.inputs()
        with pytest.raises(InvalidArgument) as info:
            taa.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame())
        assert info.value.field == "depth"
    with TAAPass(W, H, TAAConfig.classic()) as taa:
        assert "depth" not in taa.inputs()
