"""TAAPass: the TAA baseline as a GLSL pass (``shaders/taa.frag.glsl``, ``shaders/taa_sharpen.frag.glsl``).

The algorithm is :mod:`qwplugin.taa`'s, operation for operation (see ``docs/taa.md``); this object owns the
two history textures it ping-pongs between (read the previous output, write the new one), two history-depth
textures (when the configuration uses depth), the sharpened output texture (when ``config.sharpen`` > 0)
and a framebuffer. It saves and restores the host's framebuffer binding and viewport.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.gl.program import fullscreen_triangle, load_glsl_program, set_uniform
from engine_bridge.gl.textures import create_texture, delete_textures
from engine_bridge.passes.base import Port, RenderPass
from engine_bridge.passes.gl_state import SavedTarget, attach_color, attach_colors
from qwplugin.errors import InvalidArgument
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.validate import FrameValues
from qwplugin.taa import TAAConfig, reconstruction_weights

# Texture units: the named binding slots of shaders/taa.frag.glsl.
TAA_UNIT_COLOR = 0
TAA_UNIT_MOTION = 1
TAA_UNIT_HISTORY = 2
TAA_UNIT_DEPTH = 3
TAA_UNIT_HISTORY_DEPTH = 4
FILTER_MODES = {"none": 0, "gaussian": 1}  # shaders/common/taa_resolve.glsl TAA_FILTER_*
HISTORY_FORMATS = {"RGBA16F": GL.GL_RGBA16F, "RGBA32F": GL.GL_RGBA32F}


class TAAPass(RenderPass):
    """Temporal anti-aliasing: colour + motion (+ linear depth when the configuration uses it) in, resolved
    colour out (linear HDR; sharpened when ``config.sharpen`` > 0, the history never is).

    Args:
        width, height: render size in pixels.
        config: the algorithm's parameters (shared with :class:`qwplugin.taa.TemporalAA`).
        history_format: ``"RGBA16F"`` (default, as engines ship it) or ``"RGBA32F"`` (exact comparisons).
        name, label: what :attr:`info` reports (default ``"taa"``, ``"TAA"``).

    Raises:
        InvalidArgument: bad size, config or history format.
    """

    name = "taa"
    label = "TAA"
    family = "taa"

    def __init__(self, width: int, height: int, config: TAAConfig | None = None,
                 history_format: str = "RGBA16F", *, name: str | None = None, label: str | None = None):
        super().__init__(width, height, name=name, label=label)
        config = TAAConfig() if config is None else config
        if not isinstance(config, TAAConfig):
            raise InvalidArgument("config must be a TAAConfig", field="config", expected="TAAConfig",
                                  actual=type(config).__name__)
        if history_format not in HISTORY_FORMATS:
            raise InvalidArgument("unsupported history format", field="history_format",
                                  expected=" or ".join(HISTORY_FORMATS), actual=repr(history_format))
        self.config = config
        self.history_format = history_format
        self._program = load_glsl_program("fullscreen.vert.glsl", "taa.frag.glsl")
        self._sharpen_program = (load_glsl_program("fullscreen.vert.glsl", "taa_sharpen.frag.glsl")
                                 if config.sharpen > 0.0 else 0)
        self._triangle = fullscreen_triangle()
        self._fbo = int(GL.glGenFramebuffers(1))
        self._history: list[int] = []
        self._history_depth: list[int] = []
        self._display = 0
        self._history_valid = False
        self._write = 0
        self._resize(width, height)

    def inputs(self) -> dict[str, Port]:
        ports = {
            self.INPUT_COLOR: Port(self.INPUT_COLOR, "current colour, linear HDR, jittered, render size",
                                   "RGBA16F"),
            self.INPUT_MOTION: Port(self.INPUT_MOTION, "motion_px: previous = current + motion, render px, "
                                    "+x right, +y down, jitter removed", "RG16F"),
        }
        if self.config.uses_depth:
            ports[self.INPUT_DEPTH] = Port(self.INPUT_DEPTH, "positive linear view depth, render size "
                                           "(needed by dilate_motion / depth_rejection)", "R32F")
        return ports

    def outputs(self) -> dict[str, Port]:
        detail = ("sharpened copy of the history" if self.config.sharpen > 0.0
                  else "also the next frame's history")
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR, f"resolved colour, linear HDR, render size; {detail}",
                                        self.history_format)}

    def _execute(self, inputs: Mapping[str, int], frame: Frame, values: FrameValues) -> dict[str, int]:
        cfg = self.config
        read, write = self._history[1 - self._write], self._history[self._write]
        width, height = self._size
        reset = bool(values.reset or not self._history_valid)
        with SavedTarget():
            if cfg.uses_depth:
                attach_colors(self._fbo, (write, self._history_depth[self._write]), width, height)
            else:
                attach_color(self._fbo, write, width, height)
            prog = self._program
            GL.glUseProgram(prog)
            bindings = [(TAA_UNIT_COLOR, inputs[self.INPUT_COLOR], "u_color"),
                        (TAA_UNIT_MOTION, inputs[self.INPUT_MOTION], "u_motion"),
                        (TAA_UNIT_HISTORY, read, "u_history")]
            if cfg.uses_depth:
                bindings += [(TAA_UNIT_DEPTH, inputs[self.INPUT_DEPTH], "u_depth"),
                             (TAA_UNIT_HISTORY_DEPTH, self._history_depth[1 - self._write], "u_history_depth")]
            for unit, tex, uniform in bindings:
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
                set_uniform(prog, uniform, unit)
            jitter = values.jitter_px
            set_uniform(prog, "u_size_px", (float(width), float(height)))
            set_uniform(prog, "u_jitter_px", jitter)
            set_uniform(prog, "u_reset", reset)
            set_uniform(prog, "u_has_history_depth", bool(cfg.depth_rejection and not reset))
            set_uniform(prog, "u_write_depth", cfg.uses_depth)
            set_uniform(prog, "u_alpha", float(cfg.alpha))
            set_uniform(prog, "u_gamma", float(cfg.gamma))
            set_uniform(prog, "u_unjitter", bool(cfg.unjitter))
            set_uniform(prog, "u_filter_mode", FILTER_MODES[cfg.filter])
            if cfg.filter == "gaussian":
                loc = GL.glGetUniformLocation(prog, "u_recon_weights")
                GL.glUniform1fv(loc, 9, reconstruction_weights(jitter, cfg.filter_sigma_px))
            set_uniform(prog, "u_dilate_motion", bool(cfg.dilate_motion))
            set_uniform(prog, "u_depth_rejection", bool(cfg.depth_rejection))
            set_uniform(prog, "u_depth_keep", float(np.float32(1.0) - np.float32(cfg.depth_tolerance)))
            set_uniform(prog, "u_perceptual_clip", bool(cfg.perceptual_clip))
            set_uniform(prog, "u_motion_feedback", float(cfg.motion_feedback))
            set_uniform(prog, "u_clip_feedback", float(cfg.clip_feedback))
            set_uniform(prog, "u_feedback_max", float(cfg.feedback_max))
            self._triangle.draw()
            output = write
            if cfg.sharpen > 0.0:
                attach_color(self._fbo, self._display, width, height)
                GL.glUseProgram(self._sharpen_program)
                GL.glActiveTexture(GL.GL_TEXTURE0)
                GL.glBindTexture(GL.GL_TEXTURE_2D, write)
                set_uniform(self._sharpen_program, "u_resolved", 0)
                set_uniform(self._sharpen_program, "u_size_px", (float(width), float(height)))
                set_uniform(self._sharpen_program, "u_strength", float(cfg.sharpen))
                self._triangle.draw()
                output = self._display
            for unit, _, _ in reversed(bindings):
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
            GL.glUseProgram(0)
        self._history_valid = True
        self._write = 1 - self._write
        return {self.OUTPUT_COLOR: output}

    def _reset(self) -> None:
        self._history_valid = False

    def _resize(self, width: int, height: int) -> None:
        delete_textures(*self._history, *self._history_depth, *([self._display] if self._display else []))
        fmt = HISTORY_FORMATS[self.history_format]
        self._history = [create_texture(width, height, fmt) for _ in range(2)]
        self._history_depth = ([create_texture(width, height, GL.GL_R32F) for _ in range(2)]
                               if self.config.uses_depth else [])
        self._display = create_texture(width, height, fmt) if self.config.sharpen > 0.0 else 0
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

    def _close(self) -> None:
        delete_textures(*self._history, *self._history_depth, *([self._display] if self._display else []))
        self._history, self._history_depth, self._display = [], [], 0
        GL.glDeleteFramebuffers(1, [self._fbo])
        GL.glDeleteProgram(self._program)
        if self._sharpen_program:
            GL.glDeleteProgram(self._sharpen_program)
        self._triangle.release()
