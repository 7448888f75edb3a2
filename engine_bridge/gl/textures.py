"""2D textures: creation by internal format, upload from and read-back into top-down numpy arrays.

GL stores row 0 at the bottom; every array in this project is top-down (row 0 = top). Upload and
read-back flip the rows exactly once, here. Read-back goes into a caller-preallocated array (fresh
allocations per frame cost ~3.5 ms at 540p in page faults, ``shared/reference/environment.md``) through a
reused staging buffer, using ``glGetTexImage`` so no framebuffer binding is needed.
"""

from __future__ import annotations

import ctypes

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL
from OpenGL.raw.GL.VERSION.GL_1_1 import glGetTexImage as _raw_get_tex_image
from OpenGL.raw.GL.VERSION.GL_1_1 import glTexSubImage2D as _raw_tex_sub_image_2d

from qwplugin.errors import InvalidArgument

# internal format -> (pixel format, pixel type) used when allocating storage
_STORAGE = {
    GL.GL_RGBA8: (GL.GL_RGBA, GL.GL_UNSIGNED_BYTE),
    GL.GL_SRGB8_ALPHA8: (GL.GL_RGBA, GL.GL_UNSIGNED_BYTE),
    GL.GL_R8: (GL.GL_RED, GL.GL_UNSIGNED_BYTE),
    GL.GL_RGBA16F: (GL.GL_RGBA, GL.GL_HALF_FLOAT),
    GL.GL_RGB16F: (GL.GL_RGB, GL.GL_HALF_FLOAT),
    GL.GL_RG16F: (GL.GL_RG, GL.GL_HALF_FLOAT),
    GL.GL_R16F: (GL.GL_RED, GL.GL_HALF_FLOAT),
    GL.GL_RGBA32F: (GL.GL_RGBA, GL.GL_FLOAT),
    GL.GL_RGB32F: (GL.GL_RGB, GL.GL_FLOAT),
    GL.GL_RG32F: (GL.GL_RG, GL.GL_FLOAT),
    GL.GL_R32F: (GL.GL_RED, GL.GL_FLOAT),
    GL.GL_DEPTH_COMPONENT32F: (GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT),
    GL.GL_DEPTH_COMPONENT24: (GL.GL_DEPTH_COMPONENT, GL.GL_UNSIGNED_INT),
}
_DEPTH_FORMATS = {int(GL.GL_DEPTH_COMPONENT32F), int(GL.GL_DEPTH_COMPONENT24)}
_CHANNEL_FORMATS = {1: GL.GL_RED, 2: GL.GL_RG, 3: GL.GL_RGB, 4: GL.GL_RGBA}
_DTYPE_TYPES = {np.dtype(np.uint8): GL.GL_UNSIGNED_BYTE, np.dtype(np.float16): GL.GL_HALF_FLOAT,
                np.dtype(np.float32): GL.GL_FLOAT}
_staging: dict[tuple, np.ndarray] = {}


def create_texture(width: int, height: int, internal_format: int, filter: int = GL.GL_NEAREST) -> int:
    """Allocate an uninitialised single-level 2D texture (clamp-to-edge, ``filter`` min/mag).

    Args:
        width, height: size in pixels, >= 1.
        internal_format: e.g. ``GL_RGBA16F``, ``GL_RG16F``, ``GL_R32F``, ``GL_DEPTH_COMPONENT32F``.
        filter: ``GL_NEAREST`` (default) or ``GL_LINEAR``.

    Returns:
        the texture name (bound to nothing on return).

    Raises:
        InvalidArgument: non-positive size or an internal format not in the supported table.
    """
    if width < 1 or height < 1:
        raise InvalidArgument("texture size must be positive", field="width/height", expected=">= 1",
                              actual=f"{width}x{height}")
    if internal_format not in _STORAGE:
        raise InvalidArgument("unsupported internal format", field="internal_format",
                              expected="one of " + ", ".join(str(f) for f in _STORAGE),
                              actual=str(internal_format))
    fmt, typ = _STORAGE[internal_format]
    tex = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, internal_format, width, height, 0, fmt, typ, None)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, filter)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, filter)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAX_LEVEL, 0)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return tex


def texture_size(tex: int) -> tuple[int, int, int]:
    """``(width, height, internal_format)`` of level 0 of a 2D texture."""
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    w = int(GL.glGetTexLevelParameteriv(GL.GL_TEXTURE_2D, 0, GL.GL_TEXTURE_WIDTH))
    h = int(GL.glGetTexLevelParameteriv(GL.GL_TEXTURE_2D, 0, GL.GL_TEXTURE_HEIGHT))
    f = int(GL.glGetTexLevelParameteriv(GL.GL_TEXTURE_2D, 0, GL.GL_TEXTURE_INTERNAL_FORMAT))
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    return w, h, f


def _pixel_format(array: np.ndarray, name: str, depth: bool) -> tuple[int, int, int]:
    """(GL format, GL type, channels) for a (H, W) or (H, W, C) array."""
    if array.dtype not in _DTYPE_TYPES:
        raise InvalidArgument(f"unsupported {name} dtype", field=name, expected="uint8, float16 or float32",
                              actual=str(array.dtype))
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in _CHANNEL_FORMATS):
        raise InvalidArgument(f"{name} must be (H, W) or (H, W, C) with C in 1..4", field=name,
                              expected="(H, W[, C])", actual=str(array.shape))
    channels = 1 if array.ndim == 2 else array.shape[2]
    if depth:
        if channels != 1:
            raise InvalidArgument(f"depth {name} must have one channel", field=name, expected="(H, W)",
                                  actual=str(array.shape))
        return GL.GL_DEPTH_COMPONENT, _DTYPE_TYPES[array.dtype], 1
    return _CHANNEL_FORMATS[channels], _DTYPE_TYPES[array.dtype], channels


def upload_texture(tex: int, array_topdown: np.ndarray) -> None:
    """Replace level 0 of ``tex`` with a top-down array (flipped to GL's bottom-up rows here).

    Args:
        tex: a 2D texture of the array's size.
        array_topdown: ``(H, W)`` or ``(H, W, C)``, C in 1..4, uint8 / float16 / float32.

    Raises:
        InvalidArgument: size mismatch or unsupported dtype/shape.
    """
    w, h, internal = texture_size(tex)
    if array_topdown.shape[:2] != (h, w):
        raise InvalidArgument("array size does not match the texture", field="array_topdown",
                              expected=f"({h}, {w}, ...)", actual=str(array_topdown.shape))
    fmt, typ, _ = _pixel_format(array_topdown, "array_topdown", internal in _DEPTH_FORMATS)
    bottom_up = np.ascontiguousarray(array_topdown[::-1])
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    _raw_tex_sub_image_2d(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, fmt, typ, bottom_up.ctypes.data_as(ctypes.c_void_p))
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)


def read_texture(tex: int, out_array_topdown: np.ndarray) -> np.ndarray:
    """Read level 0 of ``tex`` into a preallocated top-down array (rows flipped exactly once).

    The number of channels of ``out`` selects how many are read (e.g. a (H, W, 3) float32 array reads
    RGB of an RGBA16F texture, converted to float32 by GL); depth textures read into (H, W).

    Args:
        tex: a 2D texture.
        out_array_topdown: C-contiguous ``(H, W)`` or ``(H, W, C)`` uint8 / float16 / float32.

    Returns:
        ``out_array_topdown``.

    Raises:
        InvalidArgument: size mismatch, non-contiguous or unsupported output.
    """
    out = out_array_topdown
    w, h, internal = texture_size(tex)
    if out.shape[:2] != (h, w):
        raise InvalidArgument("output size does not match the texture", field="out_array_topdown",
                              expected=f"({h}, {w}, ...)", actual=str(out.shape))
    if not out.flags.c_contiguous:
        raise InvalidArgument("output must be C-contiguous", field="out_array_topdown",
                              expected="C-contiguous", actual="strided view")
    fmt, typ, _ = _pixel_format(out, "out_array_topdown", internal in _DEPTH_FORMATS)
    key = (out.shape, out.dtype.str)
    staging = _staging.get(key)
    if staging is None:
        staging = _staging[key] = np.empty_like(out)
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
    _raw_get_tex_image(GL.GL_TEXTURE_2D, 0, fmt, typ, staging.ctypes.data_as(ctypes.c_void_p))
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    np.copyto(out, staging[::-1])
    return out


def delete_textures(*textures: int) -> None:
    """Delete texture names (zeros are skipped)."""
    names = [t for t in textures if t]
    if names:
        GL.glDeleteTextures(len(names), names)
