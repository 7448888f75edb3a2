"""TAAPass: the classic TAA baseline as a GLSL pass (``shaders/taa.frag.glsl``).

The algorithm is :mod:`qwplugin.taa`'s, operation for operation (see ``docs/taa.md``); this object owns the
two history textures it ping-pongs between (read the previous output, write the new one, which is also the
pass output) and a framebuffer. It saves and restores the host's framebuffer binding and viewport.
"""

from __future__ import annotations

from collections.abc import Mapping

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.gl.program import fullscreen_triangle, load_program, set_uniform
from engine_bridge.gl.textures import create_texture, delete_textures
from engine_bridge.passes.base import PassFrame, Port, RenderPass, check_inputs, check_size
from engine_bridge.passes.gl_state import SavedTarget, attach_color
from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.taa import TAAConfig

# Texture units: the named binding slots of shaders/taa.frag.glsl.
TAA_UNIT_COLOR = 0
TAA_UNIT_MOTION = 1
TAA_UNIT_HISTORY = 2
HISTORY_FORMATS = {"RGBA16F": GL.GL_RGBA16F, "RGBA32F": GL.GL_RGBA32F}


class TAAPass(RenderPass):
    """Temporal anti-aliasing: colour + motion in, resolved colour out (linear HDR).

    Args:
        width, height: render size in pixels.
        config: the algorithm's parameters (shared with :class:`qwplugin.taa.TemporalAA`).
        history_format: ``"RGBA16F"`` (default, as engines ship it) or ``"RGBA32F"`` (exact comparisons).

    Raises:
        InvalidArgument: bad size, config or history format.
    """

    name = "taa"
    INPUT_COLOR = "color"
    INPUT_MOTION = "motion_px"
    OUTPUT_COLOR = "color"

    def __init__(self, width: int, height: int, config: TAAConfig = TAAConfig(),
                 history_format: str = "RGBA16F"):
        check_size(width, height)
        if not isinstance(config, TAAConfig):
            raise InvalidArgument("config must be a TAAConfig", field="config", expected="TAAConfig",
                                  actual=type(config).__name__)
        if history_format not in HISTORY_FORMATS:
            raise InvalidArgument("unsupported history format", field="history_format",
                                  expected=" or ".join(HISTORY_FORMATS), actual=repr(history_format))
        self.config = config
        self.history_format = history_format
        self._program = load_program("fullscreen.vert.glsl", "taa.frag.glsl")
        self._triangle = fullscreen_triangle()
        self._fbo = int(GL.glGenFramebuffers(1))
        self._history: list[int] = []
        self._history_valid = False
        self._write = 0
        self._closed = False
        self.resize(width, height)

    @property
    def size(self) -> tuple[int, int]:
        """Render size (width, height) in pixels."""
        return self._size

    def inputs(self) -> dict[str, Port]:
        return {
            self.INPUT_COLOR: Port(self.INPUT_COLOR, "current colour, linear HDR, jittered, render size",
                                   "RGBA16F"),
            self.INPUT_MOTION: Port(self.INPUT_MOTION, "motion_px: previous = current + motion, render px, "
                                    "+x right, +y down, jitter removed", "RG16F"),
        }

    def outputs(self) -> dict[str, Port]:
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR, "resolved colour, linear HDR, render size; also "
                                        "the next frame's history", self.history_format)}

    def execute(self, inputs: Mapping[str, int], frame: PassFrame) -> dict[str, int]:
        if self._closed:
            raise InvalidOperation("TAAPass.execute called after close()")
        if not isinstance(frame, PassFrame):
            raise InvalidArgument("frame must be a PassFrame", field="frame", expected="PassFrame",
                                  actual=type(frame).__name__)
        check_inputs(self, inputs, self._size)
        read, write = self._history[1 - self._write], self._history[self._write]
        width, height = self._size
        with SavedTarget():
            attach_color(self._fbo, write, width, height)
            GL.glUseProgram(self._program)
            for unit, tex, uniform in ((TAA_UNIT_COLOR, inputs[self.INPUT_COLOR], "u_color"),
                                       (TAA_UNIT_MOTION, inputs[self.INPUT_MOTION], "u_motion"),
                                       (TAA_UNIT_HISTORY, read, "u_history")):
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
                set_uniform(self._program, uniform, unit)
            set_uniform(self._program, "u_size_px", (float(width), float(height)))
            set_uniform(self._program, "u_jitter_px", tuple(float(v) for v in frame.jitter_px))
            set_uniform(self._program, "u_reset", bool(frame.reset or not self._history_valid))
            set_uniform(self._program, "u_alpha", float(self.config.alpha))
            set_uniform(self._program, "u_gamma", float(self.config.gamma))
            set_uniform(self._program, "u_unjitter", bool(self.config.unjitter))
            self._triangle.draw()
            for unit in (TAA_UNIT_HISTORY, TAA_UNIT_MOTION, TAA_UNIT_COLOR):
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
            GL.glUseProgram(0)
        self._history_valid = True
        self._write = 1 - self._write
        return {self.OUTPUT_COLOR: write}

    def reset(self) -> None:
        self._history_valid = False

    def resize(self, width: int, height: int) -> None:
        check_size(width, height)
        if self._closed:
            raise InvalidOperation("TAAPass.resize called after close()")
        delete_textures(*self._history)
        fmt = HISTORY_FORMATS[self.history_format]
        self._history = [create_texture(width, height, fmt) for _ in range(2)]
        self._size = (width, height)
        self._write = 0
        self._history_valid = False

    def get_properties(self) -> dict:
        return {**self.config.to_dict(), "history_format": self.history_format}

    @classmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> TAAPass:
        props = dict(properties)
        history_format = props.pop("history_format", "RGBA16F")
        return cls(width, height, TAAConfig.from_dict(props), history_format)

    def close(self) -> None:
        if self._closed:
            return
        delete_textures(*self._history)
        self._history = []
        GL.glDeleteFramebuffers(1, [self._fbo])
        GL.glDeleteProgram(self._program)
        self._triangle.release()
        self._closed = True
