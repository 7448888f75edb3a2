"""The Bridge is a good guest: host GL state set before a dispatch is unchanged after it, hostile host
pixel-store / pixel-buffer state cannot corrupt the transfers, and host GL errors are reported as the host's.

Every test checks the output against a Context called directly on the same float32 arrays (RGBA32F/RG32F
textures carry them exactly), so "the state survived" never hides "the frame is garbage".
"""

import ctypes
import warnings

import numpy as np
import pytest

pytestmark = pytest.mark.gl

W, H = 32, 24


def _frames():
    rng = np.random.default_rng(3)
    out = []
    for i in range(2):
        color = rng.uniform(0.0, 3.0, (H, W, 3)).astype(np.float32)
        color[:4] += 4.0
        motion = rng.uniform(-1.0, 1.0, (H, W, 2)).astype(np.float32)
        out.append((color, motion, (0.25 * (-1) ** i, -0.125)))
    return out


@pytest.fixture(scope="module")
def setup(gl):
    """Textures holding two frames, a bridge, and the direct Context outputs for them."""
    from OpenGL import GL

    from engine_bridge.bridge import Bridge
    from engine_bridge.gl.textures import create_texture
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.runtime import Context, ContextDesc, Frame

    desc = ContextDesc(render_size=(W, H), model="qwnet-tiny", precision="fp32", backend="cpu", seed=3)
    frames = _frames()
    direct = Context(desc)
    expected = [direct.dispatch(Frame(color=c, motion_px=m, jitter_px=j, reset=(i == 0)))
                for i, (c, m, j) in enumerate(frames)]
    io = ReadbackTransfer(W, H)
    texs = []
    for c, m, _ in frames:
        ct, mt = create_texture(W, H, GL.GL_RGBA32F), create_texture(W, H, GL.GL_RG32F)
        io.write(ct, c)
        io.write(mt, m)
        texs.append((ct, mt))
    out = create_texture(W, H, GL.GL_RGBA32F)
    bridge = Bridge(Context(desc))
    yield dict(bridge=bridge, texs=texs, out=out, expected=expected, frames=frames, io=io)
    bridge.close(close_context=True)
    direct.close()


def _run_both(s):
    """Dispatch frame 0 (reset) and frame 1 through the bridge; check both outputs exactly."""
    for i, ((ct, mt), (_, _, jitter)) in enumerate(zip(s["texs"], s["frames"])):
        got = s["bridge"].dispatch(ct, mt, s["out"], jitter_px=jitter, reset=(i == 0))
        np.testing.assert_array_equal(got, s["expected"][i])


def _check_output_texture(s):
    from OpenGL import GL
    from OpenGL.raw.GL.VERSION.GL_1_1 import glGetTexImage

    from engine_bridge.gl.state import GuestState

    raw = np.empty((H, W, 4), np.float32)
    with GuestState():
        GL.glBindTexture(GL.GL_TEXTURE_2D, s["out"])
        glGetTexImage(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA, GL.GL_FLOAT, raw.ctypes.data_as(ctypes.c_void_p))
    np.testing.assert_array_equal(raw[::-1, :, :3], s["expected"][1])


def _program():
    from OpenGL import GL

    vs = GL.glCreateShader(GL.GL_VERTEX_SHADER)
    GL.glShaderSource(vs, "#version 410 core\nvoid main() { gl_Position = vec4(0.0); }\n")
    GL.glCompileShader(vs)
    fs = GL.glCreateShader(GL.GL_FRAGMENT_SHADER)
    GL.glShaderSource(fs, "#version 410 core\nout vec4 c; void main() { c = vec4(1.0); }\n")
    GL.glCompileShader(fs)
    prog = GL.glCreateProgram()
    GL.glAttachShader(prog, vs)
    GL.glAttachShader(prog, fs)
    GL.glLinkProgram(prog)
    assert GL.glGetProgramiv(prog, GL.GL_LINK_STATUS)
    return prog


def _hostile_host_state():
    """Set every piece of state a host might rely on to a non-default value; returns objects to free."""
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture

    host_tex = [create_texture(8, 8, GL.GL_RGBA8) for _ in range(3)]
    fbo_draw, fbo_read = GL.glGenFramebuffers(2)
    for fbo, tex in ((fbo_draw, host_tex[0]), (fbo_read, host_tex[1])):
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
    GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, fbo_draw)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo_read)
    rbo = GL.glGenRenderbuffers(1)
    GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rbo)
    vao = GL.glGenVertexArrays(1)
    GL.glBindVertexArray(vao)
    vbo, ebo, ubo, pack_pbo, unpack_pbo = GL.glGenBuffers(5)
    GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
    GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, ebo)
    GL.glBindBuffer(GL.GL_UNIFORM_BUFFER, ubo)
    for target, pbo in ((GL.GL_PIXEL_PACK_BUFFER, pack_pbo), (GL.GL_PIXEL_UNPACK_BUFFER, unpack_pbo)):
        GL.glBindBuffer(target, pbo)
        GL.glBufferData(target, 64, None, GL.GL_STREAM_COPY)   # far too small for a frame
    prog = _program()
    GL.glUseProgram(prog)
    GL.glActiveTexture(GL.GL_TEXTURE0)
    GL.glBindTexture(GL.GL_TEXTURE_2D, host_tex[2])             # bound once at set-up, as hosts do
    GL.glActiveTexture(GL.GL_TEXTURE3)
    GL.glBindTexture(GL.GL_TEXTURE_2D, host_tex[0])
    GL.glViewport(3, 5, 17, 11)
    GL.glScissor(1, 2, 7, 9)
    for cap in (GL.GL_BLEND, GL.GL_SCISSOR_TEST, GL.GL_CULL_FACE, GL.GL_DEPTH_TEST):
        GL.glEnable(cap)
    GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
    GL.glClearColor(0.1, 0.2, 0.3, 0.4)
    GL.glColorMask(True, False, True, False)
    GL.glDepthMask(False)
    hostile = {GL.GL_PACK_ROW_LENGTH: 3 * W, GL.GL_PACK_SKIP_ROWS: 5, GL.GL_PACK_SKIP_PIXELS: 3,
               GL.GL_PACK_ALIGNMENT: 8, GL.GL_PACK_SWAP_BYTES: 1, GL.GL_PACK_LSB_FIRST: 1,
               GL.GL_PACK_IMAGE_HEIGHT: 7, GL.GL_PACK_SKIP_IMAGES: 2,
               GL.GL_UNPACK_ROW_LENGTH: 2 * W, GL.GL_UNPACK_SKIP_ROWS: 4, GL.GL_UNPACK_SKIP_PIXELS: 2,
               GL.GL_UNPACK_ALIGNMENT: 2, GL.GL_UNPACK_SWAP_BYTES: 1, GL.GL_UNPACK_LSB_FIRST: 1,
               GL.GL_UNPACK_IMAGE_HEIGHT: 9, GL.GL_UNPACK_SKIP_IMAGES: 1}
    for pname, value in hostile.items():
        GL.glPixelStorei(pname, value)
    return dict(textures=host_tex, fbos=(fbo_draw, fbo_read), rbo=rbo, vao=vao,
                buffers=(vbo, ebo, ubo, pack_pbo, unpack_pbo), program=prog)


def _restore_defaults(objs):
    from OpenGL import GL

    from engine_bridge.gl.state import PIXEL_STORE_PARAMS

    for pname in PIXEL_STORE_PARAMS:
        GL.glPixelStorei(pname, 4 if pname in (GL.GL_PACK_ALIGNMENT, GL.GL_UNPACK_ALIGNMENT) else 0)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
    GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, 0)
    GL.glBindVertexArray(0)
    for target in (GL.GL_ARRAY_BUFFER, GL.GL_UNIFORM_BUFFER, GL.GL_PIXEL_PACK_BUFFER, GL.GL_PIXEL_UNPACK_BUFFER):
        GL.glBindBuffer(target, 0)
    GL.glUseProgram(0)
    for unit in (3, 0):
        GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    for cap in (GL.GL_BLEND, GL.GL_SCISSOR_TEST, GL.GL_CULL_FACE, GL.GL_DEPTH_TEST):
        GL.glDisable(cap)
    GL.glColorMask(True, True, True, True)
    GL.glDepthMask(True)
    GL.glDeleteFramebuffers(2, list(objs["fbos"]))
    GL.glDeleteBuffers(5, list(objs["buffers"]))
    GL.glDeleteProgram(objs["program"])


def test_every_listed_piece_of_host_state_is_unchanged_and_the_output_exact(setup):
    """Bindings (textures on two units, draw/read framebuffers, renderbuffer, VAO, array/element/uniform/
    pixel buffers), program, active unit, viewport, scissor, enables, blend, masks, clear colour and all 16
    pixel-store parameters, all hostile: the snapshot after two dispatches equals the one before, and the
    outputs equal the direct Context call (a host PACK_ROW_LENGTH used to make glGetTexImage write past the
    array; a bound PBO turned the pointer into an offset)."""
    from engine_bridge.gl.state import host_state_snapshot

    objs = _hostile_host_state()
    try:
        before = host_state_snapshot()
        assert before["errors"] == ()
        assert before["GL_ACTIVE_TEXTURE"] != 0x84C0 and before["GL_PIXEL_PACK_BUFFER_BINDING"] != 0
        _run_both(setup)
        after = host_state_snapshot()
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        assert changed == {}
    finally:
        _restore_defaults(objs)
    _check_output_texture(setup)


@pytest.mark.parametrize("pname_name,value", [
    ("GL_PACK_ROW_LENGTH", 3 * W), ("GL_PACK_SKIP_ROWS", 7), ("GL_PACK_SKIP_PIXELS", 5), ("GL_PACK_ALIGNMENT", 8),
    ("GL_PACK_SWAP_BYTES", 1), ("GL_UNPACK_ROW_LENGTH", 2 * W), ("GL_UNPACK_SKIP_ROWS", 6),
    ("GL_UNPACK_SKIP_PIXELS", 4), ("GL_UNPACK_ALIGNMENT", 8), ("GL_UNPACK_SWAP_BYTES", 1)])
def test_one_hostile_pixel_store_parameter_is_harmless_and_kept(setup, pname_name, value):
    """Each parameter alone: outputs exact (including the uploaded output texture) and the host's value
    is still set afterwards."""
    from OpenGL import GL

    from engine_bridge.gl.state import get_int

    pname = getattr(GL, pname_name)
    default = get_int(pname)
    GL.glPixelStorei(pname, value)
    try:
        _run_both(setup)
        assert get_int(pname) == value
    finally:
        GL.glPixelStorei(pname, default)
    _check_output_texture(setup)


@pytest.mark.parametrize("target_name", ["GL_PIXEL_PACK_BUFFER", "GL_PIXEL_UNPACK_BUFFER"])
def test_host_pixel_buffer_left_bound(setup, target_name):
    from OpenGL import GL

    from engine_bridge.gl.state import get_int

    target = getattr(GL, target_name)
    pbo = GL.glGenBuffers(1)
    GL.glBindBuffer(target, pbo)
    GL.glBufferData(target, 16, None, GL.GL_STREAM_COPY)
    try:
        _run_both(setup)
        assert get_int(getattr(GL, target_name + "_BINDING")) == pbo
    finally:
        GL.glBindBuffer(target, 0)
        GL.glDeleteBuffers(1, [pbo])
    _check_output_texture(setup)


def test_host_texture_binding_on_the_active_unit_survives(setup):
    """The reported bug: a host binding its texture once at set-up drew black from the second frame on."""
    from OpenGL import GL

    from engine_bridge.gl.state import get_int
    from engine_bridge.gl.textures import create_texture

    mine = create_texture(4, 4, GL.GL_RGBA8)
    GL.glBindTexture(GL.GL_TEXTURE_2D, mine)
    _run_both(setup)
    assert get_int(GL.GL_TEXTURE_BINDING_2D) == mine
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    GL.glDeleteTextures(1, [mine])


def test_pending_host_error_is_reported_as_the_hosts_and_cleared(setup):
    import OpenGL.platform
    from OpenGL.raw.GL.VERSION.GL_1_1 import glGetError

    from engine_bridge.gl.state import HostGLErrorWarning

    # a host calling GL without glGetError (moderngl, pyglet, C): the plain ctypes entry point, no checker
    OpenGL.platform.PLATFORM.GL.glEnable(0x7FFF)   # GL_INVALID_ENUM, left pending by the "host"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run_both(setup)
    host = [w.message for w in caught if isinstance(w.message, HostGLErrorWarning)]
    assert len(host) == 1
    assert host[0].errors == ("GL_INVALID_ENUM",) and host[0].where == "Bridge.dispatch"
    assert "the host" in str(host[0]) and "not from qwplugin" in str(host[0])
    assert glGetError() == 0


def test_refused_dispatch_restores_state_too(setup):
    """State is restored on the error path as well (a bad output texture after good inputs were checked)."""
    from OpenGL import GL

    from engine_bridge.gl.state import host_state_snapshot
    from engine_bridge.gl.textures import create_texture
    from qwplugin.errors import InvalidArgument

    bad_out = create_texture(W, H, GL.GL_RGBA8)   # before the hostile unpack PBO is bound
    objs = _hostile_host_state()
    try:
        before = host_state_snapshot()
        ct, mt = setup["texs"][1]
        with pytest.raises(InvalidArgument) as err:
            setup["bridge"].dispatch(ct, mt, bad_out, jitter_px=(0, 0))
        assert err.value.field == "output"
        after = host_state_snapshot()
        assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {}
    finally:
        _restore_defaults(objs)
        GL.glDeleteTextures(1, [bad_out])


def test_touched_state_list_is_what_guest_state_restores():
    """The documented list names the 2D binding, both pixel-buffer bindings and all 16 pixel-store values."""
    from engine_bridge.gl.state import PIXEL_STORE_PARAMS, TOUCHED_STATE

    assert len(PIXEL_STORE_PARAMS) == 16
    assert "GL_PIXEL_PACK_BUFFER_BINDING" in TOUCHED_STATE and "GL_PIXEL_UNPACK_BUFFER_BINDING" in TOUCHED_STATE
    assert "GL_PACK_ROW_LENGTH" in TOUCHED_STATE and "GL_UNPACK_SKIP_ROWS" in TOUCHED_STATE
    assert len(TOUCHED_STATE) == 3 + 16
