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


# --- Catmull-Rom warp (ModelConfig.history_warp = "catmull_rom") -----------------------------------------


def test_catmull_rom_integer_shift_is_exact_and_masks_like_bilinear():
    from qwplugin.ops.warp import warp_backward_catmull_rom

    torch.manual_seed(0)
    img = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    mv = torch.zeros(2, 2, 7, 9, dtype=torch.float64)
    mv[:, 0], mv[:, 1] = 2.0, -1.0
    mv[1, 0, 0, 0] = float("nan")
    out, valid = warp_backward_catmull_rom(img, mv)
    ref, ref_valid = warp_backward(img, mv)
    assert torch.equal(valid, ref_valid)
    assert valid[1, 0, 0, 0] == 0  # NaN motion is invalid, as for the bilinear warp
    inside = (ref_valid > 0).expand_as(out)
    assert torch.equal(out[inside], ref[inside])  # fraction 0: weights (0, 1, 0, 0), a copy


def test_catmull_rom_reproduces_a_quadratic_that_bilinear_blurs():
    """Keys' cubic (a = -0.5) is exact on quadratics; the bilinear warp is off by f''/8 at half a pixel. The 2x2
    clamp does not bite on a monotonic quadratic (the value lies between the two middle taps)."""
    from qwplugin.ops.warp import warp_backward_catmull_rom

    h, w = 6, 16
    xs = torch.arange(w, dtype=torch.float64)
    img = (0.002 * (xs + 3.0) ** 2).view(1, 1, 1, w).expand(1, 1, h, w).contiguous()
    mv = torch.zeros(1, 2, h, w, dtype=torch.float64)
    mv[:, 0] = 0.5
    exact = 0.002 * (xs + 3.5) ** 2
    out, _ = warp_backward_catmull_rom(img, mv)
    bil, _ = warp_backward(img, mv)
    interior = slice(1, w - 3)  # the 4 taps inside the image
    assert torch.allclose(out[0, 0, :, interior], exact[interior].expand(h, -1), atol=1e-12)
    assert (bil[0, 0, :, interior] - exact[interior]).abs().min() > 0.00049  # 0.004 / 8 = 0.0005


def test_catmull_rom_never_overshoots_an_edge():
    from qwplugin.ops.warp import warp_backward_catmull_rom
    from qwplugin.taa import sample_catmull_rom

    img = torch.zeros(1, 1, 4, 12, dtype=torch.float64)
    img[..., 6:] = 0.9  # a step
    mv = torch.zeros(1, 2, 4, 12, dtype=torch.float64)
    mv[:, 0] = 0.25
    raw = sample_catmull_rom(img, torch.stack(torch.meshgrid(torch.arange(12.0, dtype=torch.float64) + 0.75,
                                                             torch.arange(4.0, dtype=torch.float64) + 0.5,
                                                             indexing="xy"), 0).unsqueeze(0))
    assert raw.min() < -0.01 and raw.max() > 0.91  # the unclamped kernel rings here
    out, _ = warp_backward_catmull_rom(img, mv)
    bil, _ = warp_backward(img, mv)
    assert out.min() >= 0.0 and out.max() <= 0.9
    # the clamp is to the bilinear footprint: where both of its taps agree the result equals them
    flat = (img[..., :-1] == img[..., 1:])[..., :-1]
    assert torch.equal(out[..., :-2][flat], bil[..., :-2][flat])


def test_catmull_rom_gradients_reach_the_image():
    from qwplugin.ops.warp import warp_backward_catmull_rom

    torch.manual_seed(1)
    img = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    mv = (torch.rand(1, 2, 5, 6, dtype=torch.float64) - 0.5) * 1.7
    out, _ = warp_backward_catmull_rom(img, mv)
    out.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_catmull_rom_training_path_equals_the_inference_path():
    """With a gradient the warp gathers the 16 taps at once (another summation order); it must give the
    inference path's values to float32 rounding (|value| <= 1: a few ulps of the 16 products, 1e-5 bound;
    1e-12 in float64), and its autograd gradient must match finite differences (gradcheck, float64)."""
    from qwplugin.ops.warp import warp_backward_catmull_rom

    torch.manual_seed(2)
    img = torch.rand(2, 3, 9, 11)
    mv = (torch.rand(2, 2, 9, 11) - 0.5) * 5.0
    with torch.no_grad():
        ref, ref_valid = warp_backward_catmull_rom(img, mv)
    out, valid = warp_backward_catmull_rom(img.clone().requires_grad_(True), mv)
    assert torch.equal(valid, ref_valid) and (out - ref).abs().max() < 1e-5
    img64 = img.double().requires_grad_(True)
    out64, _ = warp_backward_catmull_rom(img64, mv.double())
    with torch.no_grad():
        ref64, _ = warp_backward_catmull_rom(img64, mv.double())
    assert (out64 - ref64).abs().max() < 1e-12
    assert torch.autograd.gradcheck(lambda x: warp_backward_catmull_rom(x, mv.double()[:1, :, :4, :5])[0],
                                    img.double()[:1, :, :4, :5].clone().requires_grad_(True), atol=1e-6)


def test_history_warp_config_and_dispatch():
    from qwplugin.model.config import ModelConfig
    from qwplugin.model.recurrent import warp_history_nw

    cfg = ModelConfig.preset("tiny", history_warp="catmull_rom")
    assert ModelConfig.from_dict(cfg.to_dict()).history_warp == "catmull_rom"
    assert "history_warp" not in ModelConfig.preset("tiny").to_dict()  # old files stay byte-equal
    with pytest.raises(InvalidArgument) as err:
        ModelConfig.preset("tiny", history_warp="lanczos")
    assert err.value.field == "history_warp"
    torch.manual_seed(2)
    prev = torch.rand(1, 3, 8, 8)
    cur = torch.rand(1, 3, 8, 8)
    mv = torch.full((1, 2, 8, 8), 0.4)
    mv[..., -1] = 5.0  # out of frame: the current frame
    bil = warp_history_nw(prev, mv, cur)
    cr = warp_history_nw(prev, mv, cur, "catmull_rom")
    assert torch.equal(bil[..., -1], cur[..., -1]) and torch.equal(cr[..., -1], cur[..., -1])
    assert not torch.allclose(bil[..., :-1], cr[..., :-1], atol=1e-3)
