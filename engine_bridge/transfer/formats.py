"""Host texture checks: name, target, size and internal format of every texture, before anything runs.

:func:`check_texture` inspects one texture with raw GL calls inside the caller's
:class:`~engine_bridge.gl.state.GuestState` (so the host's bindings come back) and raises one
:class:`~qwplugin.errors.InvalidArgument` naming the field, with the expected and the actual value.

Accepted internal formats per input (:data:`ACCEPTED_FORMATS`), all of target ``GL_TEXTURE_2D`` (no
multisample, array, cube-map, 3D or rectangle textures), level 0 of the render size:

==========  ==================================================================  ============================
input       accepted                                                             refused, why
==========  ==================================================================  ============================
``color``   ``RGBA16F``, ``RGBA32F``, ``RGB16F``, ``RGB32F``,                    8-bit / sRGB / normalised:
            ``R11F_G11F_B10F``, ``RGB9_E5`` (RGB used)                           display-referred LDR, not
                                                                                 linear HDR; integer; depth
``motion``  ``RG16F``, ``RG32F``, ``RGBA16F``, ``RGBA32F``, ``RGB16F``,          one channel (y motion would
            ``RGB32F`` (first two channels used)                                 read as 0); 8-bit, normalised,
                                                                                 integer (no signed pixels)
``depth``   ``R32F``, ``R16F`` (linear view depth or window depth as             anything else
            declared), ``DEPTH_COMPONENT16/24/32/32F``, ``DEPTH24_STENCIL8``,
            ``DEPTH32F_STENCIL8`` (window depth: ``ndc``/``ndc_inverted`` only)
``output``  ``RGBA16F``, ``RGBA32F``, ``RGB16F``, ``RGB32F``,                    8-bit / sRGB (clamps HDR to
            ``R11F_G11F_B10F`` (RGB written; A = 1 where the format has alpha)   [0, 1]), integer, depth
==========  ==================================================================  ============================

With CUDA-GL interop only the registrable subset is accepted (``RGBA16F/32F``, ``RG16F/32F``,
``R16F/32F``: :data:`engine_bridge.transfer.cuda_interop.REGISTRABLE_FORMATS`).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL
from OpenGL.error import GLError
from OpenGL.raw.GL.VERSION.GL_1_1 import glBindTexture as _bind_texture
from OpenGL.raw.GL.VERSION.GL_1_1 import glGetTexLevelParameteriv as _get_tex_level_parameteriv
from OpenGL.raw.GL.VERSION.GL_1_1 import glIsTexture as _is_texture

from engine_bridge.gl.state import get_int, pending_errors
from qwplugin.errors import InvalidArgument


def _formats(*names: str) -> frozenset[int]:
    return frozenset(int(getattr(GL, "GL_" + n)) for n in names)


DEPTH_INTERNAL_FORMATS = _formats("DEPTH_COMPONENT16", "DEPTH_COMPONENT24", "DEPTH_COMPONENT32",
                                  "DEPTH_COMPONENT32F", "DEPTH24_STENCIL8", "DEPTH32F_STENCIL8")
"""Internal formats read with ``GL_DEPTH_COMPONENT`` (hardware depth, window depth in [0, 1])."""

INTEGER_FORMATS = _formats(*(f"{c}{b}{s}" for c in ("RGBA", "RG", "R") for b in (8, 16, 32) for s in ("I", "UI")),
                           "RGB10_A2UI")
"""Integer internal formats: GL cannot read or write them as floats (``GL_INVALID_OPERATION``)."""

ACCEPTED_FORMATS: dict[str, frozenset[int]] = {
    "color": _formats("RGBA16F", "RGBA32F", "RGB16F", "RGB32F", "R11F_G11F_B10F", "RGB9_E5"),
    "motion": _formats("RG16F", "RG32F", "RGBA16F", "RGBA32F", "RGB16F", "RGB32F"),
    "depth": _formats("R32F", "R16F") | DEPTH_INTERNAL_FORMATS,
    "output": _formats("RGBA16F", "RGBA32F", "RGB16F", "RGB32F", "R11F_G11F_B10F"),
}
"""Slot -> the internal formats the bridge accepts for it (see the module docstring for why)."""

_KNOWN = (
    "RGBA16F", "RGBA32F", "RGB16F", "RGB32F", "RG16F", "RG32F", "R16F", "R32F", "R11F_G11F_B10F", "RGB9_E5",
    "RGBA8", "RGB8", "RG8", "R8", "RGBA16", "RGB16", "RG16", "R16", "RGBA8_SNORM", "RG8_SNORM", "R8_SNORM",
    "RGBA16_SNORM", "RG16_SNORM", "R16_SNORM", "RGB10_A2", "RGB565", "RGBA4", "RGB5_A1", "SRGB8",
    "SRGB8_ALPHA8", "RGBA8UI", "RGBA16UI", "RGBA32UI", "RGBA8I", "RGBA16I", "RGBA32I", "RG8UI", "RG16UI",
    "RG32UI", "RG8I", "RG16I", "RG32I", "R8UI", "R16UI", "R32UI", "R8I", "R16I", "R32I", "RGB10_A2UI",
    "DEPTH_COMPONENT16", "DEPTH_COMPONENT24", "DEPTH_COMPONENT32", "DEPTH_COMPONENT32F", "DEPTH24_STENCIL8",
    "DEPTH32F_STENCIL8", "RGBA", "RGB", "RED", "RG")
FORMAT_NAMES = {int(getattr(GL, "GL_" + n)): "GL_" + n for n in _KNOWN}
_TARGET_NAMES = {int(getattr(GL, "GL_" + n)): "GL_" + n for n in (
    "TEXTURE_1D", "TEXTURE_2D", "TEXTURE_3D", "TEXTURE_1D_ARRAY", "TEXTURE_2D_ARRAY", "TEXTURE_RECTANGLE",
    "TEXTURE_CUBE_MAP", "TEXTURE_CUBE_MAP_ARRAY", "TEXTURE_BUFFER", "TEXTURE_2D_MULTISAMPLE",
    "TEXTURE_2D_MULTISAMPLE_ARRAY")}
_GL_TEXTURE_TARGET = 0x1006  # glGetTextureParameteriv pname (GL 4.5)
_MAX_NAME = 2 ** 32 - 1


def format_name(internal_format: int) -> str:
    """``"GL_RGBA16F"`` etc. for an internal format enum (hex for unknown ones)."""
    return FORMAT_NAMES.get(int(internal_format), f"0x{int(internal_format):04x}")


def format_list(formats) -> str:
    """The names of a set of formats, sorted, separated by ``" / "``."""
    return " / ".join(sorted(format_name(f) for f in formats))


@dataclass(frozen=True)
class TextureInfo:
    """Level 0 of a host texture.

    Attributes:
        name: the GL texture name.
        width, height: level 0 size in pixels.
        internal_format: the GL internal format enum.
    """

    name: int
    width: int
    height: int
    internal_format: int


def _actual_target(tex: int) -> str:
    """The target ``tex`` was created with, by name, when GL 4.5's ``glGetTextureParameteriv`` exists."""
    try:
        version = (get_int(GL.GL_MAJOR_VERSION), get_int(GL.GL_MINOR_VERSION))
        if version < (4, 5):
            return "not GL_TEXTURE_2D"
        from OpenGL.raw.GL.VERSION.GL_4_5 import glGetTextureParameteriv

        value = (ctypes.c_int * 4)()
        glGetTextureParameteriv(int(tex), _GL_TEXTURE_TARGET, value)
        if pending_errors():
            return "not GL_TEXTURE_2D"
        return _TARGET_NAMES.get(int(value[0]), f"target 0x{int(value[0]):04x}")
    except Exception:  # an old driver without the entry point: the target stays unnamed
        return "not GL_TEXTURE_2D"


def inspect_texture(tex: object, field: str) -> TextureInfo:
    """Name, target, size and internal format of level 0 of a host texture (GL context current).

    Binds ``tex`` on the active unit's ``GL_TEXTURE_2D``: call inside a
    :class:`~engine_bridge.gl.state.GuestState`, which restores the host's binding.

    Args:
        tex: the texture name (a Python or numpy int).
        field: the input it is (``"color"``, ``"motion"``, ``"depth"``, ``"output"``), named in errors.

    Returns:
        its :class:`TextureInfo`.

    Raises:
        InvalidArgument: not an int in [1, 2^32), not a texture of the current context, or not a
            ``GL_TEXTURE_2D`` texture (``field`` set).
    """
    if not isinstance(tex, (int, np.integer)) or isinstance(tex, (bool, np.bool_)) or not 0 < tex <= _MAX_NAME:
        raise InvalidArgument(f"{field} must be a GL texture name", field=field,
                              expected="an int texture id > 0 created in this context", actual=repr(tex))
    tex = int(tex)
    if not _is_texture(tex):
        raise InvalidArgument(f"{field} is not a texture of the current GL context (deleted, never bound, "
                              "or from another context)", field=field,
                              expected="a live GL_TEXTURE_2D name of the current context", actual=repr(tex))
    try:
        _bind_texture(GL.GL_TEXTURE_2D, tex)
        wrong_target = bool(pending_errors())
    except GLError:  # PyOpenGL's error checking already popped GL_INVALID_OPERATION
        wrong_target = True
    if wrong_target:  # GL_INVALID_OPERATION: the name was created with another target
        raise InvalidArgument(f"{field} must be a GL_TEXTURE_2D texture (no multisample, array, cube-map, 3D "
                              "or rectangle textures)", field=field, expected="GL_TEXTURE_2D",
                              actual=f"texture {tex}: {_actual_target(tex)}")
    value = (ctypes.c_int * 4)()

    def level(pname) -> int:
        _get_tex_level_parameteriv(GL.GL_TEXTURE_2D, 0, pname, value)
        return int(value[0])

    return TextureInfo(tex, level(GL.GL_TEXTURE_WIDTH), level(GL.GL_TEXTURE_HEIGHT),
                       level(GL.GL_TEXTURE_INTERNAL_FORMAT))


def check_texture(tex: object, field: str, width: int, height: int,
                  accepted: frozenset[int] | None = None) -> TextureInfo:
    """:func:`inspect_texture`, then the size and (optionally) the internal format.

    Args:
        tex: the texture name.
        field: the input's name in errors.
        width, height: the render size level 0 must have.
        accepted: the internal formats accepted (default: any); see :data:`ACCEPTED_FORMATS`.

    Returns:
        its :class:`TextureInfo`.

    Raises:
        InvalidArgument: bad name or target, wrong size, or a format outside ``accepted``, naming ``field``
            with the expected and actual size or format.
    """
    info = inspect_texture(tex, field)
    if (info.width, info.height) != (width, height):
        raise InvalidArgument(f"{field} texture size does not match the render size", field=field,
                              expected=f"{width}x{height}", actual=f"{info.width}x{info.height}")
    if accepted is not None and info.internal_format not in accepted:
        raise InvalidArgument(f"{field} texture has an unsupported internal format{_why(field, info)}",
                              field=field, expected=format_list(accepted),
                              actual=format_name(info.internal_format))
    return info


def _why(field: str, info: TextureInfo) -> str:
    name = format_name(info.internal_format)
    if field == "motion" and name in ("GL_R16F", "GL_R32F"):
        return ": one channel, the y motion would read as 0"
    if name.startswith("GL_SRGB") or name in ("GL_RGBA8", "GL_RGB8", "GL_RG8", "GL_R8", "GL_RGB10_A2"):
        return (": 8/10-bit normalised storage clamps to [0, 1]" if field == "output" else
                ": 8/10-bit normalised (display-referred LDR) instead of linear HDR floats")
    if name.endswith(("UI", "I")) and not name.endswith("_SNORM"):
        return ": integer textures cannot be read or written as floats"
    if info.internal_format in DEPTH_INTERNAL_FORMATS:
        return ": a depth texture"
    return ""
