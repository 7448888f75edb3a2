"""The G-buffer: an MRT framebuffer (colour RGBA16F, motion RG16F, linear view depth R32F, hardware depth
DEPTH32F) and the preallocated top-down arrays it is read back into."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL
from OpenGL.raw.GL.VERSION.GL_1_0 import glReadPixels as _raw_read_pixels

from engine_bridge.gl.textures import create_texture, delete_textures, read_texture


@dataclass(frozen=True)
class GBufferTextures:
    """GL texture names holding one rendered frame, plus what was used to render it.

    Attributes:
        color: RGBA16F, linear HDR colour (alpha 1).
        motion: RG16F, ``motion_px`` per the input contract (render pixels, current -> previous, jitter
            removed, +x right, +y down).
        depth_view: R32F, linear view depth (positive distance along the view axis; background = far).
        depth: DEPTH_COMPONENT32F hardware depth (window depth in [0, 1], 1 = far/background).
        time_s, prev_time_s: the frame's time and the time its motion refers to.
        jitter_px: the ``(x, y)`` jitter rendered with (contract axes).
        view, projection: the frame's world->view and UNJITTERED projection matrices, float64 (4, 4).
        jittered_projection: the projection actually rasterised with.
    """

    color: int
    motion: int
    depth_view: int
    depth: int
    time_s: float
    prev_time_s: float
    jitter_px: tuple[float, float]
    view: np.ndarray
    projection: np.ndarray
    jittered_projection: np.ndarray


@dataclass
class GBufferArrays:
    """Top-down numpy views of a read-back G-buffer (owned by the renderer, overwritten by the next read).

    Attributes:
        color: (H, W, 3) float32 linear HDR.
        motion_px: (H, W, 2) float32, contract motion vectors.
        depth_view: (H, W) float32 linear view depth.
    """

    color: np.ndarray
    motion_px: np.ndarray
    depth_view: np.ndarray


class GBufferTargets:
    """The MRT framebuffer object and its four textures (needs a current GL context)."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.color = create_texture(width, height, GL.GL_RGBA16F)
        self.motion = create_texture(width, height, GL.GL_RG16F)
        self.depth_view = create_texture(width, height, GL.GL_R32F)
        self.depth = create_texture(width, height, GL.GL_DEPTH_COMPONENT32F)
        self.fbo = int(GL.glGenFramebuffers(1))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        for i, tex in enumerate((self.color, self.motion, self.depth_view)):
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0 + i, GL.GL_TEXTURE_2D, tex, 0)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_TEXTURE_2D, self.depth, 0)
        GL.glDrawBuffers(3, [GL.GL_COLOR_ATTACHMENT0, GL.GL_COLOR_ATTACHMENT1, GL.GL_COLOR_ATTACHMENT2])
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        assert status == GL.GL_FRAMEBUFFER_COMPLETE, f"G-buffer FBO incomplete: 0x{int(status):x}"
        self.arrays = GBufferArrays(
            color=np.zeros((height, width, 3), np.float32),
            motion_px=np.zeros((height, width, 2), np.float32),
            depth_view=np.zeros((height, width), np.float32),
        )
        self._staging = [np.zeros_like(a) for a in (self.arrays.color, self.arrays.motion_px,
                                                     self.arrays.depth_view)]

    def clear(self, background: tuple[float, float, float], far: float) -> None:
        """Clear colour to the background (alpha 1), motion to 0, view depth to ``far``, depth to 1."""
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glClearBufferfv(GL.GL_COLOR, 0, np.array([*background, 1.0], np.float32))
        GL.glClearBufferfv(GL.GL_COLOR, 1, np.zeros(4, np.float32))
        GL.glClearBufferfv(GL.GL_COLOR, 2, np.array([far, 0, 0, 0], np.float32))
        GL.glClearBufferfv(GL.GL_DEPTH, 0, np.ones(1, np.float32))

    def read(self) -> GBufferArrays:
        """Read colour, motion and view depth into the preallocated top-down arrays.

        ``glReadPixels`` from this FBO's attachments into reused bottom-up staging arrays, then one flip
        copy each (measured ~2x faster than ``glGetTexImage`` on llvmpipe)."""
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.fbo)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        targets = ((self.arrays.color, GL.GL_RGB), (self.arrays.motion_px, GL.GL_RG),
                   (self.arrays.depth_view, GL.GL_RED))
        for i, ((out, fmt), staging) in enumerate(zip(targets, self._staging)):
            GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0 + i)
            _raw_read_pixels(0, 0, self.width, self.height, fmt, GL.GL_FLOAT,
                             staging.ctypes.data_as(ctypes.c_void_p))
            np.copyto(out, staging[::-1])
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        return self.arrays

    def release(self) -> None:
        if self.fbo:
            GL.glDeleteFramebuffers(1, [self.fbo])
            self.fbo = 0
        delete_textures(self.color, self.motion, self.depth_view, self.depth)
        self.color = self.motion = self.depth_view = self.depth = 0


class AccumulationTargets:
    """Reference rendering targets: one sample's RGBA32F colour + depth, and the RGBA32F sum."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.sample = create_texture(width, height, GL.GL_RGBA32F)
        self.sample_depth = create_texture(width, height, GL.GL_DEPTH_COMPONENT32F)
        self.sum = create_texture(width, height, GL.GL_RGBA32F)
        self.sample_fbo, self.sum_fbo = (int(x) for x in GL.glGenFramebuffers(2))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.sample_fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.sample, 0)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_TEXTURE_2D,
                                  self.sample_depth, 0)
        GL.glDrawBuffers(1, [GL.GL_COLOR_ATTACHMENT0])  # motion/depth outputs of the shader are dropped
        ok_sample = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) == GL.GL_FRAMEBUFFER_COMPLETE
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.sum_fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.sum, 0)
        GL.glDrawBuffers(1, [GL.GL_COLOR_ATTACHMENT0])
        ok_sum = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) == GL.GL_FRAMEBUFFER_COMPLETE
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        assert ok_sample and ok_sum, "reference FBOs incomplete"
        self.out = np.zeros((height, width, 3), np.float32)

    def release(self) -> None:
        if self.sample_fbo:
            GL.glDeleteFramebuffers(2, [self.sample_fbo, self.sum_fbo])
            self.sample_fbo = self.sum_fbo = 0
        delete_textures(self.sample, self.sample_depth, self.sum)
        self.sample = self.sample_depth = self.sum = 0
