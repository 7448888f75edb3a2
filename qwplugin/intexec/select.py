"""Backend selection: the fastest exact integer backend available, with the reason; clean fallbacks.

Order for ``preference="auto"``:

1. ``triton-int8`` (exact) when Triton imports and a CUDA device of sm_80+ is present;
2. ``cpu-int8-onednn`` (exact) when torch has oneDNN int8 convolutions;
3. ``fakequant-float`` (not exact: float convolutions with fake-quant rounding) otherwise.

Every integer candidate must also pass a self-test at creation (a small random input, codes compared
with the reference executor, or with the digest of the reference's answer recorded in an integer file at
export, which keeps start-up fast); a failure moves on to the next candidate and the reason says why.

Wiring into a model: ``model.features = IntegerFeatureExtractor(backend)`` makes a :class:`QWNet` run its
extractor on the backend (the filter network stays float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from qwplugin.errors import InvalidArgument, UnsupportedHardware
from qwplugin.intexec.cpu_backend import CpuInt8Backend
from qwplugin.intexec.fakequant import FakeQuantExecutor
from qwplugin.intexec.program import IntProgram
from qwplugin.intexec.reference import quantize_input, run_reference

PREFERENCES = ("auto", "triton", "cpu", "fakequant")


@dataclass(frozen=True)
class IntBackendChoice:
    """Which integer backend runs and why (the integer path's choice; the Context's whole answer is
    :class:`qwplugin.runtime.backend.BackendInfo`).

    Attributes:
        name: "triton-int8", "cpu-int8-onednn" or "fakequant-float".
        exact: True when its codes equal the reference executor's bit for bit.
        reason: why this one was chosen, including why better candidates were skipped.
    """

    name: str
    exact: bool
    reason: str


SELF_TEST_SEED = 1234


def self_test_input(program: IntProgram, seed: int = SELF_TEST_SEED) -> torch.Tensor:
    """The self-test's input: uniform random uint8 codes (1, Cin, 2 * pad_multiple, 2 * pad_multiple)."""
    size = program.pad_multiple * 2
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2 ** program.input_spec.bits, (1, program.input_spec.channels, size, size),
                         generator=g, dtype=torch.uint8)


def outputs_digest(program: IntProgram, outputs: dict[str, torch.Tensor]) -> str:
    """sha256 of the outputs' codes then the heads' float32 logits (C-contiguous bytes, program order)."""
    import hashlib

    h = hashlib.sha256()
    for name in program.outputs + program.heads:
        h.update(outputs[name].cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def known_answer(program: IntProgram) -> dict:
    """The reference executor's digest on :func:`self_test_input` (stored in integer files at export)."""
    x = self_test_input(program)
    return {"seed": SELF_TEST_SEED, "size": int(x.shape[-1]), "sha256": outputs_digest(program, run_reference(program, x))}


def _self_test(backend, program: IntProgram) -> str | None:
    """None when the backend's codes (and the heads' logits) equal the reference on a small random input,
    else the reason. With ``program.known_answer`` the reference's digest is compared instead of running it."""
    x = self_test_input(program)
    got = backend.run_outputs(x) if program.heads else backend.run_codes(x)
    ka = program.known_answer
    if ka and ka.get("seed") == SELF_TEST_SEED and ka.get("size") == x.shape[-1]:
        if outputs_digest(program, got) != ka.get("sha256"):
            return "self-test mismatch against the reference executor's recorded answer (known-answer digest)"
        return None
    ref = run_reference(program, x)
    bad = [n for n in program.outputs + program.heads if not torch.equal(got[n].cpu(), ref[n])]
    return f"self-test mismatch against the reference executor on {bad}" if bad else None


def _as_program(model_or_program) -> IntProgram:
    if isinstance(model_or_program, IntProgram):
        return model_or_program
    if isinstance(model_or_program, nn.Module):
        from qwplugin.intexec.export import export_extractor

        return export_extractor(model_or_program)
    raise InvalidArgument("expected an IntProgram or a QW-Net model", field="model",
                          expected="IntProgram | QWNet", actual=type(model_or_program).__name__)


def make_extractor_backend(model, preference: str = "auto", device: str | None = None,
                           self_test: bool = True):
    """Build the extractor backend for ``model`` (a QW-Net, its extractor, or an :class:`IntProgram`).

    Args:
        model: the quantization-aware model (exported here) or an exported program.
        preference: "auto" (fastest exact available), "triton", "cpu" or "fakequant".
        device: device for the float fallback ("cpu" default; "cuda" gives the FP16 cuDNN path).
        self_test: check integer backends against the reference executor at creation.

    Returns:
        ``(backend, IntBackendChoice)``; ``backend.features(x_codes)`` gives the float features and
        ``backend.run_codes(x_codes)`` the codes.

    Raises:
        InvalidArgument: unknown ``preference`` or not a model/program.
        UnsupportedHardware: an explicit "triton" or "cpu" preference cannot be honoured.
    """
    if preference not in PREFERENCES:
        raise InvalidArgument("unknown backend preference", field="preference", expected=" | ".join(PREFERENCES),
                              actual=repr(preference))
    program = _as_program(model)
    program.validate()  # once here; the candidates below skip their own pass over the weights
    skipped: list[str] = []
    candidates = {"auto": ("triton", "cpu"), "triton": ("triton",), "cpu": ("cpu",), "fakequant": ()}[preference]
    for cand in candidates:
        try:
            if cand == "triton":
                if not torch.cuda.is_available():
                    # Checked before importing triton: importing triton after a Mesa llvmpipe GL context
                    # exists segfaults (two LLVMs in one process), e.g. in the GL demo and bridge tests.
                    raise UnsupportedHardware("no CUDA device: Triton runs here only in the interpreter "
                                              "(not imported)")
                from qwplugin.intexec.triton_backend import TritonInt8Backend, triton_available

                ok, why = triton_available()
                if not ok or not torch.cuda.is_available():
                    raise UnsupportedHardware(why if not ok else "Triton runs here only in the interpreter")
                backend = TritonInt8Backend(program, validated=True)
            else:
                backend = CpuInt8Backend(program, validated=True)
            problem = _self_test(backend, program) if self_test else None
            if problem:
                raise UnsupportedHardware(problem)
        except UnsupportedHardware as exc:
            skipped.append(f"{cand}: {exc}")
            if preference != "auto":
                raise
            continue
        reason = f"{backend.name}: fastest exact backend available"
        if skipped:
            reason += "; skipped " + "; ".join(skipped)
        return backend, IntBackendChoice(backend.name, True, reason)
    dev = device or "cpu"
    dtype = torch.float16 if torch.device(dev).type == "cuda" else torch.float32
    backend = FakeQuantExecutor(program, device=dev, dtype=dtype)
    reason = "fake-quant float fallback (codes may differ from the integer reference by rounding)"
    reason += ("; " + "; ".join(skipped)) if skipped else "; requested explicitly"
    return backend, IntBackendChoice(backend.name, False, reason)


class IntegerFeatureExtractor(nn.Module):
    """Drop-in for a QW-Net's ``features`` module running the extractor on an integer backend.

    ``forward(x)`` takes the float network input (N, C, H, W) (H, W multiples of ``pad_multiple``),
    quantizes it to 8-bit codes exactly as the model's input quantizer, runs the backend and returns
    ``(features, scales)`` like :class:`qwplugin.model.unet.FeatureExtractor` (scales as 0-dim tensors).
    Used where a float QAT model is kept and only its extractor is swapped (caller-supplied models, the
    U-Net baseline); the shipped QW-Net int4 file runs as :class:`~qwplugin.intexec.network.IntegerQWNet`.
    """

    def __init__(self, backend):
        super().__init__()
        self.backend = backend
        self.program = backend.program

    @torch.no_grad()
    def forward(self, x: torch.Tensor):
        codes = quantize_input(x, self.program.input_spec.scale, self.program.input_spec.bits)
        feats = [f.to(x.device) for f in self.backend.features(codes)]
        scales = [torch.tensor(self.program.tensors[n].scale, dtype=torch.float32, device=x.device)
                  for n in self.program.outputs]
        return feats, scales
