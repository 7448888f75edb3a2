"""Read-back / upload transfer: host GL textures <-> top-down numpy arrays through preallocated buffers.

This is the path that works everywhere (Mesa llvmpipe, any GPU): ``glGetTexImage`` copies a texture into
a preallocated bottom-up staging array, one ``np.copyto`` flips it into the preallocated top-down array
the plugin sees, and the output goes back with ``glTexSubImage2D`` from a preallocated staging array.
Rows flip between GL's bottom-up storage and the contract's top-down arrays **exactly once**, here.

Why preallocated: fresh numpy arrays per frame cost ~3.5 ms at 540p in page faults on the dev machine
(``shared/reference/environment.md`` section 3). Why no PBO ring: on llvmpipe ``glReadPixels`` into a PBO
waits for the deferred rasteriser anyway and measured no faster (same section); on an NVIDIA GPU the
CUDA-GL interop path (:mod:`engine_bridge.transfer.cuda_interop`) replaces this module altogether.

All conversions (half -> float, RGBA -> RGB) are done by GL during the copy, so the returned arrays are
always float32.
"""

from __future__ import annotations

import ctypes

import numpy as np

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL
from OpenGL.raw.GL.VERSION.GL_1_1 import glGetTexImage as _raw_get_tex_image
from OpenGL.raw.GL.VERSION.GL_1_1 import glTexSubImage2D as _raw_tex_sub_image_2d

from engine_bridge.gl.state import GuestState, drain_host_errors, gl_call
from engine_bridge.transfer.formats import DEPTH_INTERNAL_FORMATS, INTEGER_FORMATS, format_name, inspect_texture
from qwplugin.errors import InvalidArgument, InvalidOperation

_CHANNEL_FORMATS = {1: GL.GL_RED, 2: GL.GL_RG, 3: GL.GL_RGB, 4: GL.GL_RGBA}


def texture_info(tex: int) -> tuple[int, int, int]:
    """``(width, height, internal_format)`` of level 0 of the 2D texture ``tex`` (needs a current context).

    The host's ``GL_TEXTURE_2D`` binding and pixel-store state are left as they were.

    Raises:
        InvalidArgument: ``tex`` is not a ``GL_TEXTURE_2D`` texture name of the current context
            (``field="texture"``).
    """
    with GuestState():
        info = inspect_texture(tex, "texture")
    return info.width, info.height, info.internal_format


class ReadbackTransfer:
    """Preallocated read-back and upload between GL textures and top-down float32 arrays.

    One instance serves one render size; the arrays it returns are its own buffers, reused every frame
    (copy them if you keep them past the next read). Needs the host's GL context current on every call.

    Args:
        width, height: render size in pixels (>= 1).

    Attributes:
        name: ``"readback"``.
        width, height: current size.

    Raises:
        InvalidArgument: non-positive size.

    Example:
        >>> t = ReadbackTransfer(64, 48)              # doctest: +SKIP
        >>> rgb = t.read(color_tex, 3, "color")       # (48, 64, 3) float32, row 0 = top  # doctest: +SKIP
        >>> t.write(out_tex, rgb)                     # doctest: +SKIP
    """

    name = "readback"

    def __init__(self, width: int, height: int):
        self._closed = False
        self._staging: dict[int, np.ndarray] = {}
        self._topdown: dict[tuple[str, int], np.ndarray] = {}
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        """Drop the buffers and adopt a new size (buffers are reallocated lazily, once per size).

        Raises:
            InvalidArgument: non-positive size.
        """
        for v in (width, height):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidArgument("size must be two ints >= 1", field="width/height",
                                      expected="ints >= 1", actual=f"{width!r}x{height!r}")
        self.width, self.height = int(width), int(height)
        self._staging.clear()
        self._topdown.clear()

    def begin_frame(self, inputs: list[int], outputs: list[int]) -> None:
        """Nothing to map on this path (present for interface parity with the interop transfer)."""
        if self._closed:
            raise InvalidOperation("ReadbackTransfer used after close()")

    def end_frame(self) -> None:
        """Nothing to unmap on this path."""

    def _shape(self, channels: int) -> tuple[int, ...]:
        return (self.height, self.width) if channels == 1 else (self.height, self.width, channels)

    def _stage(self, channels: int) -> np.ndarray:
        """The bottom-up staging array for a channel count (scratch shared by reads and uploads)."""
        staging = self._staging.get(channels)
        if staging is None:
            staging = self._staging[channels] = np.empty(self._shape(channels), np.float32)
        return staging

    def _buffers(self, slot: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """(bottom-up staging, top-down destination) for one slot; allocated once per size."""
        shape = self._shape(channels)
        staging = self._stage(channels)
        dst = self._topdown.get((slot, channels))
        if dst is None:
            dst = self._topdown[(slot, channels)] = np.empty(shape, np.float32)
        return staging, dst

    def _check(self, tex: int, field: str) -> int:
        """Inside a GuestState: name, target, size, and a format GL can convert to floats."""
        info = inspect_texture(tex, field)
        if (info.width, info.height) != (self.width, self.height):
            raise InvalidArgument(f"{field} texture size does not match the render size", field=field,
                                  expected=f"{self.width}x{self.height}", actual=f"{info.width}x{info.height}")
        if info.internal_format in INTEGER_FORMATS:
            raise InvalidArgument(f"{field}: integer textures cannot be read or written as floats", field=field,
                                  expected="a float, normalised or depth format",
                                  actual=format_name(info.internal_format))
        return info.internal_format

    def read(self, tex: int, channels: int, slot: str) -> np.ndarray:
        """Read the first ``channels`` channels of ``tex`` as a top-down float32 array.

        Hardware depth textures (``GL_DEPTH_COMPONENT*``) are read as window depth in [0, 1].

        Args:
            tex: a 2D texture of the render size in the current context.
            channels: 1 (returns (H, W)), 2, 3 or 4 (returns (H, W, C)).
            slot: name of the input ("color", "motion", "depth"); keeps one buffer per slot and names the
                field in errors.

        Returns:
            the slot's preallocated top-down float32 array (overwritten by the next read of the slot).

        Raises:
            InvalidArgument: bad texture name, size mismatch, bad channel count.
            InvalidOperation: after :meth:`close`.
        """
        if self._closed:
            raise InvalidOperation("ReadbackTransfer used after close()")
        if channels not in _CHANNEL_FORMATS:
            raise InvalidArgument("channels must be 1..4", field="channels", expected="1, 2, 3 or 4",
                                  actual=repr(channels))
        drain_host_errors("ReadbackTransfer.read")
        with GuestState():  # binds on the active unit, packs tightly into client memory; all restored
            internal = self._check(tex, slot)
            if internal in DEPTH_INTERNAL_FORMATS:
                if channels != 1:
                    raise InvalidArgument(f"{slot}: a depth texture has one channel", field=slot,
                                          expected="channels=1", actual=f"channels={channels}")
                fmt = GL.GL_DEPTH_COMPONENT
            else:
                fmt = _CHANNEL_FORMATS[channels]
            staging, dst = self._buffers(slot, channels)
            gl_call("glGetTexImage", slot, _raw_get_tex_image, GL.GL_TEXTURE_2D, 0, fmt, GL.GL_FLOAT,
                    staging.ctypes.data_as(ctypes.c_void_p))
        np.copyto(dst, staging[::-1])  # the one row flip: GL bottom-up -> contract top-down
        return dst

    def write(self, tex: int, array_topdown: np.ndarray, slot: str = "output") -> None:
        """Upload a top-down (H, W[, C]) array into level 0 of ``tex`` with ``glTexSubImage2D``.

        Channels missing from the array are filled by GL (alpha = 1 for an RGB upload into RGBA).

        Args:
            tex: a 2D colour texture of the render size.
            array_topdown: (H, W) or (H, W, C), C in 1..4, any real dtype (converted to float32 into the
                preallocated staging buffer while flipping).
            slot: the field name used in errors.

        Raises:
            InvalidArgument: bad texture, shape mismatch, a depth texture as target.
            InvalidOperation: after :meth:`close`.
        """
        if self._closed:
            raise InvalidOperation("ReadbackTransfer used after close()")
        arr = array_topdown if isinstance(array_topdown, np.ndarray) else np.asarray(array_topdown)
        channels = 1 if arr.ndim == 2 else (arr.shape[2] if arr.ndim == 3 else 0)
        if arr.shape[:2] != (self.height, self.width) or channels not in _CHANNEL_FORMATS:
            raise InvalidArgument(f"{slot} array has the wrong shape", field=slot,
                                  expected=f"({self.height}, {self.width}[, 1..4])", actual=str(arr.shape))
        if arr.dtype.kind not in "fiu" or arr.dtype.itemsize > 8:
            raise InvalidArgument(f"{slot} array must be real numbers", field=slot,
                                  expected="a float, int or uint dtype up to 64 bits", actual=str(arr.dtype))
        drain_host_errors("ReadbackTransfer.write")
        with GuestState():  # binds on the active unit, unpacks tightly from client memory; all restored
            internal = self._check(tex, slot)
            if internal in DEPTH_INTERNAL_FORMATS:
                raise InvalidArgument(f"{slot} must be a colour texture", field=slot,
                                      expected="e.g. GL_RGBA16F", actual=format_name(internal))
            staging = self._stage(channels)
            np.copyto(staging, arr[::-1], casting="unsafe")  # the one row flip: top-down -> GL bottom-up
            gl_call("glTexSubImage2D", slot, _raw_tex_sub_image_2d, GL.GL_TEXTURE_2D, 0, 0, 0, self.width,
                    self.height, _CHANNEL_FORMATS[channels], GL.GL_FLOAT, staging.ctypes.data_as(ctypes.c_void_p))

    def close(self) -> None:
        """Release the buffers (idempotent). No GL objects are owned."""
        self._closed = True
        self._staging.clear()
        self._topdown.clear()
