"""Per-pixel 3x3 kernel application vs a direct loop, gradients, shape checks."""

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.ops.kernels import (
    apply_kernel3x3,
    apply_kernel3x3_pair,
    apply_kernel3x3_skip,
    apply_kernel3x3_unfold,
)


def direct_loop(image, weights):
    """out[n,c,i,j] = sum_k w[n,k,i,j] * image[n,c,clamp(i+dy),clamp(j+dx)], (dy,dx) = divmod(k,3) - 1."""
    n, c, h, w = image.shape
    out = np.zeros_like(image)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for k in range(9):
                    dy, dx = divmod(k, 3)
                    yy, xx = min(max(i + dy - 1, 0), h - 1), min(max(j + dx - 1, 0), w - 1)
                    out[b, :, i, j] += weights[b, k, i, j] * image[b, :, yy, xx]
    return out


@pytest.fixture
def data():
    gen = torch.Generator().manual_seed(3)
    img = torch.rand(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    wts = torch.randn(2, 9, 5, 6, generator=gen, dtype=torch.float64)  # not normalised on purpose
    return img, wts


@pytest.mark.parametrize("fn", [apply_kernel3x3, apply_kernel3x3_unfold])
def test_matches_direct_loop(fn, data):
    img, wts = data
    # float64: differences are summation-order rounding only
    np.testing.assert_allclose(fn(img, wts).numpy(), direct_loop(img.numpy(), wts.numpy()), rtol=0, atol=1e-12)


def test_pair_and_skip_compose(data):
    img, wts = data
    other = torch.rand_like(img)
    w18 = torch.cat([wts, wts.flip(1)], dim=1)
    ref = direct_loop(img.numpy(), wts.numpy()) + direct_loop(other.numpy(), wts.flip(1).numpy())
    np.testing.assert_allclose(apply_kernel3x3_pair(img, other, w18).numpy(), ref, rtol=0, atol=1e-12)
    w10 = torch.cat([wts, wts[:, :1]], dim=1)
    ref = direct_loop(img.numpy(), wts.numpy()) + wts[:, :1].numpy() * other.numpy()
    np.testing.assert_allclose(apply_kernel3x3_skip(img, other, w10).numpy(), ref, rtol=0, atol=1e-12)


def test_identity_kernel_is_exact():
    img = torch.rand(1, 3, 4, 4)
    w = torch.zeros(1, 9, 4, 4)
    w[:, 4] = 1.0
    assert torch.equal(apply_kernel3x3(img, w), img)


def test_gradcheck(data):
    img, wts = data
    img = img[:1, :2, :4, :4].clone().requires_grad_(True)
    wts = wts[:1, :, :4, :4].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(apply_kernel3x3, (img, wts))


def test_rejects_bad_shapes():
    with pytest.raises(InvalidArgument) as info:
        apply_kernel3x3(torch.rand(1, 3, 4, 4), torch.rand(1, 8, 4, 4))
    assert info.value.field == "weights"
    with pytest.raises(InvalidArgument):
        apply_kernel3x3(torch.rand(1, 3, 4, 4), torch.rand(1, 9, 4, 5))
    with pytest.raises(InvalidArgument):
        apply_kernel3x3_pair(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.rand(1, 9, 4, 4))


def test_inference_path_is_bit_identical_to_the_autograd_path():
    """The no-grad fast path (reused product buffer, in-place sum) does the same float32 operations in the
    same order as the autograd path: equal bit for bit, not merely close."""
    gen = torch.Generator().manual_seed(11)
    img = torch.rand(2, 3, 17, 23, generator=gen)
    wts = torch.softmax(torch.randn(2, 9, 17, 23, generator=gen), dim=1)
    with torch.no_grad():
        fast = apply_kernel3x3(img, wts)
    slow = apply_kernel3x3(img.clone().requires_grad_(True), wts)
    assert slow.requires_grad
    assert torch.equal(fast, slow.detach())


def test_inference_row_strips_are_bit_identical(monkeypatch):
    """Row strips of every height (1 row, a remainder strip, the whole image) give the same bits."""
    import qwplugin.ops.kernels as kernels

    gen = torch.Generator().manual_seed(12)
    img = torch.rand(2, 3, 11, 7, generator=gen)
    wts = torch.randn(2, 9, 11, 7, generator=gen)
    want = apply_kernel3x3(img.clone().requires_grad_(True), wts).detach()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # strips are used on one thread only
    for strip in (1, 2 * 3 * 7 * 4, 10 ** 9):  # rows: 1; 4 (11 = 4 + 4 + 3); all 11
        monkeypatch.setattr(kernels, "STRIP_ELEMENTS", strip)
        with torch.no_grad():
            assert torch.equal(apply_kernel3x3(img, wts), want), strip
