"""Textures and programs: upload then read-back is exact, the row flip is right (checked against
glReadPixels of GL row H-1), shader includes/defines and compile errors."""

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)

from qwplugin.errors import InvalidArgument

pytestmark = pytest.mark.gl


def _formats():
    from OpenGL import GL

    rng = np.random.default_rng(1)
    # values exactly representable in the stored format, so the round trip must be bit-exact
    return [
        (GL.GL_RGBA8, rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)),
        (GL.GL_RGBA16F, rng.standard_normal((5, 7, 4)).astype(np.float16)),
        (GL.GL_RG16F, rng.standard_normal((5, 7, 2)).astype(np.float16).astype(np.float32)),
        (GL.GL_R32F, rng.standard_normal((5, 7)).astype(np.float32)),
        (GL.GL_RGBA32F, (rng.standard_normal((5, 7, 4)) * 100).astype(np.float32)),
    ]


def test_upload_then_read_back_is_exact(gl):
    from engine_bridge.gl.textures import create_texture, delete_textures, read_texture, upload_texture

    for fmt, data in _formats():
        tex = create_texture(data.shape[1], data.shape[0], fmt)
        upload_texture(tex, data)
        out = np.full_like(data, 7)
        assert read_texture(tex, out) is out
        np.testing.assert_array_equal(out, data, err_msg=str(fmt))
        delete_textures(tex)


def test_rgb_read_of_rgba16f_converts_to_float32(gl):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture, delete_textures, read_texture, upload_texture

    data = np.random.default_rng(2).standard_normal((4, 6, 4)).astype(np.float16)
    tex = create_texture(6, 4, GL.GL_RGBA16F)
    upload_texture(tex, data)
    out = np.zeros((4, 6, 3), np.float32)
    read_texture(tex, out)
    np.testing.assert_array_equal(out, data[..., :3].astype(np.float32))
    delete_textures(tex)


def test_row_flip_with_asymmetric_image(gl):
    """Row 0 of the top-down array must be GL's top row (y = H - 1 in glReadPixels)."""
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture, delete_textures, read_texture, upload_texture

    h, w = 6, 4
    data = np.zeros((h, w), np.float32)
    data[0, :] = 1.0  # top row
    data[1, 0] = 2.0  # one more marker: rules out a transpose or a column flip
    tex = create_texture(w, h, GL.GL_R32F)
    upload_texture(tex, data)
    fbo = GL.glGenFramebuffers(1)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
    GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
    GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
    gl_top = np.zeros((1, w), np.float32)
    GL.glReadPixels(0, h - 1, w, 1, GL.GL_RED, GL.GL_FLOAT, gl_top)
    gl_second = np.zeros((1, w), np.float32)
    GL.glReadPixels(0, h - 2, w, 1, GL.GL_RED, GL.GL_FLOAT, gl_second)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
    GL.glDeleteFramebuffers(1, [fbo])
    np.testing.assert_array_equal(gl_top[0], [1, 1, 1, 1])
    np.testing.assert_array_equal(gl_second[0], [2, 0, 0, 0])
    out = np.zeros_like(data)
    read_texture(tex, out)
    np.testing.assert_array_equal(out, data)
    delete_textures(tex)


def test_read_back_checks_its_output(gl):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture, delete_textures, read_texture

    tex = create_texture(8, 4, GL.GL_RGBA16F)
    with pytest.raises(InvalidArgument, match="size"):
        read_texture(tex, np.zeros((8, 4, 4), np.float32))
    with pytest.raises(InvalidArgument, match="dtype"):
        read_texture(tex, np.zeros((4, 8, 4), np.float64))
    with pytest.raises(InvalidArgument, match="contiguous"):
        read_texture(tex, np.zeros((4, 16, 4), np.float32)[:, ::2])
    with pytest.raises(InvalidArgument):
        create_texture(0, 4, GL.GL_RGBA16F)
    delete_textures(tex)


def test_program_includes_defines_and_errors(gl, tmp_path, monkeypatch):
    from engine_bridge.gl import program

    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "f.glsl").write_text("float f() { return VALUE; }\n")
    (tmp_path / "ok.frag.glsl").write_text('#version 410 core\n#include "common/f.glsl"\n'
                                           "out vec4 o; void main() { o = vec4(f()); }\n")
    (tmp_path / "bad.frag.glsl").write_text("#version 410 core\nvoid main() { undefined_thing = 1; }\n")
    (tmp_path / "fullscreen.vert.glsl").write_text(
        (program.shader_dir() / "fullscreen.vert.glsl").read_text())
    monkeypatch.setattr(program, "shader_dir", lambda: tmp_path)
    src = program.preprocess("ok.frag.glsl", {"VALUE": "0.5"})
    assert src.splitlines()[1] == "#define VALUE 0.5" and "float f()" in src and "#include" not in src
    prog = program.load_program("fullscreen.vert.glsl", "ok.frag.glsl", {"VALUE": "0.5"})
    assert prog > 0
    with pytest.raises(program.ShaderCompileError, match="bad.frag.glsl"):
        program.load_program("fullscreen.vert.glsl", "bad.frag.glsl")
    with pytest.raises(InvalidArgument, match="not found"):
        program.load_program("fullscreen.vert.glsl", "missing.frag.glsl")


def test_fullscreen_triangle_covers_the_viewport(gl, tmp_path, monkeypatch):
    from OpenGL import GL

    from engine_bridge.gl import program
    from engine_bridge.gl.textures import create_texture, delete_textures, read_texture

    (tmp_path / "uv.frag.glsl").write_text("#version 410 core\nin vec2 ss_uv; out vec4 o;\n"
                                           "void main() { o = vec4(ss_uv, 1.0, 1.0); }\n")
    (tmp_path / "fullscreen.vert.glsl").write_text((program.shader_dir() / "fullscreen.vert.glsl").read_text())
    monkeypatch.setattr(program, "shader_dir", lambda: tmp_path)
    prog = program.load_program("fullscreen.vert.glsl", "uv.frag.glsl")
    w, h = 8, 4
    tex = create_texture(w, h, GL.GL_RGBA32F)
    fbo = GL.glGenFramebuffers(1)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
    GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
    GL.glViewport(0, 0, w, h)
    GL.glUseProgram(prog)
    tri = program.fullscreen_triangle()
    tri.draw()
    out = np.zeros((h, w, 4), np.float32)
    read_texture(tex, out)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
    GL.glDeleteFramebuffers(1, [fbo])
    tri.release()
    delete_textures(tex)
    # ss_uv at pixel centres: u = (j + 0.5) / W, v = (GL row + 0.5) / H with GL row = H - 1 - i
    j = (np.arange(w) + 0.5) / w
    i = (h - 1 - np.arange(h) + 0.5) / h
    np.testing.assert_allclose(out[..., 0], np.broadcast_to(j, (h, w)), atol=1e-6)
    np.testing.assert_allclose(out[..., 1], np.broadcast_to(i[:, None], (h, w)), atol=1e-6)
