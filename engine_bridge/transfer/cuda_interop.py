"""CUDA-OpenGL interop transfer: host GL textures <-> torch CUDA tensors without leaving the GPU.

Recipe (``shared/reference/gpu.md`` sections 1-2, cuda-python ``cuda.bindings.runtime``):

* register each texture **once** (``cudaGraphicsGLRegisterImage``; ``ReadOnly`` for inputs,
  ``WriteDiscard`` for the output), re-register only when its size or format changes;
* per frame, map them (``cudaGraphicsMapResources``; one call for all with ``multi_map=True``) on torch's
  current stream (GL work issued before the map completes before CUDA work on that stream), fetch each
  mapped CUDA array
  (the handle may change every map), ``cudaMemcpy2DFromArrayAsync`` into preallocated torch tensors,
  run the network on the same stream, ``cudaMemcpy2DToArrayAsync`` the output, and unmap in one call;
* unregister while the GL context is still current, before the host deletes its textures.

The row flip (GL bottom-up -> contract top-down) and the half -> float / RGBA -> RGB conversions are one
fused torch copy per texture on the GPU; the copies land in torch-allocated memory, so no CuPy wrapping of
raw device pointers is needed on this path.

Only textures of colour formats with 1, 2 or 4 channels can be registered (no ``GL_DEPTH_COMPONENT*``,
no 3-channel ``RGB*``, no sRGB): hosts give linear depth as an R32F colour attachment.
Everything here needs the host's GL context current on the calling thread. Written without a GPU on the
dev machine: the selection logic is unit-tested on CPU, the copies only on an NVIDIA machine (tests
marked ``gpu``).
"""

from __future__ import annotations

import ctypes

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from engine_bridge.transfer.formats import FORMAT_NAMES, format_name  # noqa: F401  (re-exported)
from engine_bridge.transfer.readback import texture_info
from qwplugin.errors import InvalidArgument, InvalidOperation, UnsupportedHardware

# internal format -> (channels, bytes per channel, torch dtype name) of the formats CUDA can register
REGISTRABLE_FORMATS = {
    int(GL.GL_RGBA16F): (4, 2, "float16"), int(GL.GL_RGBA32F): (4, 4, "float32"),
    int(GL.GL_RG16F): (2, 2, "float16"), int(GL.GL_RG32F): (2, 4, "float32"),
    int(GL.GL_R16F): (1, 2, "float16"), int(GL.GL_R32F): (1, 4, "float32"),
}


def _check(result, what: str):
    """Unpack a cuda-python ``(err, *values)`` tuple; raise UnsupportedHardware on an error code."""
    from cuda.bindings import runtime

    err, *values = result if isinstance(result, tuple) else (result,)
    if err != runtime.cudaError_t.cudaSuccess:
        raise UnsupportedHardware(f"CUDA-GL interop: {what} failed: {err!r}")
    return values[0] if len(values) == 1 else values


class _Registered:
    """One registered texture: its CUDA resource and what it was registered as."""

    def __init__(self, tex: int, width: int, height: int, internal: int, write: bool):
        from cuda.bindings import runtime

        flags = (runtime.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsWriteDiscard if write
                 else runtime.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsReadOnly)
        result = runtime.cudaGraphicsGLRegisterImage(int(tex), int(GL.GL_TEXTURE_2D), int(flags))
        self.resource = _check(result, f"cudaGraphicsGLRegisterImage(texture {tex}, {format_name(internal)})")
        self.key = (width, height, internal, write)
        self.channels, self.bytes_per_channel, self.dtype = REGISTRABLE_FORMATS[internal]

    def unregister(self) -> None:
        from cuda.bindings import runtime

        _check(runtime.cudaGraphicsUnregisterResource(self.resource), "cudaGraphicsUnregisterResource")


class CudaGLInterop:
    """GL textures <-> torch CUDA tensors through CUDA-GL interop (same interface as ReadbackTransfer).

    Per frame: ``begin_frame(texture ids)`` maps them, ``read``/``write`` copy, ``end_frame()`` unmaps.

    Args:
        width, height: render size in pixels.
        device: the torch CUDA device the plugin runs on (the one GL must run on, see
            :func:`engine_bridge.transfer.select.probe_interop`).
        multi_map: map all textures with one ``cudaGraphicsMapResources`` call (passing the address of a
            C array of handles). The CUDA API documents it, but this binding form is unverified in Python
            (gpu.md section 2), so the default maps one resource per call; on an error it falls back.

    Raises:
        UnsupportedHardware: torch has no CUDA or cuda-python is missing.
    """

    name = "cuda_interop"

    def __init__(self, width: int, height: int, device="cuda", multi_map: bool = False):
        import torch

        if not torch.cuda.is_available():
            raise UnsupportedHardware("CUDA-GL interop needs torch with CUDA")
        try:
            from cuda.bindings import runtime  # noqa: F401
        except ImportError as exc:
            raise UnsupportedHardware(f"CUDA-GL interop needs cuda-python ({exc})") from None
        self.device = torch.device(device)
        self._registered: dict[int, _Registered] = {}
        self._mapped: list[_Registered] = []
        self._arrays: dict[int, object] = {}
        self._staging: dict[tuple, torch.Tensor] = {}
        self._topdown: dict[tuple, torch.Tensor] = {}
        self._multi_map_ok = bool(multi_map)
        self._closed = False
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        """Adopt a new render size: buffers are dropped, registrations are renewed on next use."""
        self.width, self.height = int(width), int(height)
        self._staging.clear()
        self._topdown.clear()

    def _stream(self):
        import torch

        return torch.cuda.current_stream(self.device).cuda_stream

    def _register(self, tex: int, write: bool) -> _Registered:
        w, h, internal = texture_info(tex)
        if (w, h) != (self.width, self.height):
            raise InvalidArgument("texture size does not match the render size", field=f"texture {tex}",
                                  expected=f"{self.width}x{self.height}", actual=f"{w}x{h}")
        if internal not in REGISTRABLE_FORMATS:
            raise InvalidArgument("texture format cannot be registered with CUDA", field=f"texture {tex}",
                                  expected=" / ".join(format_name(f) for f in REGISTRABLE_FORMATS),
                                  actual=format_name(internal))
        reg = self._registered.get(tex)
        if reg is not None and reg.key != (w, h, internal, write):
            reg.unregister()
            reg = None
        if reg is None:
            reg = self._registered[tex] = _Registered(tex, w, h, internal, write)
        return reg

    def begin_frame(self, inputs: list[int], outputs: list[int]) -> None:
        """Register (first time only) and map every texture of the frame in one call on torch's stream."""
        from cuda.bindings import runtime

        if self._closed:
            raise InvalidOperation("CudaGLInterop used after close()")
        if self._mapped:
            raise InvalidOperation("begin_frame() while textures are still mapped (missing end_frame())")
        regs = [self._register(t, False) for t in inputs] + [self._register(t, True) for t in outputs]
        stream = self._stream()
        if self._multi_map_ok and len(regs) > 1:
            # one map call for all resources (gpu.md section 5): pass the address of a C array of handles
            handles = (ctypes.c_void_p * len(regs))(*[int(r.resource) for r in regs])
            try:
                _check(runtime.cudaGraphicsMapResources(len(regs), ctypes.addressof(handles), stream),
                       "cudaGraphicsMapResources")
            except (TypeError, UnsupportedHardware):
                self._multi_map_ok = False  # unverified binding form: fall back to one call per resource
        if not (self._multi_map_ok and len(regs) > 1):
            for r in regs:
                _check(runtime.cudaGraphicsMapResources(1, r.resource, stream), "cudaGraphicsMapResources")
        self._mapped = regs
        self._arrays = {tex: _check(runtime.cudaGraphicsSubResourceGetMappedArray(r.resource, 0, 0),
                                    "cudaGraphicsSubResourceGetMappedArray")
                        for tex, r in zip(list(inputs) + list(outputs), regs)}

    def end_frame(self) -> None:
        """Unmap everything mapped by :meth:`begin_frame` (CUDA work before it completes before GL's next)."""
        from cuda.bindings import runtime

        if not self._mapped:
            return
        stream = self._stream()
        regs, self._mapped, self._arrays = self._mapped, [], {}
        if self._multi_map_ok and len(regs) > 1:
            handles = (ctypes.c_void_p * len(regs))(*[int(r.resource) for r in regs])
            _check(runtime.cudaGraphicsUnmapResources(len(regs), ctypes.addressof(handles), stream),
                   "cudaGraphicsUnmapResources")
        else:
            for r in regs:
                _check(runtime.cudaGraphicsUnmapResources(1, r.resource, stream),
                       "cudaGraphicsUnmapResources")

    def _buffer(self, cache: dict, key: tuple, shape: tuple, dtype: str):
        import torch

        buf = cache.get(key)
        if buf is None:
            buf = cache[key] = torch.empty(shape, dtype=getattr(torch, dtype), device=self.device)
        return buf

    def read(self, tex: int, channels: int, slot: str):
        """Copy a mapped texture into a top-down (H, W[, C]) float32 CUDA tensor (reused per slot)."""
        from cuda.bindings import runtime

        reg, array = self._registered.get(tex), self._arrays.get(tex)
        if reg is None or array is None:
            raise InvalidOperation(f"{slot}: texture {tex} is not mapped (call begin_frame first)")
        if channels > reg.channels:
            raise InvalidArgument(f"{slot}: texture has fewer channels than requested", field=slot,
                                  expected=f"<= {reg.channels}", actual=str(channels))
        row_bytes = self.width * reg.channels * reg.bytes_per_channel
        staging = self._buffer(self._staging, ("in", slot, reg.key), (self.height, self.width, reg.channels),
                               reg.dtype)
        d2d = runtime.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        _check(runtime.cudaMemcpy2DFromArrayAsync(staging.data_ptr(), row_bytes, array, 0, 0, row_bytes,
                                                  self.height, d2d, self._stream()),
               "cudaMemcpy2DFromArrayAsync")
        shape = (self.height, self.width) if channels == 1 else (self.height, self.width, channels)
        dst = self._buffer(self._topdown, (slot, channels), shape, "float32")
        src = staging.flip(0)[..., :channels]  # the one row flip, fused with the dtype/channel conversion
        dst.copy_(src[..., 0] if channels == 1 else src)
        return dst

    def write(self, tex: int, tensor_topdown, slot: str = "output") -> None:
        """Copy a top-down (H, W, C) tensor into a mapped output texture (alpha = 1 where C < 4)."""
        import torch
        from cuda.bindings import runtime

        reg, array = self._registered.get(tex), self._arrays.get(tex)
        if reg is None or array is None:
            raise InvalidOperation(f"{slot}: texture {tex} is not mapped (call begin_frame first)")
        src = torch.as_tensor(tensor_topdown, device=self.device)
        if src.ndim == 2:
            src = src[..., None]
        if tuple(src.shape[:2]) != (self.height, self.width) or src.shape[2] > reg.channels:
            raise InvalidArgument(f"{slot} tensor has the wrong shape", field=slot,
                                  expected=f"({self.height}, {self.width}, <= {reg.channels})",
                                  actual=str(tuple(src.shape)))
        staging = self._buffer(self._staging, ("out", slot, reg.key), (self.height, self.width, reg.channels),
                               reg.dtype)
        if src.shape[2] < reg.channels:
            staging[..., src.shape[2]:].fill_(1.0)
        staging[..., :src.shape[2]].copy_(src.flip(0))  # the one row flip: top-down -> GL bottom-up
        row_bytes = self.width * reg.channels * reg.bytes_per_channel
        d2d = runtime.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        _check(runtime.cudaMemcpy2DToArrayAsync(array, 0, 0, staging.data_ptr(), row_bytes, row_bytes,
                                                self.height, d2d, self._stream()), "cudaMemcpy2DToArrayAsync")

    def close(self) -> None:
        """Unmap and unregister everything (GL context must still be current). Idempotent."""
        if self._closed:
            return
        self.end_frame()
        for reg in self._registered.values():
            reg.unregister()
        self._registered.clear()
        self._staging.clear()
        self._topdown.clear()
        self._closed = True
