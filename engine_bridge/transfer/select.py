"""Choosing the transfer path: CUDA-GL interop when GL runs on the NVIDIA GPU torch uses, else read-back.

The decision is split in two so that the logic is testable without a GPU:

* :func:`probe_interop` gathers facts (needs the host's GL context current): is the plugin on CUDA, does
  torch see CUDA, does cuda-python import, who is ``GL_VENDOR``, which CUDA devices
  ``cudaGLGetDevices`` says run this GL context, and the internal format of each texture;
* :func:`decide_interop` is a pure function from those :class:`InteropFacts` to an
  :class:`InteropCapability` with the first reason interop cannot run, in a fixed order.

:func:`select_transfer` builds the chosen transfer object and returns it with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qwplugin.errors import InvalidArgument, UnsupportedHardware

TRANSFERS = ("auto", "readback", "cuda_interop")


@dataclass(frozen=True)
class InteropFacts:
    """What the interop decision depends on.

    Attributes:
        plugin_device: the torch device the qwplugin context runs on (``"cpu"``, ``"cuda:0"``...).
        torch_cuda_device: ``torch.cuda.current_device()`` index, or None when torch has no CUDA.
        cuda_python_error: why ``cuda.bindings.runtime`` could not be imported, or None.
        gl_vendor: ``GL_VENDOR`` of the current context.
        gl_renderer: ``GL_RENDERER`` of the current context.
        gl_cuda_devices: CUDA device indices ``cudaGLGetDevices`` reports for the GL context, or None.
        gl_cuda_error: why ``cudaGLGetDevices`` failed, or None.
        texture_formats: slot name -> GL internal format of each texture the bridge will map.
    """

    plugin_device: str
    torch_cuda_device: int | None
    cuda_python_error: str | None
    gl_vendor: str
    gl_renderer: str
    gl_cuda_devices: tuple[int, ...] | None = None
    gl_cuda_error: str | None = None
    texture_formats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class InteropCapability:
    """Result of the interop decision.

    Attributes:
        available: interop can run for these textures.
        reason: why not (or, when available, what it runs on), for logs and the app's overlay.
        cuda_device: the CUDA device index both GL and torch use, when available.
    """

    available: bool
    reason: str
    cuda_device: int | None = None


def decide_interop(facts: InteropFacts) -> InteropCapability:
    """The pure interop decision: the first failing condition, in a fixed order, gives the reason.

    Order: plugin on CUDA; torch CUDA; cuda-python; GL vendor NVIDIA; ``cudaGLGetDevices`` lists torch's
    device; every texture format registrable.

    Examples:
        >>> decide_interop(InteropFacts("cpu", None, None, "Mesa", "llvmpipe")).reason
        'the qwplugin context runs on cpu: read-back feeds it directly'
    """
    from engine_bridge.transfer.cuda_interop import REGISTRABLE_FORMATS, format_name

    if not facts.plugin_device.startswith("cuda"):
        return InteropCapability(False, f"the qwplugin context runs on {facts.plugin_device}: read-back "
                                        "feeds it directly")
    if facts.torch_cuda_device is None:
        return InteropCapability(False, "torch sees no CUDA device")
    if facts.cuda_python_error is not None:
        return InteropCapability(False, f"cuda-python is not usable ({facts.cuda_python_error}); "
                                        "pip install 'qwplugin[gpu]'")
    if "nvidia" not in facts.gl_vendor.lower():
        return InteropCapability(False, f"OpenGL runs on {facts.gl_vendor} / {facts.gl_renderer}, not on an "
                                        "NVIDIA GPU")
    if facts.gl_cuda_error is not None:
        return InteropCapability(False, f"cudaGLGetDevices failed: {facts.gl_cuda_error}")
    device = facts.torch_cuda_device
    if not facts.gl_cuda_devices or device not in facts.gl_cuda_devices:
        return InteropCapability(False, f"OpenGL runs on CUDA device(s) {list(facts.gl_cuda_devices or [])}, "
                                        f"torch uses CUDA device {device}")
    for slot, fmt in facts.texture_formats.items():
        if int(fmt) not in REGISTRABLE_FORMATS:
            hint = " (give linear depth as an R32F colour attachment)" if "DEPTH" in format_name(fmt) else ""
            return InteropCapability(False, f"the {slot} texture's format {format_name(fmt)} cannot be "
                                            f"registered with CUDA{hint}")
    return InteropCapability(True, f"CUDA-GL interop on CUDA device {device} ({facts.gl_renderer})", device)


def probe_interop(plugin_device: str, textures: dict[str, int] | None = None) -> InteropFacts:
    """Gather :class:`InteropFacts` on this machine (the host's GL context must be current).

    Args:
        plugin_device: the torch device the qwplugin context uses.
        textures: slot name -> GL texture id whose formats matter (optional).
    """
    import torch
    from OpenGL import GL

    from engine_bridge.transfer.readback import texture_info

    vendor = (GL.glGetString(GL.GL_VENDOR) or b"?").decode(errors="replace")
    renderer = (GL.glGetString(GL.GL_RENDERER) or b"?").decode(errors="replace")
    formats = {slot: texture_info(tex)[2] for slot, tex in (textures or {}).items()}
    torch_device = torch.cuda.current_device() if torch.cuda.is_available() else None
    py_error = gl_devices = gl_error = None
    try:
        from cuda.bindings import runtime
    except ImportError as exc:
        py_error = f"{type(exc).__name__}: {exc}"
    if py_error is None and torch_device is not None and "nvidia" in vendor.lower():
        max_devices = 8
        err, count, devices = runtime.cudaGLGetDevices(max_devices,
                                                       runtime.cudaGLDeviceList.cudaGLDeviceListAll)
        if err != runtime.cudaError_t.cudaSuccess:
            gl_error = repr(err)
        else:
            gl_devices = tuple(int(d) for d in list(devices)[:count])
    return InteropFacts(str(plugin_device), torch_device, py_error, vendor, renderer, gl_devices, gl_error,
                        formats)


def select_transfer(preference: str, width: int, height: int, plugin_device: str,
                    textures: dict[str, int] | None = None):
    """Build the transfer for a bridge.

    Args:
        preference: ``"auto"`` (interop when :func:`decide_interop` allows, else read-back),
            ``"readback"``, or ``"cuda_interop"`` (raise when unavailable).
        width, height: render size in pixels.
        plugin_device: the torch device of the qwplugin context.
        textures: slot -> texture id, to check their formats.

    Returns:
        ``(transfer, reason)``: a :class:`~engine_bridge.transfer.readback.ReadbackTransfer` or
        :class:`~engine_bridge.transfer.cuda_interop.CudaGLInterop`, and why it was chosen.

    Raises:
        InvalidArgument: unknown preference.
        UnsupportedHardware: ``"cuda_interop"`` requested where it cannot run (the reason says why).
    """
    from engine_bridge.transfer.readback import ReadbackTransfer

    if preference not in TRANSFERS:
        raise InvalidArgument("unknown transfer", field="transfer", expected=" | ".join(TRANSFERS),
                              actual=repr(preference))
    if preference == "readback":
        return ReadbackTransfer(width, height), "read-back requested"
    cap = decide_interop(probe_interop(plugin_device, textures))
    if cap.available:
        from engine_bridge.transfer.cuda_interop import CudaGLInterop

        return CudaGLInterop(width, height, device=f"cuda:{cap.cuda_device}"), cap.reason
    if preference == "cuda_interop":
        raise UnsupportedHardware(f"CUDA-GL interop unavailable: {cap.reason}")
    return ReadbackTransfer(width, height), f"read-back: {cap.reason}"
