"""Device selection and :class:`BackendInfo`, the honest one-line answer to "what is running, and why"."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from qwplugin.errors import UnsupportedHardware

INT4_FAKE_QUANT = "int4 (fake-quant float simulation)"
"""What ``precision="int4"`` runs when no integer backend is used (``int4_backend="fakequant"``, a
caller-supplied model, or none available): the quantization-aware model's fake-quant forward, i.e. 4-bit
*values* computed in float32 arithmetic."""


def attach_int4_backend(model: torch.nn.Module, preference: str,
                        device: torch.device) -> tuple[str, list[str]]:
    """Run ``model``'s feature extractor on an integer backend of :mod:`qwplugin.intexec` when possible.

    Replaces ``model.features`` in place (the model must be the context's own copy).

    Returns:
        ``(precision_detail, notes)``, e.g. ``("int4 (integer backend cpu-int8-onednn, exact)", [reason])``
        or ``(INT4_FAKE_QUANT, [why no integer backend])``.

    Raises:
        UnsupportedHardware: an explicit ``"triton"`` or ``"cpu"`` preference cannot be honoured.
    """
    if preference == "fakequant":
        return INT4_FAKE_QUANT, ["int4_backend='fakequant' requested"]
    from qwplugin.errors import QWPluginError
    from qwplugin.intexec.select import IntegerFeatureExtractor, make_extractor_backend

    try:
        backend, info = make_extractor_backend(model, preference, device=device.type)
    except UnsupportedHardware:
        raise
    except (QWPluginError, ImportError, RuntimeError) as exc:  # export or kernels unavailable: say so, go on
        return INT4_FAKE_QUANT, [f"integer backend unavailable ({type(exc).__name__}: {exc})"]
    if not info.exact:
        return INT4_FAKE_QUANT, [f"no exact integer backend: {info.reason}"]
    model.features = IntegerFeatureExtractor(backend)
    return f"int4 (integer backend {info.name}, exact)", [info.reason]


def select_device(backend: str) -> tuple[torch.device, str]:
    """Map ``ContextDesc.backend`` to a torch device, with the reason for the choice.

    Raises:
        UnsupportedHardware: ``backend == "cuda"`` but ``torch.cuda.is_available()`` is False.

    Examples:
        >>> select_device("cpu")
        (device(type='cpu'), 'cpu: requested')
    """
    assert backend in ("auto", "cpu", "cuda"), backend
    if backend == "cpu":
        return torch.device("cpu"), "cpu: requested"
    available = torch.cuda.is_available()
    if backend == "cuda":
        if not available:
            raise UnsupportedHardware(
                "backend 'cuda' requested but torch.cuda.is_available() is False (torch "
                f"{torch.__version__}, built with CUDA {torch.version.cuda or 'none'}): install a CUDA build "
                "of torch and check the NVIDIA driver, or use backend='cpu' or 'auto'")
        return torch.device("cuda"), f"cuda: requested ({torch.cuda.get_device_name(0)})"
    if available:
        return torch.device("cuda"), f"cuda: auto, CUDA available ({torch.cuda.get_device_name(0)})"
    return torch.device("cpu"), "cpu: auto, torch.cuda.is_available() is False"


@dataclass(frozen=True)
class BackendInfo:
    """What a context runs and why (for logs, HUDs and bug reports).

    Attributes:
        device: ``"cpu"`` or ``"cuda"``.
        device_reason: why that device (requested, or what ``auto`` found).
        precision: ``"int4"`` or ``"fp32"`` as requested.
        precision_detail: how that precision is executed, e.g. :data:`INT4_FAKE_QUANT` or ``"fp32"``.
        model: the model name or weights path requested; ``model_kind``: ``"qwnet"`` or ``"unet"``.
        weights: where the weights came from, e.g. ``"untrained: random init (seed 0)"``.
        trained: False when the weights are a random initialisation (the output is not a reconstruction).
        notes: caveats (checksum not verified, no shipped weights, ...).
        fallback: what runs on frames over budget with policy ``"fallback"`` (or ``"none"``).
        uses_jitter: whether the running model reads ``Frame.jitter_px`` (QW-Net and the U-Net do not:
            they see only colour, the warped history and, optionally, depth; the TAA fallback does).
        uses_depth: whether the running model reads ``Frame.depth`` (its config's ``use_depth``); when
            False depth is validated if given but never transferred.
    """

    device: str
    device_reason: str
    precision: str
    precision_detail: str
    model: str
    model_kind: str
    weights: str
    trained: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    fallback: str = "none"
    uses_jitter: bool = False
    uses_depth: bool = False

    def __str__(self) -> str:
        """One stable line for HUDs and reports; the longer ``notes`` and reasons stay in their fields."""
        return (f"{self.model_kind} '{self.model}' on {self.device}, {self.precision_detail}, "
                f"weights {self.weights}")
