"""Backward bilinear warp: exactness, a NumPy reference, masking, gradients."""

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.ops.warp import warp_backward


def numpy_bilinear_warp(image, motion):
    """Loop reference: sample (N, C, H, W) ``image`` at (i + my, j + mx), edges clamped; mask per contract."""
    n, c, h, w = image.shape
    out = np.zeros_like(image)
    valid = np.zeros((n, 1, h, w))
    for b in range(n):
        for i in range(h):
            for j in range(w):
                x, y = j + motion[b, 0, i, j], i + motion[b, 1, i, j]
                valid[b, 0, i, j] = float(-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5)
                x0, y0 = int(np.floor(x)), int(np.floor(y))
                fx, fy = x - x0, y - y0
                for dy, wy in ((0, 1 - fy), (1, fy)):
                    for dx, wx in ((0, 1 - fx), (1, fx)):
                        yy, xx = min(max(y0 + dy, 0), h - 1), min(max(x0 + dx, 0), w - 1)
                        out[b, :, i, j] += wy * wx * image[b, :, yy, xx]
    return out, valid


def test_zero_motion_is_identity():
    img = torch.rand(2, 3, 7, 5)
    out, valid = warp_backward(img, torch.zeros(2, 2, 7, 5))
    assert torch.equal(out, img)
    assert torch.equal(valid, torch.ones(2, 1, 7, 5))


def test_integer_shift_is_exact():
    img = torch.rand(1, 3, 6, 8)
    motion = torch.zeros(1, 2, 6, 8)
    motion[:, 0], motion[:, 1] = 2.0, -1.0  # each pixel was 2 right and 1 up in the previous frame
    out, valid = warp_backward(img, motion)
    expected_valid = torch.zeros(6, 8, dtype=torch.bool)
    expected_valid[1:, :6] = True
    assert torch.equal(valid[0, 0].bool(), expected_valid)
    assert torch.equal(out[0, :, 1:, :6], img[0, :, :5, 2:])  # bit-exact copy


def test_subpixel_matches_numpy_reference():
    gen = torch.Generator().manual_seed(1)
    img = torch.rand(2, 2, 6, 7, generator=gen, dtype=torch.float64)
    motion = (torch.rand(2, 2, 6, 7, generator=gen, dtype=torch.float64) - 0.5) * 6.0
    out, valid = warp_backward(img, motion)
    ref, ref_valid = numpy_bilinear_warp(img.numpy(), motion.numpy())
    # float64 throughout: only summation-order rounding differs.
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(valid.numpy(), ref_valid)
    assert 0 < ref_valid.sum() < ref_valid.size  # the case exercises both masked and unmasked pixels


def test_out_of_frame_is_masked_at_the_frame_rectangle():
    img = torch.rand(1, 1, 4, 4)
    motion = torch.zeros(1, 2, 4, 4)
    motion[0, 0, 0, 0] = -0.5    # sample point exactly on the left edge x = 0: valid
    motion[0, 0, 0, 1] = -1.51   # x = 1 + 0.5 - 1.51 < 0: invalid
    motion[0, 1, 3, 3] = 0.5     # y = 4.0, exactly the bottom edge: valid
    motion[0, 1, 3, 2] = 0.75    # below the frame: invalid
    motion[0, 0, 2, 2] = -100.0  # far outside
    motion[0, 1, 1, 1] = float("nan")
    out, valid = warp_backward(img, motion)
    expected = torch.ones(4, 4)
    expected[0, 1] = expected[3, 2] = expected[2, 2] = expected[1, 1] = 0.0
    assert torch.equal(valid[0, 0], expected)
    assert torch.isfinite(out).all()


def test_gradcheck_image_and_motion():
    gen = torch.Generator().manual_seed(2)
    img = torch.rand(1, 2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    # keep sample points away from integer coordinates, where floor() makes the warp non-differentiable
    frac = 0.2 + 0.6 * torch.rand(1, 2, 4, 5, generator=gen, dtype=torch.float64)
    motion = (torch.randint(-1, 2, (1, 2, 4, 5), generator=gen).double() + frac).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, m: warp_backward(a, m)[0], (img, motion))


def test_rejects_bad_shapes():
    with pytest.raises(InvalidArgument) as info:
        warp_backward(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))
    assert info.value.field == "motion_px"
    with pytest.raises(InvalidArgument):
        warp_backward(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 5))
    with pytest.raises(InvalidArgument):
        warp_backward(torch.rand(3, 4, 4), torch.rand(1, 2, 4, 4))
