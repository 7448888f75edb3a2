"""Small GL helpers shared by the passes: render-target binding that restores the host's state."""

from __future__ import annotations

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL


class SavedTarget:
    """Context manager saving and restoring the draw/read framebuffer bindings, the viewport and the
    blend / depth-test / scissor enables, so a pass leaves the host's state as it found it."""

    _CAPS = (GL.GL_BLEND, GL.GL_DEPTH_TEST, GL.GL_SCISSOR_TEST, GL.GL_CULL_FACE)

    def __enter__(self) -> SavedTarget:
        self._draw = int(GL.glGetIntegerv(GL.GL_DRAW_FRAMEBUFFER_BINDING))
        self._read = int(GL.glGetIntegerv(GL.GL_READ_FRAMEBUFFER_BINDING))
        self._viewport = [int(v) for v in GL.glGetIntegerv(GL.GL_VIEWPORT)]
        self._caps = {cap: bool(GL.glIsEnabled(cap)) for cap in self._CAPS}
        for cap in self._CAPS:
            GL.glDisable(cap)
        return self

    def __exit__(self, *exc) -> None:
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._draw)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._read)
        GL.glViewport(*self._viewport)
        for cap, enabled in self._caps.items():
            (GL.glEnable if enabled else GL.glDisable)(cap)


def attach_color(fbo: int, texture: int, width: int, height: int) -> None:
    """Bind ``fbo`` as the draw framebuffer with ``texture`` as colour attachment 0 and set the viewport."""
    attach_colors(fbo, (texture,), width, height)


def attach_colors(fbo: int, textures: tuple[int, ...], width: int, height: int) -> None:
    """Like :func:`attach_color` with ``textures[i]`` as colour attachment ``i`` (multiple render targets)."""
    GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, fbo)
    for i, texture in enumerate(textures):
        GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0 + i, GL.GL_TEXTURE_2D,
                                  texture, 0)
    GL.glDrawBuffers(len(textures), [GL.GL_COLOR_ATTACHMENT0 + i for i in range(len(textures))])
    status = GL.glCheckFramebufferStatus(GL.GL_DRAW_FRAMEBUFFER)
    assert status == GL.GL_FRAMEBUFFER_COMPLETE, f"incomplete framebuffer: 0x{int(status):x}"
    GL.glViewport(0, 0, width, height)
