"""Read-back / upload transfer: exact round trips, the single row flip, errors."""

import numpy as np
import pytest

pytestmark = pytest.mark.gl

W, H = 64, 48


def _gl_error():
    from OpenGL import GL

    return GL.glGetError()


def _texture(internal_name):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture

    return create_texture(W, H, getattr(GL, internal_name))


@pytest.mark.parametrize("internal_name,channels", [("GL_RGBA16F", 3), ("GL_RGBA16F", 4), ("GL_RG16F", 2),
                                                    ("GL_R32F", 1), ("GL_RGBA32F", 3)])
def test_upload_then_readback_is_exact(gl, internal_name, channels):
    from engine_bridge.transfer.readback import ReadbackTransfer

    rng = np.random.default_rng(3)
    shape = (H, W) if channels == 1 else (H, W, channels)
    data = rng.uniform(-40.0, 40.0, shape).astype(np.float32)
    if "16F" in internal_name:
        # a half-float texture stores exactly the float16-representable values: round trip is exact
        data = data.astype(np.float16).astype(np.float32)
    tex = _texture(internal_name)
    t = ReadbackTransfer(W, H)
    t.write(tex, data)
    got = t.read(tex, channels, "color")
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_array_equal(got, data)
    assert _gl_error() == 0


def test_rows_flip_exactly_once_against_gl_storage(gl):
    """An asymmetric image: row 0 of the top-down array must be the LAST row in GL storage (glReadPixels
    of an FBO reads bottom-up, so its row 0 is the image bottom)."""
    from OpenGL import GL

    from engine_bridge.transfer.readback import ReadbackTransfer

    img = np.zeros((H, W, 4), np.float32)
    img[0, :, 0] = 1.0          # top row red
    img[:, 0, 1] = 2.0          # left column green
    img[H - 1, W - 1, 2] = 3.0  # bottom-right pixel blue
    tex = _texture("GL_RGBA32F")
    t = ReadbackTransfer(W, H)
    t.write(tex, img)

    fbo = GL.glGenFramebuffers(1)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
    GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
    raw = np.empty((H, W, 4), np.float32)
    GL.glReadPixels(0, 0, W, H, GL.GL_RGBA, GL.GL_FLOAT, raw)  # GL order: raw[0] = bottom row
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
    GL.glDeleteFramebuffers(1, [fbo])
    np.testing.assert_array_equal(raw[::-1], img)
    assert raw[H - 1, 5, 0] == 1.0 and raw[0, 5, 0] == 0.0
    assert raw[0, W - 1, 2] == 3.0

    back = t.read(tex, 4, "color")
    np.testing.assert_array_equal(back, img)
    assert back[0, 5, 0] == 1.0 and back[H - 1, W - 1, 2] == 3.0


def test_hardware_depth_reads_as_one_channel(gl):
    from OpenGL import GL

    from engine_bridge.transfer.readback import ReadbackTransfer

    tex = _texture("GL_DEPTH_COMPONENT32F")
    depth = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, W, H, GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT,
                       np.ascontiguousarray(depth[::-1]))
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    t = ReadbackTransfer(W, H)
    np.testing.assert_array_equal(t.read(tex, 1, "depth"), depth)
    from qwplugin.errors import InvalidArgument

    with pytest.raises(InvalidArgument) as err:
        t.read(tex, 3, "depth")
    assert err.value.field == "depth"
    with pytest.raises(InvalidArgument):
        t.write(tex, depth, "output")


def test_buffers_are_reused_between_frames(gl):
    from engine_bridge.transfer.readback import ReadbackTransfer

    tex = _texture("GL_RGBA16F")
    t = ReadbackTransfer(W, H)
    a = t.read(tex, 3, "color")
    b = t.read(tex, 3, "color")
    assert a is b


def test_errors_name_the_field(gl):
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.errors import InvalidArgument, InvalidOperation

    t = ReadbackTransfer(W, H)
    with pytest.raises(InvalidArgument) as err:
        t.read(987654, 3, "motion")
    assert err.value.field == "motion"
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture

    small = create_texture(W // 2, H, GL.GL_RGBA16F)
    with pytest.raises(InvalidArgument) as err:
        t.read(small, 3, "color")
    assert err.value.field == "color" and err.value.actual == f"{W // 2}x{H}"
    with pytest.raises(InvalidArgument):
        t.write(_texture("GL_RGBA16F"), np.zeros((H, W + 1, 3), np.float32))
    with pytest.raises(InvalidArgument):
        ReadbackTransfer(0, 4)
    t.close()
    with pytest.raises(InvalidOperation):
        t.read(small, 3, "color")
    assert _gl_error() == 0
