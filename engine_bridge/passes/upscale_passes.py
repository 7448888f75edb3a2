"""The GL upscalers as reconstructors: ``taau`` (the TAAU pass) and ``INNER+bilinear|bicubic|lanczos``.

Importing this module (``import engine_bridge.passes`` does) registers the GL implementations of the
registry's upscaling names (:mod:`qwplugin.runtime.registry`, target ``"gl"``)::

    import engine_bridge.passes
    pass_ = engine_bridge.passes.make_pass("taau", 480, 270, display_size=(960, 540))

Inputs are render-size textures (the input ports check it, naming the port); the output texture is the
display size.

- :class:`TAAUMethodPass`: :class:`~engine_bridge.passes.taau_pass.TAAUPass` (``shaders/taau.frag.glsl``,
  the twin of :mod:`qwplugin.taau`) behind the reconstructor protocol: the frame's values are checked once
  (:func:`qwplugin.runtime.validate.check_values`), ``resize(render_size, display_size)``, ``info`` with
  the sizes.
- :class:`SpatialUpscalePass`: any render-size GL pass of the registry (``noaa``, ``taa``, ``qwnet-int4``,
  ...) followed by ``shaders/upscale_spatial.frag.glsl``, the GL twin of
  :func:`qwplugin.ops.resample.upscale` (the same tap weights, computed on the host).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.gl.program import fullscreen_triangle, load_glsl_program, set_uniform
from engine_bridge.gl.textures import create_texture, delete_textures, upload_texture
from engine_bridge.passes.base import Port, RenderPass, check_inputs
from engine_bridge.passes.gl_state import SavedTarget, attach_color
from engine_bridge.passes.taau_pass import HISTORY_FORMATS, TAAUPass
from qwplugin.errors import InvalidArgument
from qwplugin.runtime import registry
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.reconstructor import MethodInfo
from qwplugin.runtime.upscalers import SPATIAL_LABELS, check_sizes, size_details
from qwplugin.runtime.validate import FrameValues, check_values

UNIT_SOURCE = 0
UNIT_TAPS_X = 1
UNIT_TAPS_Y = 2
"""Texture units: the named binding slots of ``shaders/upscale_spatial.frag.glsl``."""

OUTPUT_FORMATS = HISTORY_FORMATS
"""Internal formats of the upscalers' output texture (``RGBA16F`` default, ``RGBA32F`` for exact tests)."""


def _sizes(render_size, display_size):
    (w, h), (dw, dh) = check_sizes(render_size, display_size)
    return (w, h), (dw, dh)


def _resize_args(render_size, display_size, rest):
    """``resize(render_size, display_size)`` or the older ``resize(width, height[, dw, dh])``."""
    if isinstance(render_size, int) and not isinstance(render_size, bool):
        width, height = render_size, display_size
        display = (rest[0], rest[1]) if len(rest) == 2 and rest[0] is not None else None
        return (width, height), display
    return render_size, display_size


class TAAUMethodPass(TAAUPass):
    """The TAAU GL pass behind the reconstructor protocol (see the module docstring).

    Args:
        width, height: render size in pixels.
        display_size: ``(W, H)`` of the output, 1x to 3x the render size per axis (None: the render size).
        config: a :class:`~qwplugin.taau.TAAUConfig` (default: the tuned defaults).
        history_format: ``"RGBA16F"`` or ``"RGBA32F"``.
        name, label: what :attr:`info` reports.

    Raises:
        InvalidArgument: bad sizes (field ``display_size`` for a bad ratio), config or history format.
    """

    family = "taa"

    def __init__(self, width: int, height: int, display_size=None, config=None, history_format: str = "RGBA16F",
                 *, name: str | None = None, label: str | None = None):
        (w, h), (dw, dh) = _sizes((width, height), display_size)
        self._method_name, self._method_label = name or "taau", label or "TAAU"
        super().__init__(w, h, dw, dh, config, history_format)

    @property
    def info(self) -> MethodInfo:
        """What runs: the GLSL TAAU on the current GL renderer, with the sizes."""
        renderer = GL.glGetString(GL.GL_RENDERER)
        renderer = renderer.decode() if isinstance(renderer, bytes) else str(renderer)
        (w, h), (dw, dh) = self.size, self.display_size
        return MethodInfo(name=self._method_name, label=self._method_label,
                          description=f"TAAU GLSL on {renderer}, render {w}x{h} -> display {dw}x{dh}",
                          summary=f"TAAU GLSL, {w}x{h} -> {dw}x{dh}", uses_depth=self.config.uses_depth,
                          uses_jitter=True, family="taa", render_size=self.size, display_size=self.display_size,
                          details=size_details(self.size, self.display_size))

    def execute(self, inputs: Mapping[str, int], frame: Frame) -> dict[str, int]:
        """Run on render-size textures: the frame's values checked once, then the TAAU pass.

        Raises:
            InvalidArgument: a bad frame value, or an input missing or not the render size (naming the port).
            InvalidOperation: after ``close()``.
        """
        self._require_open("execute")
        values = check_values(frame, f"{type(self).__name__}.execute")
        return super().execute(inputs, Frame(**values.as_fields()))

    def resize(self, render_size, display_size=None, *rest) -> None:
        """New render size (and display size; None: keep the display size if it still fits, else the render
        size); drops the history.

        Raises:
            InvalidArgument: bad sizes.
            InvalidOperation: after ``close()``.
        """
        render, display = _resize_args(render_size, display_size, rest)
        self._require_open("resize")
        try:
            width, height = render
        except (TypeError, ValueError):
            raise InvalidArgument("render_size must be (width, height)", field="render_size",
                                  expected="(width, height)", actual=repr(render)) from None
        if display is None:
            display = getattr(self, "_display_size", (width, height))
        (w, h), (dw, dh) = _sizes((width, height), display)
        super().resize(w, h, dw, dh)

    def timings_ms(self) -> dict:
        """No self-timing (the callers time the pass between ``glFinish`` calls)."""
        return {}


def tap_tables(source_len: int, target_len: int, method: str) -> tuple[np.ndarray, int]:
    """The taps of :func:`qwplugin.ops.resample.resample_matrix` per output index: ``(target_len, taps, 2)``
    float32 (source index, weight; padding taps have weight 0) and ``taps``.

    Examples:
        >>> t, n = tap_tables(2, 4, "bilinear")
        >>> n, t[0].tolist()
        (2, [[0.0, 1.0], [0.0, 0.0]])
    """
    from qwplugin.ops.resample import resample_matrix

    matrix = resample_matrix(source_len, target_len, method).astype(np.float32)
    counts = (matrix != 0).sum(axis=1)
    taps = max(1, int(counts.max()))
    table = np.zeros((target_len, taps, 2), np.float32)
    for row in range(target_len):
        cols = np.flatnonzero(matrix[row])
        table[row, :len(cols), 0] = cols
        table[row, :len(cols), 1] = matrix[row, cols]
    return table, taps


class SpatialUpscalePass(RenderPass):
    """A render-size GL pass, then a spatial upscaler to the display size (see the module docstring).

    Args:
        inner: a GL pass of the render size (owned: closed by :meth:`close`).
        method: ``"bilinear"``, ``"bicubic"`` or ``"lanczos"``.
        display_size: ``(W, H)``, 1x to 3x the render size per axis.
        output_format: ``"RGBA16F"`` (default) or ``"RGBA32F"``.
        name, label: what :attr:`info` reports.

    Raises:
        InvalidArgument: bad method, sizes or output format.
    """

    name = "spatial-upscale"

    def __init__(self, inner: RenderPass, method: str, display_size, output_format: str = "RGBA16F", *,
                 name: str | None = None, label: str | None = None):
        from qwplugin.ops.resample import METHODS

        if method not in METHODS:
            raise InvalidArgument("unknown spatial upscaler", field="method", expected=", ".join(METHODS),
                                  actual=repr(method))
        if output_format not in OUTPUT_FORMATS:
            raise InvalidArgument("unsupported output format", field="history_format",
                                  expected=" or ".join(OUTPUT_FORMATS), actual=repr(output_format))
        render, display = _sizes(inner.size, display_size)
        super().__init__(*render, name=name, label=label)
        self.inner, self.method, self.output_format = inner, method, output_format
        self.family = inner.info.family
        self._program = load_glsl_program("fullscreen.vert.glsl", "upscale_spatial.frag.glsl")
        self._triangle = fullscreen_triangle()
        self._fbo = int(GL.glGenFramebuffers(1))
        self._output = self._taps_x = self._taps_y = 0
        self._alloc(render, display)

    @property
    def display_size(self) -> tuple[int, int]:
        """Display (output) size (width, height) in pixels."""
        return self._display_size

    @property
    def info(self) -> MethodInfo:
        """The inner pass's info, with the upscaler and the sizes."""
        i = self.inner.info
        (w, h), (dw, dh) = self.size, self._display_size
        how = f"{SPATIAL_LABELS[self.method]} GLSL upscale {w}x{h} -> {dw}x{dh}"
        return MethodInfo(name=self._info_name(), label=self._info_label(), description=f"{i.description}; then {how}",
                          uses_depth=i.uses_depth, uses_jitter=i.uses_jitter, family=i.family, trained=i.trained,
                          summary=f"{i.summary}; {how}", render_size=self.size, display_size=self._display_size,
                          details={**i.details, **size_details(self.size, self._display_size),
                                   "spatial_upscaler": self.method, "inner": i.name})

    def timings_ms(self) -> dict:
        """The inner pass's own timings."""
        return self.inner.timings_ms()

    def inputs(self) -> dict[str, Port]:
        return self.inner.inputs()

    def outputs(self) -> dict[str, Port]:
        return {self.OUTPUT_COLOR: Port(self.OUTPUT_COLOR, f"{self.inner.info.label} upscaled with "
                                        f"{SPATIAL_LABELS[self.method]}, linear HDR, display size",
                                        self.output_format)}

    def _execute(self, inputs: Mapping[str, int], frame: Frame, values: FrameValues) -> dict[str, int]:
        source = self.inner.execute(inputs, Frame(**values.as_fields()))[self.inner.OUTPUT_COLOR]
        (w, h), (dw, dh) = self.size, self._display_size
        with SavedTarget():
            attach_color(self._fbo, self._output, dw, dh)
            GL.glUseProgram(self._program)
            bindings = [(UNIT_SOURCE, source, "u_source"), (UNIT_TAPS_X, self._taps_x, "u_taps_x"),
                        (UNIT_TAPS_Y, self._taps_y, "u_taps_y")]
            for unit, tex, uniform in bindings:
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
                set_uniform(self._program, uniform, unit)
            set_uniform(self._program, "u_taps", int(self._taps))
            set_uniform(self._program, "u_render_height", int(h))
            set_uniform(self._program, "u_display_height", int(dh))
            set_uniform(self._program, "u_render_width", int(w))
            set_uniform(self._program, "u_display_width", int(dw))
            self._triangle.draw()
            for unit, _, _ in reversed(bindings):
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
            GL.glUseProgram(0)
        return {self.OUTPUT_COLOR: self._output}

    def _reset(self) -> None:
        self.inner.reset()

    def resize(self, render_size, display_size=None, *rest) -> None:
        """New render size (and display size; None: keep it if it still fits); drops the history.

        Raises:
            InvalidArgument: bad sizes.
            InvalidOperation: after ``close()``.
        """
        render, display = _resize_args(render_size, display_size, rest)
        self._require_open("resize")
        render, display = _sizes(render, display if display is not None else self._display_size)
        self.inner.resize(render)
        self._alloc(render, display)
        self._size = render

    def _alloc(self, render, display) -> None:
        delete_textures(self._output, self._taps_x, self._taps_y)
        (w, h), (dw, dh) = render, display
        tx, taps_x = tap_tables(w, dw, self.method)
        ty, taps_y = tap_tables(h, dh, self.method)
        taps = max(taps_x, taps_y)
        tx = np.pad(tx, ((0, 0), (0, taps - taps_x), (0, 0)))
        ty = np.pad(ty, ((0, 0), (0, taps - taps_y), (0, 0)))
        self._taps_x, self._taps_y = create_texture(taps, dw, GL.GL_RG32F), create_texture(taps, dh, GL.GL_RG32F)
        upload_texture(self._taps_x, np.ascontiguousarray(tx[::-1]))  # GL row k = output index k
        upload_texture(self._taps_y, np.ascontiguousarray(ty[::-1]))
        self._taps = taps
        self._output = create_texture(dw, dh, OUTPUT_FORMATS[self.output_format])
        self._display_size = (dw, dh)

    def get_properties(self) -> dict:
        return {"method": self.method, "display_size": list(self._display_size), "output_format": self.output_format,
                "inner": self.inner.get_properties()}

    @classmethod
    def from_properties(cls, properties: Mapping, width: int, height: int) -> SpatialUpscalePass:
        raise InvalidArgument("build spatial upscaling passes by name (engine_bridge.passes.make_pass)",
                              field="properties", expected="make_pass('taa+lanczos', w, h, display_size=...)",
                              actual=repr(dict(properties)))

    def _close(self) -> None:
        self.inner.close()
        delete_textures(self._output, self._taps_x, self._taps_y)
        self._output = self._taps_x = self._taps_y = 0
        GL.glDeleteFramebuffers(1, [self._fbo])
        GL.glDeleteProgram(self._program)
        self._triangle.release()


# ----------------------------------------------------------------------------------------------------------
# registration (target "gl")


def _taau(name, size, *, display_size=None, config=None, history_format=None, **_):
    return TAAUMethodPass(*size, display_size, config, history_format or "RGBA16F", name=name,
                          label=registry.label(name))


def _spatial(inner: str, method: str):
    def factory(name, size, *, display_size=None, history_format=None, **options):
        inner_pass = registry.make(inner, size, target="gl", history_format=history_format, **options)
        try:
            return SpatialUpscalePass(inner_pass, method, display_size, history_format or "RGBA16F", name=name,
                                      label=registry.label(name))
        except Exception:
            inner_pass.close()
            raise

    return factory


def _register() -> None:
    import engine_bridge.passes  # noqa: F401  (the render-size GL passes the spatial upscalers wrap)

    if "taau" in registry.names("gl"):  # a reload of this module
        return
    registry.register("taau", _taau, target="gl")
    for inner, methods in registry.SPATIAL_BASELINES:
        for method in methods:
            registry.register(f"{inner}+{method}", _spatial(inner, method), target="gl")


_register()

__all__ = ["SpatialUpscalePass", "TAAUMethodPass", "tap_tables"]
