"""The QW-Net loss against a hand computation, and its boundary checks."""

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.train.loss import qwnet_loss


def _shift_prev(prev: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Hand-written backward warp by an integer motion (clamp to edge): out[i, j] = prev[i + dy, j + dx]."""
    h, w = prev.shape[-2:]
    out = np.empty_like(prev)
    for i in range(h):
        for j in range(w):
            out[..., i, j] = prev[..., min(max(i + dy, 0), h - 1), min(max(j + dx, 0), w - 1)]
    return out


def test_loss_equals_hand_computation():
    rng = np.random.default_rng(3)
    n, t, c, h, w = 2, 3, 3, 4, 5
    out = rng.random((n, t, c, h, w)).astype(np.float64)
    ref = rng.random((n, t, c, h, w)).astype(np.float64)
    motion = np.zeros((n, t, 2, h, w))
    shifts = {1: (1, 0), 2: (-2, 1)}  # integer motions: the bilinear warp is an exact copy
    for ti, (dx, dy) in shifts.items():
        motion[:, ti, 0], motion[:, ti, 1] = dx, dy
    spatial = np.abs(out - ref).mean()
    diffs = []
    for ti, (dx, dy) in shifts.items():
        d_out = out[:, ti] - _shift_prev(out[:, ti - 1], dx, dy)
        d_ref = ref[:, ti] - _shift_prev(ref[:, ti - 1], dx, dy)
        diffs.append(np.abs(d_out - d_ref))
    temporal = np.mean(diffs)
    terms = qwnet_loss(torch.from_numpy(out), torch.from_numpy(ref), torch.from_numpy(motion))
    # float64 throughout and exact integer warps: only summation order differs, 1e-12 is ample.
    assert abs(float(terms.spatial) - spatial) < 1e-12
    assert abs(float(terms.temporal) - temporal) < 1e-12
    assert abs(float(terms.total) - (0.3 * spatial + 0.7 * temporal)) < 1e-12


def test_fractional_motion_matches_manual_bilinear():
    # One frame pair, motion +0.25 px in x: warped = 0.75 * prev[j] + 0.25 * prev[j + 1] (clamped edge).
    prev = torch.tensor([[0.0, 1.0, 4.0, 9.0]], dtype=torch.float64).view(1, 1, 1, 1, 4)
    cur = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=torch.float64).view(1, 1, 1, 1, 4)
    out = torch.cat([prev, cur], dim=1)
    ref = torch.zeros_like(out)
    motion = torch.zeros(1, 2, 2, 1, 4, dtype=torch.float64)
    motion[:, 1, 0] = 0.25
    warped = np.array([0.25, 1.75, 5.25, 9.0])
    expected_temporal = np.abs(1.0 - warped).mean()
    terms = qwnet_loss(out, ref, motion)
    assert abs(float(terms.temporal) - expected_temporal) < 1e-12
    assert abs(float(terms.spatial) - float(out.abs().mean())) < 1e-12


def test_reset_frames_leave_the_temporal_term():
    torch.manual_seed(0)
    out, ref = torch.rand(1, 3, 3, 4, 4, dtype=torch.float64), torch.rand(1, 3, 3, 4, 4, dtype=torch.float64)
    motion = torch.zeros(1, 3, 2, 4, 4, dtype=torch.float64)
    resets = torch.tensor([[True, False, True]])
    only_t1 = torch.mean(torch.abs((out[:, 1] - out[:, 0]) - (ref[:, 1] - ref[:, 0])))
    assert torch.allclose(qwnet_loss(out, ref, motion, resets).temporal, only_t1, rtol=0, atol=1e-12)


def test_perfect_output_has_zero_loss_and_gradient_flows():
    ref = torch.rand(1, 4, 3, 6, 6)
    out = ref.clone().requires_grad_(True)
    terms = qwnet_loss(out, ref, torch.randn(1, 4, 2, 6, 6))
    assert float(terms.total.detach()) == 0.0
    (qwnet_loss(out * 1.1, ref, torch.zeros(1, 4, 2, 6, 6)).total).backward()
    assert out.grad is not None and torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0


def test_bad_shapes_are_refused():
    a = torch.zeros(1, 2, 3, 4, 4)
    with pytest.raises(InvalidArgument, match="motion_px"):
        qwnet_loss(a, a, torch.zeros(1, 2, 3, 4, 4))
    with pytest.raises(InvalidArgument):
        qwnet_loss(a, torch.zeros(1, 2, 3, 4, 5), torch.zeros(1, 2, 2, 4, 4))
    with pytest.raises(InvalidArgument, match="spatial_weight"):
        qwnet_loss(a, a, torch.zeros(1, 2, 2, 4, 4), spatial_weight=1.5)
