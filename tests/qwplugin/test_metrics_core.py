"""The core metrics (:mod:`qwplugin.metrics`) reproduce the two implementations they replaced.

Before, PSNR and temporal error were written twice: numpy in ``qwplugin/eval/metrics.py`` (MSE in float64,
temporal error and flicker averaged in float32 over the pixels inside the previous frame) and torch in
``qwplugin/train/evaluate.py`` (float32 MSE; temporal error = the temporal term of ``qwnet_loss``). The
old formulas are written out again here, independently of the core, and compared:

- PSNR: equal to the old evaluation's float64 numpy PSNR within 1e-9 dB (both float64; only the
  summation order differs, ~1e-16 relative in the MSE). Against the old float32 training PSNR the
  difference is float32 summation error: under 1e-4 dB here (rounding of ``val_psnr_db``: 4 decimals).
- Temporal error and flicker: against the old float32 numpy means, relative 1e-6 (float32 pairwise
  summation over ~10^4 values errs by a few 1e-7 relative); the golden-score test's tolerances are 5e-5
  and 2e-5 absolute on values ~0.02 and ~0.004, far above.
- Training's temporal error: against the old ``qwnet_loss(..., spatial_weight=0).temporal``, relative
  1e-6 (float32 sums there, float64 here).
"""

import math

import numpy as np
import pytest
import torch

from qwplugin import metrics as core
from qwplugin.errors import InvalidArgument
from qwplugin.eval import metrics as M
from qwplugin.ops.warp import warp_backward
from qwplugin.train.evaluate import evaluate
from qwplugin.train.loss import qwnet_loss


def _images(seed: int, n: int, h: int = 36, w: int = 52) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g) * 0.8 + 0.1


def _motion(seed: int, n: int, h: int = 36, w: int = 52) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, h, w, generator=g) - 0.5) * 6.0  # up to 3 px: some pixels leave the frame


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).numpy()


def _old_eval_psnr(ref: np.ndarray, out: np.ndarray) -> float:
    mse = float(np.mean((ref.astype(np.float64) - out) ** 2))
    return -10.0 * float(np.log10(max(mse, 1e-10)))


def _old_eval_temporal(out_t, out_prev, ref_t, ref_prev, mv) -> tuple[float, float]:
    """The replaced numpy code: float32 changes, float32 means over the pixels inside."""
    def change(cur, prev):
        p = torch.from_numpy(np.ascontiguousarray(prev)).permute(2, 0, 1)[None]
        m = torch.from_numpy(np.ascontiguousarray(mv)).permute(2, 0, 1)[None]
        warped, valid = warp_backward(p, m)
        return cur - warped[0].permute(1, 2, 0).numpy(), valid[0, 0].numpy() > 0

    d_out, valid = change(out_t, out_prev)
    d_ref, _ = change(ref_t, ref_prev)
    if not valid.any():
        return float("nan"), float("nan")
    return (float(np.mean(np.abs(d_out - d_ref)[valid])),
            float(np.mean(np.maximum(0.0, np.abs(d_out) - np.abs(d_ref))[valid])))


def test_psnr_equals_the_old_evaluation_and_training_formulas():
    ref, out = _images(0, 4), _images(1, 4)
    out[3] = ref[3]  # an exact frame: the 100 dB cap
    got = core.psnr_db(ref, out)
    assert got.dtype == torch.float64 and got.shape == (4,)
    for i in range(4):
        old = _old_eval_psnr(_hwc(ref[i]), _hwc(out[i]))
        assert abs(float(got[i]) - old) <= 1e-9, (i, float(got[i]), old)
        assert M.psnr_db(_hwc(ref[i]), _hwc(out[i])) == float(got[i])  # the numpy front is the core
    old_train = -10.0 * torch.log10(torch.clamp(torch.mean((out - ref) ** 2, dim=(-3, -2, -1)), min=1e-10))
    assert float(got[3]) == 100.0 and float(old_train[3]) == 100.0
    assert torch.allclose(got.float(), old_train, rtol=0, atol=1e-4)


def test_temporal_error_and_flicker_equal_the_old_evaluation_formulas():
    out_t, out_p, ref_t, ref_p = (_images(s, 3) for s in (2, 3, 4, 5))
    mv = _motion(6, 3)
    mv[2] = 100.0  # every pixel leaves the frame: NaN
    temporal, flicker = core.temporal_error_and_flicker(out_t, out_p, ref_t, ref_p, mv)
    assert temporal.dtype == torch.float64 and temporal.shape == flicker.shape == (3,)
    for i in range(3):
        args = [_hwc(x[i]) for x in (out_t, out_p, ref_t, ref_p, mv)]
        old_t, old_f = _old_eval_temporal(*args)
        new_t, new_f = M.temporal_metrics(*args)
        # the numpy front is the core (NaN where every pixel leaves the frame)
        assert np.array_equal([new_t, new_f], [float(temporal[i]), float(flicker[i])], equal_nan=True)
        if i == 2:
            assert math.isnan(old_t) and math.isnan(new_t) and math.isnan(new_f)
        else:
            assert new_t == pytest.approx(old_t, rel=1e-6) and new_f == pytest.approx(old_f, rel=1e-6)
            assert old_t > 0.05 and old_f > 0.01  # non-trivial values were compared


def test_sequence_temporal_error_equals_the_old_training_figure():
    g = torch.Generator().manual_seed(7)
    n, t, h, w = 1, 5, 20, 24
    out, ref = torch.rand(n, t, 3, h, w, generator=g), torch.rand(n, t, 3, h, w, generator=g)
    mv = (torch.rand(n, t, 2, h, w, generator=g) - 0.5) * 4.0
    for resets in (torch.tensor([[True, False, False, True, False]]), torch.tensor([[True, False, False, False, False]])):
        old = float(qwnet_loss(out, ref, mv, resets, spatial_weight=0.0).temporal)
        assert core.sequence_temporal_error(out, ref, mv, resets) == pytest.approx(old, rel=1e-6)
    assert core.sequence_temporal_error(out[:, :1], ref[:, :1], mv[:, :1]) == 0.0  # no pair: as before
    assert core.sequence_temporal_error(out, ref, mv, torch.ones(n, t, dtype=torch.bool)) == 0.0


def test_training_validation_reports_the_core_figures():
    g = torch.Generator().manual_seed(8)
    t, h, w = 4, 16, 20
    block = {"color": torch.rand(t, 3, h, w, generator=g) * 2.0, "reference": torch.rand(t, 3, h, w, generator=g),
             "motion_px": torch.zeros(t, 2, h, w), "depth": torch.ones(t, 1, h, w),
             "resets": torch.zeros(t, dtype=torch.bool)}

    class Identity(torch.nn.Module):  # outputs the tonemapped input: the model's figures equal no-AA's
        config = None  # no depth input

        def forward(self, color_nw, history_nw, depth=None):
            return color_nw

    from qwplugin.ops.colour import to_network

    fig = evaluate(Identity(), [block])
    noaa, ref = to_network(block["color"]), to_network(block["reference"])
    assert fig.noaa_psnr_db == pytest.approx(float(core.psnr_db(ref, noaa).mean()), abs=1e-9)
    resets = torch.tensor([[True, False, False, False]])
    assert fig.noaa_temporal == core.sequence_temporal_error(noaa[None], ref[None], block["motion_px"][None], resets)
    assert (fig.psnr_db, fig.temporal) == (fig.noaa_psnr_db, fig.noaa_temporal)
    assert fig.noaa_temporal == pytest.approx(float(qwnet_loss(noaa[None], ref[None], block["motion_px"][None], resets,
                                                               spatial_weight=0.0).temporal), rel=1e-6)


def test_bad_inputs_are_refused():
    x = _images(0, 1)
    with pytest.raises(InvalidArgument, match="shape"):
        core.psnr_db(x, x[..., :-1])
    with pytest.raises(InvalidArgument, match="rank"):
        core.psnr_db(x[0, 0], x[0, 0])
    with pytest.raises(InvalidArgument, match="torch.Tensor"):
        core.psnr_db(x.numpy(), x)
    with pytest.raises(InvalidArgument, match="11x11"):
        core.ssim(x[..., :8, :8], x[..., :8, :8])
    with pytest.raises(InvalidArgument, match="motion_px"):
        core.sequence_temporal_error(x[None], x[None], torch.zeros(1, 1, 2, 5, 5))
    with pytest.raises(InvalidArgument, match="out_prev"):
        M.temporal_metrics(_hwc(x[0]), _hwc(x[0])[:-1], _hwc(x[0]), _hwc(x[0]), np.zeros((36, 52, 2), np.float32))


def test_ssim_equals_the_old_evaluation_call():
    from pytorch_msssim import ssim as ms_ssim

    ref, out = _images(9, 2), (_images(9, 2) + 0.05 * _images(10, 2)).clamp(0, 1)
    got = core.ssim(ref, out)
    for i in range(2):
        old = float(ms_ssim(ref[i:i + 1].double(), out[i:i + 1].double(), data_range=1.0, size_average=True))
        assert float(got[i]) == pytest.approx(old, rel=1e-12, abs=1e-12)
        assert M.ssim(_hwc(ref[i]), _hwc(out[i])) == pytest.approx(old, rel=1e-12, abs=1e-12)
