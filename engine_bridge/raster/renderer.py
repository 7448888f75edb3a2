"""The mini engine's rasterizer: jittered G-buffer frames, single-sample no-AA frames and supersampled
references of an :class:`engine_bridge.scene.model.Scene` (needs a current OpenGL 4.1 context).

Conventions (docs/engine.md): jitter ``(x, y)`` in render pixels moves each pixel's sample point from the
pixel centre by ``+x`` right and ``+y`` down; it is applied to the projection as ``T(-2x/W, +2y/H, 0) @ P``
(GL's NDC y is up). Motion vectors are computed from the UNJITTERED current and previous clip positions
(previous model and previous view-projection matrices); background pixels get the motion of their view
direction at infinity (camera rotation and projection change, translation ignored; :mod:`.sky`).

Texture LOD: the aliased input samples textures with ``mip_bias`` (default -1, the FSR 2 rule at native
resolution, :func:`~engine_bridge.raster.sampling.fsr2_input_mip_bias`); each of a reference's k x k
sub-samples with ``reference_mip_bias - log2(k)`` (its own footprint,
:func:`~engine_bridge.raster.sampling.reference_sample_mip_bias`). Both renders use the same trilinear
textures, anisotropic filtering off.

Upscaling (``display_size`` larger than the render size): the G-buffer (colour, motion, depth) stays at the
render size, motion in render pixels; references are rendered at the display size with the same reference
LOD rule (the hardware LOD of the display pixel, sub-samples biased by ``-log2(k)``). Both use the display's
aspect ratio for the projection, so the render and the display image cover the same view (with floored
render sizes a render pixel is then very slightly non-square). With ``display_size`` equal to the render
size (the default) nothing changes.
"""

from __future__ import annotations

import math

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.gl.program import fullscreen_triangle, load_glsl_program, set_uniform
from engine_bridge.gl.textures import read_texture
from engine_bridge.raster.gbuffer import AccumulationTargets, GBufferArrays, GBufferTargets, GBufferTextures
from engine_bridge.raster.resources import ResourceCache
from engine_bridge.raster.sampling import (DEFAULT_INPUT_MIP_BIAS, DEFAULT_REFERENCE_MIP_BIAS, jitter_to_ndc,
                                           reference_sample_mip_bias, reference_sample_offsets)
from engine_bridge.raster.sky import sky_reprojection
from engine_bridge.scene import transforms
from engine_bridge.scene.model import Scene, SceneState
from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.ops.halton import jitter_offset_px, jitter_phase
from qwplugin.runtime.validate import check_jitter

_TEXTURE_UNIT = 0


class Renderer:
    """Renders a Scene into a G-buffer (and references) at a fixed render size.

    Args:
        scene: the scene to draw.
        width, height: render size in pixels.
        mip_bias: texture LOD bias of the aliased input (:meth:`render_gbuffer`, :meth:`render_noaa`),
            added to the hardware LOD of every material texture (negative = sharper). Default -1: the FSR 2
            rule ``log2(render / display) - 1`` at native resolution
            (:func:`~engine_bridge.raster.sampling.fsr2_input_mip_bias`).
        phase_count: Halton(2, 3) jitter sequence length used by :meth:`jitter_for_frame`.
        reference_mip_bias: base LOD bias of :meth:`render_reference` (default 0 = the display pixel's
            footprint); each of its ``k x k`` sub-samples samples at ``reference_mip_bias - log2(k)``.
        start_phase: Halton phase of frame 0 for :meth:`jitter_for_frame` (frame ``i`` uses phase
            ``(start_phase + i) % phase_count``); default 0.
        display_size: ``(width, height)`` of :meth:`render_reference` (temporal upscaling), 1 to 3 times
            the render size per axis; None (default) = the render size.

    Raises:
        InvalidArgument: bad size, display size, phase count, start phase, non-finite bias or scene type.
        InvalidOperation: no current OpenGL context.
    """

    def __init__(self, scene: Scene, width: int, height: int, mip_bias: float = DEFAULT_INPUT_MIP_BIAS,
                 phase_count: int = 16, *, reference_mip_bias: float = DEFAULT_REFERENCE_MIP_BIAS,
                 start_phase: int = 0, display_size: tuple[int, int] | None = None):
        if not isinstance(scene, Scene):
            raise InvalidArgument("scene must be an engine_bridge.scene.model.Scene", field="scene",
                                  expected="Scene", actual=type(scene).__name__)
        if int(width) < 1 or int(height) < 1:
            raise InvalidArgument("render size must be positive", field="width/height", expected=">= 1",
                                  actual=f"{width}x{height}")
        if int(phase_count) < 1:
            raise InvalidArgument("phase_count must be >= 1", field="phase_count", expected=">= 1",
                                  actual=repr(phase_count))
        for name, bias in (("mip_bias", mip_bias), ("reference_mip_bias", reference_mip_bias)):
            if not isinstance(bias, (int, float, np.integer, np.floating)) or not math.isfinite(bias):
                raise InvalidArgument(f"{name} must be finite", field=name, expected="finite float",
                                      actual=repr(bias))
        if not isinstance(start_phase, (int, np.integer)) or not 0 <= int(start_phase) < int(phase_count):
            raise InvalidArgument("start_phase must be a phase of the jitter cycle", field="start_phase",
                                  expected=f"integer in 0..{int(phase_count) - 1}", actual=repr(start_phase))
        try:
            GL.glGetString(GL.GL_VERSION)
        except Exception as exc:  # noqa: BLE001 - PyOpenGL raises various errors without a context
            raise InvalidOperation("Renderer needs a current OpenGL context (engine_bridge.gl.create_context)"
                                   ) from exc
        self.scene = scene
        self.width, self.height = int(width), int(height)
        if display_size is None:
            self.display_width, self.display_height = self.width, self.height
        else:
            from qwplugin.upscale import scale_of

            scale_of((self.width, self.height), display_size)  # validates: 1x to 3x per axis
            self.display_width, self.display_height = int(display_size[0]), int(display_size[1])
        # The projection's aspect is the display's: render and display images cover the same view.
        self.aspect = self.display_width / self.display_height
        self.mip_bias = float(mip_bias)
        self.reference_mip_bias = float(reference_mip_bias)
        self.phase_count = int(phase_count)
        self.start_phase = int(start_phase)
        self._program = load_glsl_program("gbuffer.vert.glsl", "gbuffer.frag.glsl")
        self._sky = load_glsl_program("fullscreen.vert.glsl", "gbuffer.sky.frag.glsl")
        self._accumulate = load_glsl_program("fullscreen.vert.glsl", "accumulate.frag.glsl")
        self._triangle = fullscreen_triangle()
        self._resources = ResourceCache()
        self._gbuffer = GBufferTargets(self.width, self.height)
        self._reference: AccumulationTargets | None = None
        self._closed = False

    # -- G-buffer textures (the engine's output, consumed by TAA / the bridge) --------------------------
    @property
    def color_tex(self) -> int:
        return self._gbuffer.color

    @property
    def motion_tex(self) -> int:
        return self._gbuffer.motion

    @property
    def depth_view_tex(self) -> int:
        return self._gbuffer.depth_view

    @property
    def depth_tex(self) -> int:
        return self._gbuffer.depth

    @property
    def fbo(self) -> int:
        """The G-buffer framebuffer object (3 colour attachments + depth)."""
        return self._gbuffer.fbo

    def phase_for_frame(self, frame_index: int) -> int:
        """The Halton phase frame ``frame_index`` uses: ``(start_phase + frame_index) % phase_count``."""
        return jitter_phase(frame_index, self.phase_count, self.start_phase)

    def jitter_for_frame(self, frame_index: int) -> tuple[float, float]:
        """Halton(2, 3) jitter of a frame, in render pixels, contract axes (see qwplugin.ops.halton):
        ``jitter_offset_px(phase_for_frame(frame_index), phase_count)``."""
        return jitter_offset_px(self.phase_for_frame(frame_index), self.phase_count)

    def reference_sample_mip_bias(self, spp: int) -> float:
        """The LOD bias each sub-sample of an ``spp``-sample :meth:`render_reference` uses:
        ``reference_mip_bias - log2(sqrt(spp))``.

        Raises:
            InvalidArgument: ``spp`` not a positive perfect square.
        """
        return reference_sample_mip_bias(spp, self.reference_mip_bias)

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` of the references (equal to the render size unless upscaling)."""
        return self.display_width, self.display_height

    def projection(self, state: SceneState, jitter_px: tuple[float, float] = (0.0, 0.0),
                   size: tuple[int, int] | None = None) -> np.ndarray:
        """The projection for ``state`` with ``jitter_px`` (pixels of ``size``, default the render size)
        applied (float64 4x4)."""
        width, height = (self.width, self.height) if size is None else size
        p = state.projection(self.aspect)
        jx, jy = jitter_to_ndc(jitter_px, width, height)
        return transforms.translation((jx, jy, 0.0)) @ p

    # -- rendering -----------------------------------------------------------------------------------
    def render_gbuffer(self, time_s: float, prev_time_s: float | None = None,
                       jitter_px: tuple[float, float] = (0.0, 0.0)) -> GBufferTextures:
        """Render the scene at ``time_s`` with ``jitter_px`` into the G-buffer textures.

        Args:
            time_s: scene time in seconds.
            prev_time_s: the previous frame's time; motion vectors point to where each surface point was
                then. None: same as ``time_s`` (all motion 0, e.g. first frame).
            jitter_px: ``(x, y)`` in render pixels, each in [-0.5, 0.5], +x right, +y down.

        Returns:
            the texture names and the matrices used (:class:`GBufferTextures`).

        Raises:
            InvalidArgument: jitter outside [-0.5, 0.5] or non-finite time.
            InvalidOperation: after :meth:`close`.
        """
        self._check_open()
        jitter_px = check_jitter(jitter_px)
        time_s = _check_time(time_s, "time_s")
        prev_time_s = time_s if prev_time_s is None else _check_time(prev_time_s, "prev_time_s")
        state = self.scene.evaluate(time_s)
        prev = state if prev_time_s == time_s else self.scene.evaluate(prev_time_s)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._gbuffer.fbo)
        self._gbuffer.clear(self.scene.background, state.far)
        self._draw_background_motion(state, prev, jitter_px)
        jittered = self._draw_scene(state, prev, jitter_px, self.mip_bias)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        return GBufferTextures(
            color=self.color_tex, motion=self.motion_tex, depth_view=self.depth_view_tex, depth=self.depth_tex,
            time_s=time_s, prev_time_s=prev_time_s, jitter_px=jitter_px, view=state.view,
            projection=state.projection(self.aspect), jittered_projection=jittered)

    def read_gbuffer(self) -> GBufferArrays:
        """Read the last G-buffer into preallocated top-down arrays (overwritten by the next call):
        ``color`` (H, W, 3) float32, ``motion_px`` (H, W, 2) float32, ``depth_view`` (H, W) float32."""
        self._check_open()
        return self._gbuffer.read()

    def render_reference(self, time_s: float, spp: int = 64) -> np.ndarray:
        """The supersampled reference at ``time_s``, at the display size: the box-filtered average of ``spp = k * k`` stratified
        sub-pixel samples (see :func:`engine_bridge.raster.sampling.reference_sample_offsets`), each a full
        render at that sub-pixel offset, summed in an RGBA32F texture with additive blending.

        Texture LOD: every sub-sample samples textures at the level of detail of its own footprint, a
        1/k x 1/k cell of the pixel, by a LOD bias of ``reference_mip_bias - log2(k)`` on the hardware
        LOD (which the fragment derivatives compute for the full pixel); ``reference_mip_bias`` defaults to
        0, the display pixel's footprint (see :meth:`reference_sample_mip_bias`). Trilinear filtering,
        anisotropic filtering off, the same texture objects as :meth:`render_gbuffer`.

        Returns:
            a new (display H, display W, 3) float32 top-down array, linear HDR.

        Raises:
            InvalidArgument: ``spp`` not a positive perfect square; bad time.
            InvalidOperation: after :meth:`close`.
        """
        offsets = reference_sample_offsets(spp)
        return self._render_samples(time_s, offsets, self.reference_sample_mip_bias(spp), self.display_size)

    def render_noaa(self, time_s: float) -> np.ndarray:
        """The single-sample frame at ``time_s`` (no jitter: every pixel samples its centre), (H, W, 3)
        float32 top-down, linear HDR (rendered in float32, not half), with the aliased input's
        ``mip_bias`` (so it equals :meth:`render_gbuffer`'s colour at jitter (0, 0) up to half rounding)."""
        return self._render_samples(time_s, reference_sample_offsets(1), self.mip_bias, (self.width, self.height))

    def _render_samples(self, time_s: float, offsets: np.ndarray, mip_bias: float,
                        size: tuple[int, int]) -> np.ndarray:
        """Average of full renders at ``size`` (w, h) at the sub-pixel ``offsets`` ((N, 2) in [0, 1)^2 from
        the pixel's top-left corner) with texture LOD bias ``mip_bias``; a new (h, w, 3) float32 array."""
        self._check_open()
        time_s = _check_time(time_s, "time_s")
        if self._reference is not None and (self._reference.width, self._reference.height) != tuple(size):
            self._reference.release()
            self._reference = None
        if self._reference is None:
            self._reference = AccumulationTargets(*size)
        ref = self._reference
        state = self.scene.evaluate(time_s)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, ref.sum_fbo)
        GL.glClearBufferfv(GL.GL_COLOR, 0, np.zeros(4, np.float32))
        background = np.array([*self.scene.background, 1.0], np.float32)
        for sx, sy in offsets:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, ref.sample_fbo)
            GL.glClearBufferfv(GL.GL_COLOR, 0, background)
            GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))
            self._draw_scene(state, state, (float(sx) - 0.5, float(sy) - 0.5), mip_bias, size)
            self._add_sample(ref)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        read_texture(ref.sum, ref.out)
        return ref.out / np.float32(len(offsets))

    def close(self) -> None:
        """Release every GL object this renderer created (the context stays). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._resources.release()
        self._gbuffer.release()
        if self._reference is not None:
            self._reference.release()
        self._triangle.release()
        GL.glDeleteProgram(self._program)
        GL.glDeleteProgram(self._accumulate)
        GL.glDeleteProgram(self._sky)

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise InvalidOperation("Renderer used after close()")

    def _add_sample(self, ref: AccumulationTargets) -> None:
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, ref.sum_fbo)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFunc(GL.GL_ONE, GL.GL_ONE)
        GL.glUseProgram(self._accumulate)
        GL.glActiveTexture(GL.GL_TEXTURE0 + _TEXTURE_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, ref.sample)
        set_uniform(self._accumulate, "u_sample", _TEXTURE_UNIT)
        self._triangle.draw()
        GL.glDisable(GL.GL_BLEND)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)

    def _draw_background_motion(self, state: SceneState, prev: SceneState, jitter_px: tuple[float, float]) -> None:
        """Fill the bound G-buffer's motion target with the motion of each pixel's view direction at
        infinity (``gbuffer.sky.frag.glsl``); the scene drawn next overwrites it where there is geometry.
        Colour and view depth stay as cleared (masked off), depth test off. When the rotation-only
        reprojection is the identity (static camera, pure translation, first frame) the cleared 0 stands
        and no pass is drawn."""
        aspect = self.aspect
        h = sky_reprojection(state.view, state.projection(aspect), prev.view, prev.projection(aspect))
        if (h == np.eye(3)).all():
            return
        GL.glViewport(0, 0, self.width, self.height)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_BLEND)
        GL.glColorMaski(0, GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE)
        GL.glColorMaski(2, GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE)
        prog = self._sky
        GL.glUseProgram(prog)
        set_uniform(prog, "u_sky_reprojection", h)
        set_uniform(prog, "u_jitter_ndc", jitter_to_ndc(jitter_px, self.width, self.height))
        set_uniform(prog, "u_render_size_px", (self.width, self.height))
        self._triangle.draw()
        GL.glUseProgram(0)
        GL.glColorMaski(0, GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE)
        GL.glColorMaski(2, GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE)

    def _draw_scene(self, state: SceneState, prev: SceneState, jitter_px: tuple[float, float],
                    mip_bias: float, size: tuple[int, int] | None = None) -> np.ndarray:
        """Draw every object into the bound framebuffer of ``size`` (w, h; default the render size) with
        texture LOD bias ``mip_bias``; returns the jittered projection used."""
        width, height = (self.width, self.height) if size is None else size
        aspect = self.aspect
        projection = state.projection(aspect)
        jittered = self.projection(state, jitter_px, (width, height))
        view_proj = projection @ state.view
        prev_view_proj = prev.projection(aspect) @ prev.view
        scene = self.scene
        light_dir = np.asarray(scene.light.direction, np.float64)
        light_dir = light_dir / np.linalg.norm(light_dir)
        light_radiance = np.asarray(scene.light.color, np.float64) * scene.light.intensity

        GL.glViewport(0, 0, width, height)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDisable(GL.GL_BLEND)
        GL.glFrontFace(GL.GL_CCW)
        GL.glCullFace(GL.GL_BACK)
        prog = self._program
        GL.glUseProgram(prog)
        set_uniform(prog, "u_view", state.view)
        set_uniform(prog, "u_view_proj", view_proj)
        set_uniform(prog, "u_prev_view_proj", prev_view_proj)
        set_uniform(prog, "u_jitter_ndc", jitter_to_ndc(jitter_px, width, height))
        set_uniform(prog, "u_light_direction", light_dir)
        set_uniform(prog, "u_light_radiance", light_radiance)
        set_uniform(prog, "u_ambient", scene.ambient)
        set_uniform(prog, "u_camera_position", state.camera_position)
        set_uniform(prog, "u_render_size_px", (width, height))
        set_uniform(prog, "u_mip_bias", float(mip_bias))
        set_uniform(prog, "u_base_color_tex", _TEXTURE_UNIT)
        GL.glActiveTexture(GL.GL_TEXTURE0 + _TEXTURE_UNIT)
        for obj, model, prev_model in zip(scene.objects, state.model_matrices, prev.model_matrices):
            mat = obj.material
            if mat.double_sided:
                GL.glDisable(GL.GL_CULL_FACE)
            else:
                GL.glEnable(GL.GL_CULL_FACE)
            set_uniform(prog, "u_model", model)
            set_uniform(prog, "u_prev_model", prev_model)
            set_uniform(prog, "u_normal_matrix", np.linalg.inv(model[:3, :3]).T)
            set_uniform(prog, "u_base_color", mat.base_color)
            set_uniform(prog, "u_has_texture", mat.base_color_texture is not None)
            if mat.base_color_texture is not None:
                GL.glBindTexture(GL.GL_TEXTURE_2D, self._resources.texture(mat.base_color_texture))
            set_uniform(prog, "u_uv_scale", mat.uv_scale)
            set_uniform(prog, "u_specular", mat.specular)
            set_uniform(prog, "u_roughness", mat.roughness)
            set_uniform(prog, "u_emissive", mat.emissive)
            set_uniform(prog, "u_alpha_cutoff", -1.0 if mat.alpha_cutoff is None else mat.alpha_cutoff)
            set_uniform(prog, "u_double_sided", bool(mat.double_sided))
            self._resources.mesh(obj.mesh).draw()
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glUseProgram(0)
        return jittered


def _check_time(t, name: str) -> float:
    try:
        t = float(t)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name} must be a number", field=name, expected="finite float seconds",
                              actual=repr(t)) from exc
    if not math.isfinite(t):
        raise InvalidArgument(f"{name} must be finite", field=name, expected="finite float seconds",
                              actual=repr(t))
    return t
