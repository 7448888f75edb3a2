"""CudaGLInterop's bookkeeping and copy arithmetic on CPU, against a simulated CUDA runtime.

No GPU here, so ``cuda.bindings.runtime``'s graphics/memcpy functions are replaced by a simulation that
behaves as the CUDA documentation describes: mapping a texture exposes its texels as a bottom-up "CUDA
array" (here a numpy array filled from GL), ``cudaMemcpy2D{From,To}ArrayAsync`` copy ``height`` rows of
``width`` bytes with the given pitches, unmapping a write-registered texture makes CUDA's writes visible to
GL. The real calls are exercised only on an NVIDIA machine (``gpu`` test in test_bridge_interop_select.py).
What this checks: registration once per texture (and again after a format/size change), map/unmap pairing,
pitches and byte counts, the single row flip, channel selection and alpha fill, unregister on close.
"""

import ctypes

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (PyOpenGL platform first)

pytestmark = pytest.mark.gl
W, H = 16, 12


class FakeResource:
    def __init__(self, tex, flags):
        self.tex, self.flags, self.array, self.mapped = tex, flags, None, False


@pytest.fixture
def sim(monkeypatch):
    runtime = pytest.importorskip("cuda.bindings.runtime")
    import torch
    from OpenGL import GL

    from engine_bridge.transfer.cuda_interop import REGISTRABLE_FORMATS
    from engine_bridge.transfer.readback import texture_info

    ok = runtime.cudaError_t.cudaSuccess
    log = {"register": 0, "unregister": 0, "map": 0, "unmap": 0}
    gl_types = {"float16": (np.float16, GL.GL_HALF_FLOAT), "float32": (np.float32, GL.GL_FLOAT)}
    formats = {1: GL.GL_RED, 2: GL.GL_RG, 4: GL.GL_RGBA}

    def layout(tex):
        w, h, internal = texture_info(tex)
        channels, _, dtype = REGISTRABLE_FORMATS[internal]
        return w, h, channels, gl_types[dtype]

    def register(tex, target, flags):
        assert target == GL.GL_TEXTURE_2D
        log["register"] += 1
        return ok, FakeResource(tex, flags)

    def map_(count, res, stream):
        assert count == 1 and not res.mapped, "mapping a mapped resource is an error"
        w, h, c, (np_type, gl_type) = layout(res.tex)
        res.array = np.zeros((h, w, c), np_type)  # bottom-up, as GL stores it
        GL.glBindTexture(GL.GL_TEXTURE_2D, res.tex)
        GL.glGetTexImage(GL.GL_TEXTURE_2D, 0, formats[c], gl_type, res.array)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        res.mapped = True
        log["map"] += 1
        return (ok,)

    def unmap(count, res, stream):
        assert count == 1 and res.mapped
        if res.flags == int(runtime.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsWriteDiscard):
            w, h, c, (np_type, gl_type) = layout(res.tex)
            GL.glBindTexture(GL.GL_TEXTURE_2D, res.tex)
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, formats[c], gl_type, res.array)
            GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        res.mapped, res.array = False, None
        log["unmap"] += 1
        return (ok,)

    def get_array(res, index, level):
        assert res.mapped and index == 0 and level == 0
        return ok, res.array

    def copy_rows(dst, dpitch, src, spitch, width, height):
        assert width <= dpitch and width <= spitch
        for r in range(height):
            ctypes.memmove(dst + r * dpitch, src + r * spitch, width)

    def from_array(dst, dpitch, array, wo, ho, width, height, kind, stream):
        assert width == array.strides[0] and height == array.shape[0] and (wo, ho) == (0, 0)
        copy_rows(dst, dpitch, array.ctypes.data, array.strides[0], width, height)
        return (ok,)

    def to_array(array, wo, ho, src, spitch, width, height, kind, stream):
        assert width == array.strides[0] and height == array.shape[0]
        copy_rows(array.ctypes.data, array.strides[0], src, spitch, width, height)
        return (ok,)

    def unregister(res):
        log["unregister"] += 1
        return (ok,)

    for name, fn in (("cudaGraphicsGLRegisterImage", register), ("cudaGraphicsMapResources", map_),
                     ("cudaGraphicsUnmapResources", unmap), ("cudaGraphicsSubResourceGetMappedArray", get_array),
                     ("cudaMemcpy2DFromArrayAsync", from_array), ("cudaMemcpy2DToArrayAsync", to_array),
                     ("cudaGraphicsUnregisterResource", unregister)):
        monkeypatch.setattr(runtime, name, fn)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    class Stream:
        cuda_stream = 0

    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream())
    return log


def test_simulated_interop_matches_readback(gl, sim):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture
    from engine_bridge.transfer.cuda_interop import CudaGLInterop
    from engine_bridge.transfer.readback import ReadbackTransfer

    rng = np.random.default_rng(5)
    color = rng.uniform(0, 9, (H, W, 3)).astype(np.float16).astype(np.float32)
    color[0] = 50.0                                   # asymmetric: bright top row
    motion = rng.uniform(-3, 3, (H, W, 2)).astype(np.float16).astype(np.float32)
    depth = rng.uniform(0.1, 80, (H, W)).astype(np.float32)
    texs = {"color": create_texture(W, H, GL.GL_RGBA16F), "motion": create_texture(W, H, GL.GL_RG16F),
            "depth": create_texture(W, H, GL.GL_R32F), "out": create_texture(W, H, GL.GL_RGBA16F)}
    rb = ReadbackTransfer(W, H)
    rb.write(texs["color"], color)
    rb.write(texs["motion"], motion)
    rb.write(texs["depth"], depth)

    interop = CudaGLInterop(W, H, device="cpu")
    for frame in range(3):
        interop.begin_frame([texs["color"], texs["motion"], texs["depth"]], [texs["out"]])
        got_c = interop.read(texs["color"], 3, "color")
        got_m = interop.read(texs["motion"], 2, "motion")
        got_d = interop.read(texs["depth"], 1, "depth")
        np.testing.assert_array_equal(got_c.numpy(), color)
        np.testing.assert_array_equal(got_m.numpy(), motion)
        np.testing.assert_array_equal(got_d.numpy(), depth)
        interop.write(texs["out"], got_c * 2.0 ** frame)
        interop.end_frame()
        out = rb.read(texs["out"], 4, "out")
        np.testing.assert_array_equal(out[..., :3], color * 2.0 ** frame)  # exact: x 2^k stays half-representable
        np.testing.assert_array_equal(out[..., 3], 1.0)
    assert sim["register"] == 4 and sim["map"] == sim["unmap"] == 12        # registered once, mapped per frame

    # a texture re-created with another format under the same name is re-registered
    GL.glBindTexture(GL.GL_TEXTURE_2D, texs["out"])
    GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA32F, W, H, 0, GL.GL_RGBA, GL.GL_FLOAT, None)
    GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
    interop.begin_frame([texs["color"]], [texs["out"]])
    interop.write(texs["out"], interop.read(texs["color"], 3, "color"))
    interop.end_frame()
    np.testing.assert_array_equal(rb.read(texs["out"], 3, "out"), color)
    assert sim["register"] == 5 and sim["unregister"] == 1
    interop.close()
    assert sim["unregister"] == 5


def test_simulated_interop_misuse(gl, sim):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture
    from engine_bridge.transfer.cuda_interop import CudaGLInterop
    from qwplugin.errors import InvalidArgument, InvalidOperation

    tex = create_texture(W, H, GL.GL_RGBA16F)
    interop = CudaGLInterop(W, H, device="cpu")
    with pytest.raises(InvalidOperation, match="not mapped"):
        interop.read(tex, 3, "color")
    with pytest.raises(InvalidArgument, match="cannot be registered"):
        interop.begin_frame([create_texture(W, H, GL.GL_DEPTH_COMPONENT32F)], [])
    with pytest.raises(InvalidArgument, match="size"):
        interop.begin_frame([create_texture(W + 1, H, GL.GL_RGBA16F)], [])
    interop.begin_frame([tex], [])
    with pytest.raises(InvalidOperation, match="still mapped"):
        interop.begin_frame([tex], [])
    interop.end_frame()
    interop.close()
    with pytest.raises(InvalidOperation):
        interop.begin_frame([tex], [])
    assert sim["map"] == sim["unmap"]
