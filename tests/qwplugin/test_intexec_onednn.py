"""The requantization arithmetic at its rounding ties: the reference executor, its NumPy definition and the
oneDNN CPU backend agree bit for bit exactly where the alternatives (FBGEMM's add-then-multiply, a fused
multiply-add) give other codes.

Random per-channel scales and biases put ``f32(acc) * m + b_o`` within a float32 ulp of a half-integer
only about once in a million values, so the channels are searched for: every accumulator 0..16511 is
realised by one pixel (two 8-bit input codes ``x0 + 127 * x1``), and of many random channels those kept
are the ones where the three formulas disagree on some pixel. A backend using either alternative fails.
"""

import numpy as np
import pytest
import torch

from qwplugin.intexec.cpu_backend import CpuInt8Backend, onednn_available
from qwplugin.intexec.program import Conv, IntProgram, TensorSpec, f32
from qwplugin.intexec.reference import requant_constants, requantize, run_reference

needs_onednn = pytest.mark.skipif(not onednn_available()[0], reason=onednn_available()[1])
S_IN, S_OUT = f32(1 / 255), f32(1 / 16)


def _pixels():
    """(1, 2, 129, 256) uint8 codes: x0 = column 0..255, x1 = row 0..128; acc = x0 + 127 * x1 covers
    every integer 0..16511."""
    x0 = torch.arange(256).view(1, 256).expand(129, 256)
    x1 = torch.arange(129).view(129, 1).expand(129, 256)
    return torch.stack([x0, x1])[None].to(torch.uint8)


def _formulas(acc: np.ndarray, s_w: np.ndarray, q_b: np.ndarray):
    """Codes (C, A) of accumulators ``acc`` (A,) under the reference's multiply-then-add, FBGEMM's
    add-then-multiply and a fused multiply-add, each written out in NumPy float32 / float64."""
    s_acc = (np.float32(S_IN) * s_w).astype(np.float32)
    m = (s_acc / np.float32(S_OUT)).astype(np.float32)[:, None]
    b_f = (q_b.astype(np.float32) * s_acc).astype(np.float32)
    b_o = (b_f / np.float32(S_OUT)).astype(np.float32)[:, None]
    beta = (b_f / s_acc).astype(np.float32)[:, None]
    a = acc.astype(np.float32)[None, :]
    mul_add = ((a * m).astype(np.float32) + b_o).astype(np.float32)
    add_mul = ((a + beta).astype(np.float32) * m).astype(np.float32)
    fma = (a.astype(np.float64) * m + b_o).astype(np.float32)
    return [np.clip(np.round(t), 0, 15) for t in (mul_add, add_mul, fma)]


@pytest.fixture(scope="module")
def tie_channels():
    """32 channels (s_w float32, q_b int32) where the three formulas disagree on some accumulator."""
    rng = np.random.default_rng(0)
    acc = np.arange(16512)
    keep_w, keep_b = [], []
    while len(keep_w) < 32:
        s_w = rng.uniform(0.004, 0.016, 512).astype(np.float32)  # m in [2.5e-4, 1e-3]
        q_b = rng.integers(-2000, 4000, 512).astype(np.int32)
        mul_add, add_mul, fma = _formulas(acc, s_w, q_b)
        hit = ((mul_add != add_mul).any(axis=1)) & ((mul_add != fma).any(axis=1))
        keep_w += list(s_w[hit])
        keep_b += list(q_b[hit])
    return np.array(keep_w[:32], np.float32), np.array(keep_b[:32], np.int32)


def _program(s_w: np.ndarray, q_b: np.ndarray) -> IntProgram:
    cout = len(s_w)
    w = torch.zeros(cout, 2, 3, 3, dtype=torch.int8)
    w[:, 0, 1, 1], w[:, 1, 1, 1] = 1, 127  # centre tap only: acc = x0 + 127 * x1
    specs = {"x": TensorSpec("x", 2, S_IN, 8), "y": TensorSpec("y", cout, S_OUT, 4)}
    return IntProgram("x", specs, [Conv("y", "x", "y", w, torch.from_numpy(s_w), torch.from_numpy(q_b), 8)], ["y"])


def test_reference_is_multiply_then_add_at_the_ties(tie_channels):
    s_w, q_b = tie_channels
    acc = np.arange(16512)
    mul_add, add_mul, fma = _formulas(acc, s_w, q_b)
    _, m, b_o = requant_constants(S_IN, torch.from_numpy(s_w), torch.from_numpy(q_b), S_OUT)
    got = requantize(torch.from_numpy(acc).to(torch.int32).view(1, 1, -1).expand(1, len(s_w), -1), m, b_o,
                     channel_dim=1)[0].numpy()
    assert np.array_equal(got, mul_add)
    # the channels really sit at ties: the alternatives differ on some pixel of every channel
    assert (got != add_mul).any(axis=1).all() and (got != fma).any(axis=1).all()
    assert 0 < got.mean() < 15  # codes spread over the range, clamps at both ends reached
    assert got.min() == 0 and got.max() == 15


@needs_onednn
@pytest.mark.parametrize("split", [False, True])
def test_onednn_backend_equals_the_reference_at_the_ties(tie_channels, split, monkeypatch):
    """The fused oneDNN conv (unsplit on this CPU; ``split``: the 8-bit input split of CPUs with int16 pair
    sums, forced) gives the reference's codes on every pixel, ties included."""
    import qwplugin.intexec.cpu_backend as cpu

    if split:
        monkeypatch.setattr(cpu, "onednn_pair_sums_saturate", lambda *shape: True)
    program = _program(*tie_channels)
    x = _pixels()
    ref = run_reference(program, x)["y"]
    backend = CpuInt8Backend(program)
    assert ("y" in backend.kernels.split_input) == split and "y" in backend.kernels._packed
    got = backend.run_codes(x)["y"]
    assert torch.equal(got, ref), int((got != ref).sum())
    _, add_mul, fma = _formulas(np.arange(16512), *tie_channels)
    acc_of_pixel = (x[0, 0].long() + 127 * x[0, 1].long()).numpy()
    for other in (add_mul, fma):  # FBGEMM's arithmetic or a fused multiply-add would have failed this test
        assert not torch.equal(got, torch.from_numpy(other[:, acc_of_pixel][None]).to(torch.uint8))
