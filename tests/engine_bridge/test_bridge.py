"""Bridge: GL textures in, the context's output in the host's texture; equal to calling the Context directly."""

import numpy as np
import pytest

pytestmark = pytest.mark.gl

W, H = 64, 48
FRAMES = 3


def _tex(name):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture

    return create_texture(W, H, getattr(GL, name))


def _sequence(rng):
    """Asymmetric colour (bright top rows, a left-right ramp), small motions, jitters."""
    frames = []
    for i in range(FRAMES):
        color = rng.uniform(0.0, 2.0, (H, W, 3)).astype(np.float32)
        color[:6] += 5.0                            # top rows bright: a row flip would move them
        color[..., 0] += np.linspace(0, 3, W)[None, :]
        motion = rng.uniform(-1.5, 1.5, (H, W, 2)).astype(np.float32)
        motion[: H // 2, :, 1] = 2.0                # top half moves down: a flip would change the sign pattern
        frames.append((color, motion, ((-1) ** i * 0.25, 0.125 * i)))
    return frames


def _desc(precision):
    from qwplugin.runtime import ContextDesc

    return ContextDesc(render_size=(W, H), model="qwnet-tiny", precision=precision, backend="cpu", seed=7)


@pytest.mark.parametrize("precision", ["fp32", "int4"])
def test_bridge_output_equals_context_called_with_arrays(gl, precision):
    """Exact: RGBA32F/RG32F textures carry the float32 arrays unchanged, the same deterministic CPU model
    runs on the same values, and the RGBA32F output texture stores the float32 result unchanged."""
    from engine_bridge.bridge import Bridge
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.runtime import Context, Frame

    seq = _sequence(np.random.default_rng(1))
    direct = Context(_desc(precision))
    bridged = Context(_desc(precision))
    bridge = Bridge(bridged, transfer="auto")
    assert bridge.transfer_name == "readback" and "runs on cpu" in bridge.transfer_reason
    io = ReadbackTransfer(W, H)
    color_tex, motion_tex, out_tex = _tex("GL_RGBA32F"), _tex("GL_RG32F"), _tex("GL_RGBA32F")
    for i, (color, motion, jitter) in enumerate(seq):
        expected = direct.dispatch(Frame(color=color, motion_px=motion, jitter_px=jitter, reset=(i == 0)))
        io.write(color_tex, color)
        io.write(motion_tex, motion)
        returned = bridge.dispatch(color_tex, motion_tex, out_tex, jitter_px=jitter, reset=(i == 0))
        np.testing.assert_array_equal(returned, expected)
        rgba = io.read(out_tex, 4, "output")
        np.testing.assert_array_equal(rgba[..., :3], expected)
        np.testing.assert_array_equal(rgba[..., 3], 1.0)
    assert set(bridge.timings_ms()) == {"gl_input", "dispatch", "gl_output", "total"}
    bridge.close(close_context=True)
    direct.close()


def test_half_float_textures_match_context_on_rounded_inputs(gl):
    """RGBA16F/RG16F (what engines ship): the bridge equals the context fed the float16-rounded arrays;
    the RGBA16F output is the context output rounded to float16 (exactly, GL rounds to nearest)."""
    from engine_bridge.bridge import Bridge
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.runtime import Context, Frame

    seq = _sequence(np.random.default_rng(2))
    direct, bridge = Context(_desc("fp32")), Bridge(Context(_desc("fp32")))
    io = ReadbackTransfer(W, H)
    color_tex, motion_tex, out_tex = _tex("GL_RGBA16F"), _tex("GL_RG16F"), _tex("GL_RGBA16F")
    for i, (color, motion, jitter) in enumerate(seq):
        c16, m16 = color.astype(np.float16).astype(np.float32), motion.astype(np.float16).astype(np.float32)
        expected = direct.dispatch(Frame(color=c16, motion_px=m16, jitter_px=jitter, reset=(i == 0)))
        io.write(color_tex, color)
        io.write(motion_tex, motion)
        out = bridge.dispatch(color_tex, motion_tex, out_tex, jitter_px=jitter, reset=(i == 0))
        np.testing.assert_array_equal(out, expected)
        got = io.read(out_tex, 3, "output")
        # GL's float -> half conversion may round differently from numpy's at exact ties: allow 1 half ulp
        np.testing.assert_allclose(got, expected.astype(np.float16).astype(np.float32), rtol=2 ** -10, atol=0)
    bridge.close(close_context=True)
    direct.close()


def test_row_flip_with_asymmetric_image(gl):
    """The frame the context receives is top-down: row 0 = the top of the image (last GL row)."""
    from OpenGL import GL

    from engine_bridge.bridge import Bridge
    from qwplugin.runtime import Context

    class Spy(Context):
        # the bridge hands the context a Frame of arrays and its values, already checked, here
        def _dispatch_checked(self, frame, values):
            scale = np.asarray(frame.motion_vector_scale, np.float32)  # the context applies it
            self.seen = (frame.color.copy(), frame.motion_px * scale)
            return frame.color.copy()  # identity "reconstruction": output = input colour

    img = np.zeros((H, W, 4), np.float32)
    img[0, :, 0] = 1.0           # top row red
    img[:, 0, 1] = 1.0           # left column green
    motion = np.zeros((H, W, 2), np.float32)
    motion[0, 0] = (3.0, -2.0)   # top-left pixel moves
    color_tex, motion_tex, out_tex = _tex("GL_RGBA32F"), _tex("GL_RG32F"), _tex("GL_RGBA32F")
    # upload in GL order directly (bottom row first), not through the transfer under test
    for tex, data, fmt in ((color_tex, img, GL.GL_RGBA), (motion_tex, motion, GL.GL_RG)):
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, W, H, fmt, GL.GL_FLOAT, np.ascontiguousarray(data[::-1]))
    spy = Spy(_desc("fp32"))
    bridge = Bridge(spy, motion_vector_scale=(2.0, -1.0))
    bridge.dispatch(color_tex, motion_tex, out_tex, jitter_px=(0, 0), reset=True)
    color_seen, motion_seen = spy.seen
    np.testing.assert_array_equal(color_seen, img[..., :3])
    assert color_seen[0, 10, 0] == 1.0 and color_seen[H - 1, 10, 0] == 0.0
    np.testing.assert_array_equal(motion_seen[0, 0], (6.0, 2.0))          # scaled per axis
    assert not motion_seen[1:].any() and not motion_seen[0, 1:].any()
    raw = np.empty((H, W, 4), np.float32)
    GL.glBindTexture(GL.GL_TEXTURE_2D, out_tex)
    GL.glGetTexImage(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA, GL.GL_FLOAT, raw)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    np.testing.assert_array_equal(raw[::-1][..., :3], img[..., :3])        # output flipped back exactly once
    bridge.close(close_context=True)


def test_bad_inputs_name_the_field_and_leave_history(gl):
    from engine_bridge.bridge import Bridge
    from qwplugin.errors import InvalidArgument, InvalidOperation
    from qwplugin.runtime import Context

    ctx = Context(_desc("fp32"))
    bridge = Bridge(ctx)
    color_tex, motion_tex, out_tex = _tex("GL_RGBA16F"), _tex("GL_RG16F"), _tex("GL_RGBA16F")
    bridge.dispatch(color_tex, motion_tex, out_tex, jitter_px=(0, 0), reset=True)
    assert ctx.has_history
    frames = ctx.stats.frames
    from engine_bridge.gl.textures import create_texture
    from OpenGL import GL

    small = create_texture(W, H - 1, GL.GL_RGBA16F)
    with pytest.raises(InvalidArgument) as err:
        bridge.dispatch(small, motion_tex, out_tex)
    assert err.value.field == "color"
    with pytest.raises(InvalidArgument) as err:
        bridge.dispatch(color_tex, motion_tex, out_tex, jitter_px=(0.7, 0))
    assert err.value.field == "jitter_px"
    with pytest.raises(InvalidArgument) as err:
        bridge.dispatch(color_tex, motion_tex, out_tex, depth_tex=_tex("GL_DEPTH_COMPONENT32F"))
    assert err.value.field == "depth" and "linear view depth" in str(err.value)
    with pytest.raises(InvalidArgument) as err:
        bridge.dispatch(color_tex, motion_tex, out_tex, motion_vector_scale=(1.0, float("nan")))
    assert err.value.field == "motion_vector_scale"
    assert ctx.has_history and ctx.stats.frames == frames
    with pytest.raises(InvalidArgument):
        Bridge(ctx, transfer="pbo")
    bridge.close()
    with pytest.raises(InvalidOperation):
        bridge.dispatch(color_tex, motion_tex, out_tex)
    ctx.close()


def test_resize_and_reset(gl):
    from OpenGL import GL

    from engine_bridge.bridge import Bridge
    from engine_bridge.gl.textures import create_texture
    from qwplugin.runtime import Context

    ctx = Context(_desc("fp32"))
    bridge = Bridge(ctx)
    bridge.dispatch(_tex("GL_RGBA16F"), _tex("GL_RG16F"), _tex("GL_RGBA16F"), reset=True)
    bridge.reset()
    assert not ctx.has_history
    bridge.resize(32, 16)
    assert bridge.render_size == (32, 16)
    texs = [create_texture(32, 16, f) for f in (GL.GL_RGBA16F, GL.GL_RG16F, GL.GL_RGBA16F)]
    out = bridge.dispatch(*texs, reset=True)
    assert out.shape == (16, 32, 3) and ctx.has_history
    bridge.close(close_context=True)
