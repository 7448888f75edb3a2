"""Transfer selection: the pure interop decision (every reason, in order) and the probe on this machine.

The interop copies themselves need an NVIDIA GPU with NVIDIA GL (test marked ``gpu`` at the end).
"""

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (PyOpenGL's platform is chosen before any OpenGL import)
from engine_bridge.transfer.select import InteropFacts, decide_interop

GOOD = dict(plugin_device="cuda:0", torch_cuda_device=0, cuda_python_error=None, gl_vendor="NVIDIA Corporation",
            gl_renderer="NVIDIA H100 PCIe/PCIe/SSE2", gl_cuda_devices=(0,), gl_cuda_error=None)


def _formats(**names):
    from OpenGL import GL

    return {slot: int(getattr(GL, n)) for slot, n in names.items()}


def test_all_conditions_met_selects_interop():
    cap = decide_interop(InteropFacts(**GOOD, texture_formats=_formats(color="GL_RGBA16F", motion="GL_RG16F",
                                                                       depth="GL_R32F", output="GL_RGBA16F")))
    assert cap.available and cap.cuda_device == 0
    assert "H100" in cap.reason


@pytest.mark.parametrize("change,expected", [
    (dict(plugin_device="cpu"), "runs on cpu"),
    (dict(torch_cuda_device=None), "torch sees no CUDA device"),
    (dict(cuda_python_error="ModuleNotFoundError: No module named 'cuda'"), "cuda-python is not usable"),
    (dict(gl_vendor="Mesa", gl_renderer="llvmpipe (LLVM 15.0.6, 256 bits)"), "OpenGL runs on Mesa / llvmpipe"),
    (dict(gl_cuda_error="cudaErrorNoDevice"), "cudaGLGetDevices failed: cudaErrorNoDevice"),
    (dict(gl_cuda_devices=(1,)), "OpenGL runs on CUDA device(s) [1], torch uses CUDA device 0"),
    (dict(gl_cuda_devices=()), "OpenGL runs on CUDA device(s) [], torch uses CUDA device 0"),
])
def test_each_failing_condition_gives_its_reason(change, expected):
    cap = decide_interop(InteropFacts(**{**GOOD, **change}))
    assert not cap.available and cap.cuda_device is None
    assert expected in cap.reason, cap.reason


def test_first_failing_condition_wins():
    cap = decide_interop(InteropFacts(**{**GOOD, "torch_cuda_device": None, "gl_vendor": "Mesa"}))
    assert cap.reason == "torch sees no CUDA device"


@pytest.mark.parametrize("fmt,hint", [("GL_DEPTH_COMPONENT32F", "R32F colour attachment"),
                                      ("GL_RGB16F", ""), ("GL_SRGB8_ALPHA8", "")])
def test_unregistrable_texture_formats_fall_back(fmt, hint):
    cap = decide_interop(InteropFacts(**GOOD, texture_formats=_formats(color="GL_RGBA16F", depth=fmt)))
    assert not cap.available
    assert f"format {fmt} cannot be registered" in cap.reason and hint in cap.reason
    assert cap.reason.startswith("the depth texture's format")
    assert ("R32F colour attachment" in cap.reason) == fmt.startswith("GL_DEPTH")


@pytest.mark.gl
def test_probe_on_this_machine_gives_a_clear_reason_and_readback():
    """On the CPU dev machine (Mesa llvmpipe, torch CPU) selection falls back to read-back with a reason."""
    import torch

    from engine_bridge.gl import create_context
    from engine_bridge.gl.textures import create_texture
    from engine_bridge.transfer.readback import ReadbackTransfer
    from engine_bridge.transfer.select import probe_interop, select_transfer
    from qwplugin.errors import InvalidArgument, UnsupportedHardware

    ctx = create_context()
    try:
        from OpenGL import GL

        tex = create_texture(8, 4, GL.GL_RGBA16F)
        facts = probe_interop("cpu", {"color": tex})
        assert facts.texture_formats == {"color": int(GL.GL_RGBA16F)}
        assert facts.gl_vendor and facts.gl_renderer
        if torch.cuda.is_available() and "nvidia" in facts.gl_vendor.lower():
            pytest.skip("NVIDIA GL machine: the fallback reason differs")
        transfer, reason = select_transfer("auto", 8, 4, "cpu", {"color": tex})
        assert isinstance(transfer, ReadbackTransfer) and reason.startswith("read-back: ")
        # asking the plugin device to be cuda on this machine gives the hardware reason
        cap = decide_interop(probe_interop("cuda:0", {"color": tex}))
        assert not cap.available
        assert ("torch sees no CUDA device" in cap.reason) or ("not on an NVIDIA GPU" in cap.reason)
        with pytest.raises(UnsupportedHardware, match="CUDA-GL interop unavailable"):
            select_transfer("cuda_interop", 8, 4, "cuda:0", {"color": tex})
        with pytest.raises(InvalidArgument):
            select_transfer("pbo", 8, 4, "cpu")
        transfer, reason = select_transfer("readback", 8, 4, "cuda:0")
        assert isinstance(transfer, ReadbackTransfer)
    finally:
        ctx.close()


@pytest.mark.gpu
@pytest.mark.gl
def test_interop_round_trip_matches_readback_on_nvidia():
    """GPU machine only: interop read of an uploaded texture equals the read-back path exactly, and an
    interop write reads back exactly (float16-representable data in RGBA16F)."""
    import torch

    from engine_bridge.gl import create_context
    from engine_bridge.gl.textures import create_texture
    from engine_bridge.transfer.cuda_interop import CudaGLInterop
    from engine_bridge.transfer.readback import ReadbackTransfer
    from engine_bridge.transfer.select import probe_interop

    ctx = create_context()
    try:
        from OpenGL import GL

        w, h = 64, 48
        src, dst = create_texture(w, h, GL.GL_RGBA16F), create_texture(w, h, GL.GL_RGBA16F)
        cap = decide_interop(probe_interop("cuda:0", {"color": src, "output": dst}))
        if not cap.available:
            pytest.skip(f"interop unavailable here: {cap.reason}")
        rng = np.random.default_rng(0)
        img = rng.uniform(0, 8, (h, w, 3)).astype(np.float16).astype(np.float32)
        img[0, :, 0] = 100.0  # asymmetric: top row
        rb = ReadbackTransfer(w, h)
        rb.write(src, img)
        interop = CudaGLInterop(w, h, device=f"cuda:{cap.cuda_device}")
        interop.begin_frame([src], [dst])
        got = interop.read(src, 3, "color")
        interop.write(dst, got * 2)
        interop.end_frame()
        torch.cuda.synchronize()
        np.testing.assert_array_equal(got.cpu().numpy(), img)
        np.testing.assert_array_equal(rb.read(dst, 3, "output"), img * 2)
        interop.close()
    finally:
        ctx.close()
