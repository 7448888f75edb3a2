"""NoAAPass: shows the raw jittered colour (copies it into the pass's own output texture).

The "off" position of the anti-aliasing toggle; it has the same protocol as the TAA and QW-Net passes so the
renderer swaps objects instead of branching. The copy is a ``glBlitFramebuffer`` (GL 3.0, nearest): exact for
same-format textures, and a format conversion when the host's colour is RGBA32F.
"""

from __future__ import annotations

from collections.abc import Mapping

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.gl.textures import create_texture, delete_textures
from engine_bridge.passes.base import Port, RenderPass
from engine_bridge.passes.gl_state import SavedTarget, attach_color
from qwplugin.errors import InvalidArgument
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.validate import FrameValues


class NoAAPass(RenderPass):
    """No anti-aliasing: output = input colour (RGBA16F), every frame independent.

    Args:
        width, height: render size in pixels.
        name, label: what :attr:`info` reports (default ``"noaa"``, ``"no AA"``).

    Raises:
        InvalidArgument: bad size.
    """

    name = "noaa"
    label = "no AA"
    family = "noaa"

    def __init__(self, width: int, height: int, *, name: str | None = None, label: str | None = None):
        super().__init__(width, height, name=name, label=label)
        self._read_fbo = int(GL.glGenFramebuffers(1))
        self._draw_fbo = int(GL.glGenFramebuffers(1))
        self._output = 0
        self._resize(width, height)

    def inputs(self) -> dict[str, Port]:
        return {self.INPUT_COLOR: Port(self.INPUT_COLOR, "current colour, linear HDR, render size",
                                       "RGBA16F")}

    def outputs(self) -> dict[str, Port]:
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR, "the input colour, unchanged", "RGBA16F")}

    def _execute(self, inputs: Mapping[str, int], frame: Frame, values: FrameValues) -> dict[str, int]:
        width, height = self._size
        with SavedTarget():
            attach_color(self._draw_fbo, self._output, width, height)
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._read_fbo)
            GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D,
                                      inputs[self.INPUT_COLOR], 0)
            GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
            GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT,
                                 GL.GL_NEAREST)
            GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
        return {self.OUTPUT_COLOR: self._output}

    def _resize(self, width: int, height: int) -> None:
        delete_textures(self._output)
        self._output = create_texture(width, height, GL.GL_RGBA16F)

    def get_properties(self) -> dict:
        return {}

    @classmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> NoAAPass:
        if properties:
            raise InvalidArgument("NoAAPass has no properties", field=", ".join(sorted(properties)),
                                  expected="{}", actual=repr(dict(properties)))
        return cls(width, height)

    def _close(self) -> None:
        delete_textures(self._output)
        self._output = 0
        GL.glDeleteFramebuffers(2, [self._read_fbo, self._draw_fbo])
