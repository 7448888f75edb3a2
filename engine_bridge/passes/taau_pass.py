"""TAAUPass: temporal upscaling as a GLSL pass (``shaders/taau.frag.glsl``, then ``taa_sharpen.frag.glsl``).

The algorithm is :mod:`qwplugin.taau`'s, operation for operation (``docs/upscaling.md``). Inputs at the render
size, output and history at the display size. The pass owns two display-size history textures it ping-pongs
between, one render-size history-depth texture (a copy of the previous frame's depth input, made by a blit
after the resolve, when the configuration uses depth), the sharpened output texture (``config.sharpen`` > 0)
and two framebuffers. It saves and restores the host's framebuffer bindings and viewport.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.gl.program import fullscreen_triangle, load_glsl_program, set_uniform
from engine_bridge.gl.textures import create_texture, delete_textures
from engine_bridge.passes.base import PassFrame, Port, RenderPass, check_inputs, check_size
from engine_bridge.passes.gl_state import SavedTarget, attach_color
from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.taau import TAAUConfig
from qwplugin.upscale import scale_of

# Texture units: the named binding slots of shaders/taau.frag.glsl.
TAAU_UNIT_COLOR = 0
TAAU_UNIT_MOTION = 1
TAAU_UNIT_HISTORY = 2
TAAU_UNIT_DEPTH = 3
TAAU_UNIT_HISTORY_DEPTH = 4
HISTORY_FORMATS = {"RGBA16F": GL.GL_RGBA16F, "RGBA32F": GL.GL_RGBA32F}


class TAAUPass(RenderPass):
    """Temporal upscaling: colour + motion (+ linear depth when the configuration uses it) at the render size
    in, resolved colour at the display size out (linear HDR; sharpened when ``config.sharpen`` > 0, the
    history never is).

    Args:
        width, height: render size in pixels.
        display_width, display_height: display size, 1x to 3x the render size per axis.
        config: the algorithm's parameters (shared with :class:`qwplugin.taau.TemporalUpscaler`).
        history_format: ``"RGBA16F"`` (default) or ``"RGBA32F"`` (exact comparisons).

    Raises:
        InvalidArgument: bad sizes (field ``display_size`` for a bad ratio), config or history format.
    """

    name = "taau"
    INPUT_COLOR = "color"
    INPUT_MOTION = "motion_px"
    INPUT_DEPTH = "depth"
    OUTPUT_COLOR = "color"

    def __init__(self, width: int, height: int, display_width: int, display_height: int,
                 config: TAAUConfig | None = None, history_format: str = "RGBA16F"):
        config = TAAUConfig() if config is None else config
        if not isinstance(config, TAAUConfig):
            raise InvalidArgument("config must be a TAAUConfig", field="config", expected="TAAUConfig",
                                  actual=type(config).__name__)
        if history_format not in HISTORY_FORMATS:
            raise InvalidArgument("unsupported history format", field="history_format",
                                  expected=" or ".join(HISTORY_FORMATS), actual=repr(history_format))
        self.config = config
        self.history_format = history_format
        self._program = load_glsl_program("fullscreen.vert.glsl", "taau.frag.glsl")
        self._sharpen_program = (load_glsl_program("fullscreen.vert.glsl", "taa_sharpen.frag.glsl")
                                 if config.sharpen > 0.0 else 0)
        self._triangle = fullscreen_triangle()
        self._fbo, self._read_fbo = (int(x) for x in GL.glGenFramebuffers(2))
        self._history: list[int] = []
        self._history_depth = self._display = 0
        self._closed = False
        self.resize(width, height, display_width, display_height)

    @property
    def size(self) -> tuple[int, int]:
        """Render size (width, height) in pixels."""
        return self._size

    @property
    def display_size(self) -> tuple[int, int]:
        """Display (output) size (width, height) in pixels."""
        return self._display_size

    def inputs(self) -> dict[str, Port]:
        ports = {
            self.INPUT_COLOR: Port(self.INPUT_COLOR, "current colour, linear HDR, jittered, render size",
                                   "RGBA16F"),
            self.INPUT_MOTION: Port(self.INPUT_MOTION, "motion_px: previous = current + motion, render px, "
                                    "+x right, +y down, jitter removed, render size", "RG16F"),
        }
        if self.config.uses_depth:
            ports[self.INPUT_DEPTH] = Port(self.INPUT_DEPTH, "positive linear view depth, render size",
                                           "R32F")
        return ports

    def outputs(self) -> dict[str, Port]:
        detail = "sharpened copy of the history" if self.config.sharpen > 0.0 else "also the next history"
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR,
                                        f"resolved colour, linear HDR, display size; {detail}",
                                        self.history_format)}

    def execute(self, inputs: Mapping[str, int], frame: PassFrame) -> dict[str, int]:
        if self._closed:
            raise InvalidOperation("TAAUPass.execute called after close()")
        if not isinstance(frame, PassFrame):
            raise InvalidArgument("frame must be a PassFrame", field="frame", expected="PassFrame",
                                  actual=type(frame).__name__)
        check_inputs(self, inputs, self._size)
        cfg = self.config
        (w, h), (dw, dh) = self._size, self._display_size
        read, write = self._history[1 - self._write], self._history[self._write]
        reset = bool(frame.reset or not self._history_valid)
        with SavedTarget():
            attach_color(self._fbo, write, dw, dh)
            prog = self._program
            GL.glUseProgram(prog)
            bindings = [(TAAU_UNIT_COLOR, inputs[self.INPUT_COLOR], "u_color"),
                        (TAAU_UNIT_MOTION, inputs[self.INPUT_MOTION], "u_motion"),
                        (TAAU_UNIT_HISTORY, read, "u_history")]
            if cfg.uses_depth:
                bindings += [(TAAU_UNIT_DEPTH, inputs[self.INPUT_DEPTH], "u_depth"),
                             (TAAU_UNIT_HISTORY_DEPTH, self._history_depth, "u_history_depth")]
            for unit, tex, uniform in bindings:
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
                set_uniform(prog, uniform, unit)
            f32 = np.float32
            uniforms = {
                "u_render_size_px": (float(w), float(h)), "u_display_size_px": (float(dw), float(dh)),
                "u_inv_two_display": (f32(1.0) / f32(2 * dw), f32(1.0) / f32(2 * dh)),
                "u_scale": (f32(dw) / f32(w), f32(dh) / f32(h)), "u_jitter_px": tuple(frame.jitter_px),
                "u_reset": reset, "u_has_history_depth": bool(cfg.depth_rejection and not reset),
                "u_alpha": float(cfg.alpha), "u_gamma": float(cfg.gamma),
                "u_inv_two_sigma_sq": cfg.inv_two_sigma_sq(),
                "u_dilate_motion": cfg.dilate_motion, "u_depth_rejection": cfg.depth_rejection,
                "u_depth_keep": float(f32(1.0) - f32(cfg.depth_tolerance)),
                "u_perceptual_clip": cfg.perceptual_clip,
                "u_motion_feedback": float(cfg.motion_feedback), "u_clip_feedback": float(cfg.clip_feedback),
                "u_feedback_max": float(cfg.feedback_max)}
            for name, value in uniforms.items():
                set_uniform(prog, name, value)
            self._triangle.draw()
            output = write
            if cfg.sharpen > 0.0:
                attach_color(self._fbo, self._display, dw, dh)
                GL.glUseProgram(self._sharpen_program)
                GL.glActiveTexture(GL.GL_TEXTURE0)
                GL.glBindTexture(GL.GL_TEXTURE_2D, write)
                set_uniform(self._sharpen_program, "u_resolved", 0)
                set_uniform(self._sharpen_program, "u_size_px", (float(dw), float(dh)))
                set_uniform(self._sharpen_program, "u_strength", float(cfg.sharpen))
                self._triangle.draw()
                output = self._display
            for unit, _, _ in reversed(bindings):
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
            GL.glUseProgram(0)
            if cfg.uses_depth:  # keep this frame's depth for the next frame's depth test
                self._copy_depth(inputs[self.INPUT_DEPTH], w, h)
        self._history_valid = True
        self._write = 1 - self._write
        return {self.OUTPUT_COLOR: output}

    def _copy_depth(self, depth_tex: int, w: int, h: int) -> None:
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._read_fbo)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D,
                                  depth_tex, 0)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        attach_color(self._fbo, self._history_depth, w, h)
        GL.glBlitFramebuffer(0, 0, w, h, 0, 0, w, h, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)

    def reset(self) -> None:
        self._history_valid = False

    def resize(self, width: int, height: int, display_width: int | None = None,
               display_height: int | None = None) -> None:
        """Reallocate for a new render size (and display size; default: keep the current one); drops
        the history."""
        check_size(width, height)
        if self._closed:
            raise InvalidOperation("TAAUPass.resize called after close()")
        display = self._display_size if display_width is None else (display_width, display_height)
        scale_of((width, height), display)  # validates (field display_size)
        delete_textures(*self._history, *[t for t in (self._history_depth, self._display) if t])
        fmt = HISTORY_FORMATS[self.history_format]
        self._history = [create_texture(display[0], display[1], fmt) for _ in range(2)]
        self._history_depth = create_texture(width, height, GL.GL_R32F) if self.config.uses_depth else 0
        self._display = create_texture(display[0], display[1], fmt) if self.config.sharpen > 0.0 else 0
        self._size, self._display_size = (width, height), (int(display[0]), int(display[1]))
        self._write = 0
        self._history_valid = False

    def get_properties(self) -> dict:
        return {**self.config.to_dict(), "history_format": self.history_format,
                "display_size": list(self._display_size)}

    @classmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> TAAUPass:
        """Build from :meth:`get_properties` output; a missing ``display_size`` means the render size."""
        props = dict(properties)
        history_format = props.pop("history_format", "RGBA16F")
        display = props.pop("display_size", (width, height))
        return cls(width, height, int(display[0]), int(display[1]), TAAUConfig.from_dict(props),
                   history_format)

    def close(self) -> None:
        if self._closed:
            return
        delete_textures(*self._history, *[t for t in (self._history_depth, self._display) if t])
        self._history, self._history_depth, self._display = [], 0, 0
        GL.glDeleteFramebuffers(2, [self._fbo, self._read_fbo])
        GL.glDeleteProgram(self._program)
        if self._sharpen_program:
            GL.glDeleteProgram(self._sharpen_program)
        self._triangle.release()
        self._closed = True
