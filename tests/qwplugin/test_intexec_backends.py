"""Fast backends against the reference executor: bit for bit on random quantized models at odd sizes."""

import os

import pytest
import torch

from qwplugin.errors import InvalidArgument, UnsupportedHardware
from qwplugin.intexec.cpu_backend import CpuInt8Backend, onednn_available
from qwplugin.intexec.fakequant import FakeQuantExecutor
from qwplugin.intexec.reference import run_reference
from qwplugin.intexec.select import IntegerFeatureExtractor, make_extractor_backend
from qwplugin.intexec.synthetic import random_unet_program

needs_onednn = pytest.mark.skipif(not onednn_available()[0], reason=onednn_available()[1])


def _input(program, n, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, program.input_spec.channels, h, w), generator=g, dtype=torch.uint8)


@needs_onednn
@pytest.mark.parametrize("seed,n,h,w", [(0, 1, 4, 4), (1, 2, 12, 20), (2, 1, 28, 36), (3, 3, 8, 44)])
def test_cpu_backend_bit_exact(seed, n, h, w):
    # Odd sizes at every level: 12x20 -> 6x10 -> 3x5 (tiny program has 3 levels, pad multiple 4).
    program = random_unet_program(seed=seed)
    x = _input(program, n, h, w, seed)
    ref = run_reference(program, x)
    got = CpuInt8Backend(program).run_codes(x)
    for name in program.outputs:
        assert torch.equal(got[name], ref[name]), name
        assert ref[name].float().std() > 0.3  # non-degenerate codes


@needs_onednn
@pytest.mark.parametrize("seed,n,h,w", [(1, 2, 12, 20), (3, 3, 8, 44)])
def test_cpu_backend_bit_exact_with_banded_concats(seed, n, h, w, monkeypatch):
    """The decoder's concat read by its 1x1 projection in two-row bands (odd heights at the coarse levels,
    lazily upsampled sources) gives the reference's codes."""
    import qwplugin.intexec.cpu_backend as cpu

    monkeypatch.setattr(cpu, "CONCAT_BAND_BYTES", 1)
    program = random_unet_program(seed=seed)
    x = _input(program, n, h, w, seed)
    backend = CpuInt8Backend(program)
    assert backend.kernels._banded_concats  # the tiny program's decoder concats are read in bands
    ref = run_reference(program, x)
    got = backend.run_codes(x)
    assert all(torch.equal(got[name], ref[name]) for name in program.outputs)


@needs_onednn
def test_cpu_backend_bit_exact_paper_shape():
    from qwplugin.intexec.synthetic import PAPER_DECODER, PAPER_ENCODER

    program = random_unet_program(encoder=PAPER_ENCODER, decoder=PAPER_DECODER, seed=7, calib_size=32)
    x = _input(program, 1, 48, 80, 7)
    ref = run_reference(program, x)
    got = CpuInt8Backend(program).run_codes(x)
    assert all(torch.equal(got[n], ref[n]) for n in program.outputs)
    feats = CpuInt8Backend(program).features(x)
    for name, f in zip(program.outputs, feats):
        assert torch.equal(f, ref[name].float() * program.tensors[name].scale)


def test_fakequant_float_bounded_difference():
    """Float fallback: not exact; codes within 1 of the reference on >= 99% of values (rounding only)."""
    program = random_unet_program(seed=4)
    x = _input(program, 2, 16, 24, 4)
    ref = run_reference(program, x)
    got = FakeQuantExecutor(program).run_codes(x)
    for name in program.outputs:
        diff = (got[name].float() - ref[name].float()).abs()
        assert (diff > 1).float().mean() <= 0.01 and (diff > 0).float().mean() <= 0.05


@needs_onednn
def test_selection_auto_picks_exact_cpu_backend_and_says_why():
    program = random_unet_program(seed=5)
    backend, info = make_extractor_backend(program)
    if not torch.cuda.is_available():
        assert info.name == "cpu-int8-onednn" and info.exact
        assert "triton" in info.reason  # the reason names the skipped GPU candidate
    assert backend.name == info.name


def test_selection_falls_back_to_float_with_reason(monkeypatch):
    import qwplugin.intexec.select as select

    def broken(program, **kwargs):
        raise UnsupportedHardware("oneDNN missing (simulated)")

    monkeypatch.setattr(select, "CpuInt8Backend", broken)
    backend, info = make_extractor_backend(random_unet_program(seed=6))
    assert info.name == "fakequant-float" and not info.exact
    assert "oneDNN missing (simulated)" in info.reason
    with pytest.raises(UnsupportedHardware):
        make_extractor_backend(random_unet_program(seed=6), preference="cpu")
    with pytest.raises(InvalidArgument):
        make_extractor_backend(random_unet_program(seed=6), preference="fastest")


@needs_onednn
def test_selection_self_test_catches_a_wrong_backend(monkeypatch):
    import qwplugin.intexec.select as select

    class OffByOne(CpuInt8Backend):
        def run_codes(self, x):
            return {k: v + 1 for k, v in super().run_codes(x).items()}

    monkeypatch.setattr(select, "CpuInt8Backend", OffByOne)
    _, info = make_extractor_backend(random_unet_program(seed=8))
    assert info.name == "fakequant-float" and "self-test mismatch" in info.reason


@needs_onednn
def test_integer_extractor_runs_inside_qwnet():
    """The whole QWNet with its extractor swapped for the integer backend equals the fake-quant model
    up to the documented rounding differences (mean |output difference| small, same shape)."""
    from qwplugin.model import build_model
    from qwplugin.quant import set_quantized

    torch.manual_seed(0)
    model = set_quantized(build_model("tiny"), True).eval()
    color, hist = torch.rand(1, 3, 13, 21), torch.rand(1, 3, 13, 21)
    with torch.no_grad():
        want = model(color, hist)
        backend, info = make_extractor_backend(model, preference="cpu")
        model.features = IntegerFeatureExtractor(backend)
        got = model(color, hist)
    assert got.shape == want.shape
    assert (got - want).abs().mean() < 1e-3  # rounding-boundary flips only; outputs lie in [0, 1)
