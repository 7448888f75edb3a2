"""GPU copies of scene data: one VAO/VBO/IBO per Mesh and one mipmapped texture per Texture, cached by
object identity (the cache holds a reference, so an id is never reused while cached)."""

from __future__ import annotations

import ctypes

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.scene.model import Mesh, Texture

_FLOATS_PER_VERTEX = 8  # position xyz, normal xyz, uv


class GPUMesh:
    """An uploaded mesh: interleaved float32 vertices (locations 0 position, 1 normal, 2 uv) + uint32
    indices."""

    def __init__(self, mesh: Mesh):
        vertices = np.concatenate([mesh.positions, mesh.normals, mesh.uvs], axis=1).astype(np.float32)
        vertices = np.ascontiguousarray(vertices)
        indices = np.ascontiguousarray(mesh.indices.reshape(-1), dtype=np.uint32)
        self.index_count = int(indices.size)
        self.vao = int(GL.glGenVertexArrays(1))
        self.vbo, self.ibo = (int(x) for x in GL.glGenBuffers(2))
        GL.glBindVertexArray(self.vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, vertices.nbytes, vertices, GL.GL_STATIC_DRAW)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, self.ibo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, GL.GL_STATIC_DRAW)
        stride = _FLOATS_PER_VERTEX * 4
        for location, (offset, size) in enumerate(((0, 3), (3, 3), (6, 2))):
            GL.glEnableVertexAttribArray(location)
            GL.glVertexAttribPointer(location, size, GL.GL_FLOAT, GL.GL_FALSE, stride,
                                     ctypes.c_void_p(offset * 4))
        GL.glBindVertexArray(0)

    def draw(self) -> None:
        GL.glBindVertexArray(self.vao)
        GL.glDrawElements(GL.GL_TRIANGLES, self.index_count, GL.GL_UNSIGNED_INT, None)
        GL.glBindVertexArray(0)

    def release(self) -> None:
        if self.vao:
            GL.glDeleteVertexArrays(1, [self.vao])
            GL.glDeleteBuffers(2, [self.vbo, self.ibo])
            self.vao = self.vbo = self.ibo = 0


def upload_material_texture(texture: Texture) -> int:
    """A mipmapped 2D texture from a scene Texture: GL_SRGB8_ALPHA8 (hardware sRGB decode) when
    ``texture.srgb`` else GL_RGBA8; trilinear (GL_LINEAR_MIPMAP_LINEAR), anisotropic filtering off (GL's
    default max anisotropy 1; the same texture object serves the G-buffer and the reference, so both
    filter alike); wrap repeat or clamp. The mip bias is applied per draw by the shader
    (``texture(s, uv, bias)``: the input's bias, or the reference sub-sample's footprint bias)."""
    pixels = np.ascontiguousarray(texture.pixels[::-1])  # top-down -> GL bottom-up rows, flipped once
    h, w = pixels.shape[:2]
    tex = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
    internal = GL.GL_SRGB8_ALPHA8 if texture.srgb else GL.GL_RGBA8
    GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, internal, w, h, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, pixels)
    GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
    wrap = GL.GL_REPEAT if texture.wrap == "repeat" else GL.GL_CLAMP_TO_EDGE
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, wrap)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, wrap)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return tex


class ResourceCache:
    """Meshes and textures uploaded on first use, keyed by ``id()`` of the scene object."""

    def __init__(self):
        self._meshes: dict[int, tuple[Mesh, GPUMesh]] = {}
        self._textures: dict[int, tuple[Texture, int]] = {}

    def mesh(self, mesh: Mesh) -> GPUMesh:
        entry = self._meshes.get(id(mesh))
        if entry is None:
            entry = self._meshes[id(mesh)] = (mesh, GPUMesh(mesh))
        return entry[1]

    def texture(self, texture: Texture) -> int:
        entry = self._textures.get(id(texture))
        if entry is None:
            entry = self._textures[id(texture)] = (texture, upload_material_texture(texture))
        return entry[1]

    @property
    def texture_count(self) -> int:
        return len(self._textures)

    def release(self) -> None:
        for _, gpu in self._meshes.values():
            gpu.release()
        names = [t for _, t in self._textures.values()]
        if names:
            GL.glDeleteTextures(len(names), names)
        self._meshes.clear()
        self._textures.clear()
