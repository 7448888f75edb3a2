"""Tests of the PyTorch TAA baseline (qwplugin.taa): behaviour, hand-computed values, input checks."""

import math

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.ops.halton import jitter_offset_px
from qwplugin.taa import (
    TAAConfig,
    TemporalAA,
    catmull_rom_weights,
    clip_towards_centre,
    neighbourhood_moments,
    rgb_to_ycocg,
    sample_catmull_rom,
    ycocg_to_rgb,
)


def grey(values_hw) -> torch.Tensor:
    """(H, W) values -> (1, 3, H, W) grey image."""
    v = torch.as_tensor(values_hw, dtype=torch.float32)
    return v[None, None].expand(1, 3, *v.shape).clone()


def zeros_motion(h, w) -> torch.Tensor:
    return torch.zeros(1, 2, h, w)


# --- building blocks -------------------------------------------------------------------------------------

def test_ycocg_round_trip_exact_on_dyadic_values():
    # YCoCg coefficients are powers of two: on small dyadic inputs every operation is exact in float32.
    rgb = torch.tensor([0.0, 0.25, 0.5, 1.0, 2.0, 3.75]).view(1, 3, 2)
    assert torch.equal(ycocg_to_rgb(rgb_to_ycocg(rgb)), rgb)
    y = rgb_to_ycocg(torch.tensor([[[1.0], [1.0], [1.0]]]))
    assert torch.equal(y, torch.tensor([[[1.0], [0.0], [0.0]]]))


def test_catmull_rom_weights_match_keys_kernel():
    f = torch.linspace(0.0, 0.999, 37)
    weights = torch.stack(catmull_rom_weights(f))

    def keys(s):  # Keys (1981) cubic convolution kernel, a = -0.5, written the textbook way
        s = abs(s)
        if s < 1:
            return 1.5 * s**3 - 2.5 * s**2 + 1
        if s < 2:
            return -0.5 * s**3 + 2.5 * s**2 - 4 * s + 2
        return 0.0

    ref = torch.tensor([[keys(fi - off) for fi in f.tolist()] for off in (-1, 0, 1, 2)])
    assert torch.allclose(weights, ref, atol=1e-6)  # float32 rounding of cubic polynomials in [0, 2]
    assert torch.allclose(weights.sum(0), torch.ones_like(f), atol=1e-6)


def test_catmull_rom_sample_matches_direct_convolution():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 9, 11, generator=g)
    pos = torch.rand(1, 2, 9, 11, generator=g) * torch.tensor([11.0, 9.0]).view(1, 2, 1, 1)
    got = sample_catmull_rom(image, pos)
    # Reference: separable Keys convolution over all texels with clamp-to-edge, in float64.
    img = image.double()[0].numpy()
    px, py = pos.double()[0].numpy()
    ref = np.zeros_like(img)
    for i in range(9):
        for j in range(11):
            tx, ty = px[i, j] - 0.5, py[i, j] - 0.5
            bx, by = math.floor(tx), math.floor(ty)
            acc = np.zeros(3)
            for yy in range(by - 1, by + 3):
                for xx in range(bx - 1, bx + 3):
                    wx = catmull_rom_weights(torch.tensor(tx - bx, dtype=torch.float64))[xx - bx + 1]
                    wy = catmull_rom_weights(torch.tensor(ty - by, dtype=torch.float64))[yy - by + 1]
                    acc += float(wx) * float(wy) * img[:, min(max(yy, 0), 8), min(max(xx, 0), 10)]
            ref[:, i, j] = acc
    assert np.allclose(got[0].numpy(), ref, atol=1e-5)  # float32 vs float64 sums of 16 products of O(1)


def test_catmull_rom_reproduces_integer_shift_exactly():
    image = torch.arange(48, dtype=torch.float32).view(1, 3, 4, 4)
    pos = torch.stack(torch.meshgrid(torch.arange(4.0) + 0.5, torch.arange(4.0) + 0.5, indexing="xy"))[None]
    shifted = sample_catmull_rom(image, pos + torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
    # f = 0 gives weights (0, 1, 0, 0) exactly, so texels come back bit-exact (edge clamps at column 3).
    assert torch.equal(shifted[..., :3], image[..., 1:])
    assert torch.equal(shifted[..., 3], image[..., 3])


def test_clip_towards_centre_keeps_inside_and_projects_outside():
    centre = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    half = torch.tensor([0.5, 0.25, 0.25]).view(1, 3, 1, 1)
    inside = torch.tensor([1.2, 0.1, -0.2]).view(1, 3, 1, 1)
    assert torch.equal(clip_towards_centre(inside, centre, half), inside)
    outside = torch.tensor([3.0, 0.25, 0.0]).view(1, 3, 1, 1)  # |v / half| = (4, 1, 0): ratio 4
    clipped = clip_towards_centre(outside, centre, half)
    expected = centre + (outside - centre) / 4.0  # on the x face, same direction from the centre
    assert torch.allclose(clipped, expected, atol=1e-5)  # CLIP_EPS = 1e-6 in the divisor
    assert not torch.allclose(clipped, torch.minimum(torch.maximum(outside, centre - half), centre + half))


def test_neighbourhood_moments_flat_bright_area_has_exactly_zero_sigma():
    image = torch.full((1, 3, 5, 5), 1000.3)
    image[..., 4, 4] = 7.0  # one different corner pixel: only its 3x3 neighbours see variance
    mean, sigma = neighbourhood_moments(image)
    assert torch.equal(sigma[..., :3, :3], torch.zeros(1, 3, 3, 3))  # shifted moments: no cancellation
    assert torch.equal(mean[..., :3, :3], image[..., :3, :3])
    values = torch.tensor([1000.3] * 8 + [7.0])  # pixel (3, 3): 8 bright neighbours and the corner
    assert torch.allclose(sigma[0, :, 3, 3], values.std(unbiased=False).expand(3), rtol=1e-4)
    assert torch.allclose(mean[0, :, 3, 3], values.mean().expand(3), rtol=1e-6)


# --- TemporalAA behaviour -------------------------------------------------------------------------------

def test_reset_and_first_frame_return_current_exactly():
    g = torch.Generator().manual_seed(2)
    taa = TemporalAA(TAAConfig.classic())
    a, b = torch.rand(2, 3, 6, 7, generator=g) * 5, torch.rand(2, 3, 6, 7, generator=g) * 5
    motion = torch.zeros(2, 2, 6, 7)
    assert torch.equal(taa.step(a, motion, reset=False), a)  # no history yet: first frame
    assert not torch.equal(taa.step(b, motion), b)
    assert torch.equal(taa.step(b, motion, reset=True), b)


def test_hand_computed_frame():
    """1x2 grey images: frame 0 = [0, 4] (reset), frame 1 = [1, 3], no motion, gamma 1, alpha 0.1."""
    taa = TemporalAA(TAAConfig.classic(alpha=0.1, gamma=1.0))
    taa.step(grey([[0.0, 4.0]]), zeros_motion(1, 2), reset=True)
    out = taa.step(grey([[1.0, 3.0]]), zeros_motion(1, 2))
    # Pixel 0: clamp-to-edge 3x3 neighbourhood = {1, 1, 3} per row; Co = Cg = 0 for grey.
    mean = 5.0 / 3.0
    sigma = math.sqrt(11.0 / 3.0 - mean**2)
    history = 0.0  # Catmull-Rom at a texel centre returns the texel: previous pixel 0 = 0
    clipped = mean - sigma  # below the box: clipped towards the mean onto the face mean - sigma
    w_cur, w_hist = 0.1 / (1.0 + 1.0), 0.9 / (1.0 + clipped)
    expected0 = (w_cur * 1.0 + w_hist * clipped) / (w_cur + w_hist)
    # Pixel 1: neighbourhood {1, 3, 3}: mean 7/3, history 4 clipped onto mean + sigma.
    mean1 = 7.0 / 3.0
    sigma1 = math.sqrt(19.0 / 3.0 - mean1**2)
    clipped1 = mean1 + sigma1
    w_cur1, w_hist1 = 0.1 / 4.0, 0.9 / (1.0 + clipped1)
    expected1 = (w_cur1 * 3.0 + w_hist1 * clipped1) / (w_cur1 + w_hist1)
    assert history < mean - sigma
    expected = torch.tensor([expected0, expected1]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    assert torch.allclose(out, expected, atol=2e-6)  # float32 vs float64 scalar arithmetic, CLIP_EPS 1e-6


def test_history_outside_frame_takes_current():
    g = torch.Generator().manual_seed(3)
    taa = TemporalAA(TAAConfig.classic(gamma=100.0))
    taa.step(torch.rand(1, 3, 5, 8, generator=g) * 4, zeros_motion(5, 8), reset=True)
    current = torch.rand(1, 3, 5, 8, generator=g)
    motion = torch.zeros(1, 2, 5, 8)
    motion[:, 0] = -3.0  # previous x = x + 0.5 - 3 < 0 for columns 0..2
    out = taa.step(current, motion)
    assert torch.equal(out[..., :3], current[..., :3])
    assert (out[..., 3:] - current[..., 3:]).abs().amin(dim=(0, 1, 2)).gt(1e-4).all()
    motion[:, 1] = 100.0  # everything leaves the frame
    assert torch.equal(taa.step(current, motion), current)


def test_integer_motion_without_clipping_is_an_exact_reprojection():
    """A pattern moving 1 px right per frame; a huge gamma disables clipping (textured neighbourhoods)."""
    g = torch.Generator().manual_seed(4)
    base = torch.rand(1, 3, 6, 12, generator=g) + 0.5
    alpha = 0.25
    taa = TemporalAA(TAAConfig.classic(alpha=alpha, gamma=1e6))
    motion = torch.zeros(1, 2, 6, 12)
    motion[:, 0] = -1.0
    expected = base.clone()
    taa.step(base, motion, reset=True)
    for t in range(1, 4):
        current = torch.roll(base, t, dims=3)
        out = taa.step(current, motion)
        hist = torch.cat((expected[..., :1], expected[..., :-1]), dim=3)  # shift right; column 0 invalid
        w_c = alpha / (1 + rgb_to_ycocg(current)[:, :1])
        w_h = (1 - alpha) / (1 + rgb_to_ycocg(hist)[:, :1])
        blend = (w_c * current + w_h * hist) / (w_c + w_h)
        blend[..., 0] = current[..., 0]  # previous x = 0.5 - 1 < 0: outside the frame
        expected = blend
        assert torch.allclose(out, expected, atol=1e-6)  # same float32 formula, different op order


def _edge_scene(xs, ys):
    """Static linear-HDR test scene: a slanted edge (contrast 1) and a bright disk (3)."""
    edge = ((xs - 12.3) * 0.8 + (ys - 11.7) * 0.6 > 0).astype(np.float32)
    disk = (((xs - 7.1) ** 2 + (ys - 16.4) ** 2) < 12).astype(np.float32) * 3.0
    return 0.1 + edge + disk


def _render(scene, h, w, jitter):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return grey(scene(xs + 0.5 + jitter[0], ys + 0.5 + jitter[1]))


def test_static_scene_converges_towards_supersampled_value():
    h = w = 24
    ss = 16  # reference: 16x16 stratified box-filter supersampling
    offsets = (np.arange(ss) + 0.5) / ss - 0.5
    ref = torch.stack([_render(_edge_scene, h, w, (ox, oy)) for ox in offsets for oy in offsets]).mean(0)
    taa = TemporalAA(TAAConfig.classic())
    for i in range(64):
        out = taa.step(_render(_edge_scene, h, w, jitter_offset_px(i)), zeros_motion(h, w), reset=(i == 0))
    noaa = _render(_edge_scene, h, w, (0.0, 0.0))

    def tonemap(x):
        return x / (1 + x)

    err_taa = (tonemap(out) - tonemap(ref)).abs()
    err_noaa = (tonemap(noaa) - tonemap(ref)).abs()
    # Measured: max 0.21 vs 0.50, mean 0.0057 vs 0.0096 (the luminance-weighted EMA is not a plain mean, and
    # alpha = 0.1 keeps a residual of the 16-phase cycle), so require a clear margin over no-AA.
    assert err_taa.max() < 0.5 * err_noaa.max()
    assert err_taa.mean() < 0.75 * err_noaa.mean()


def test_low_contrast_static_scene_converges_to_jittered_average():
    """Little contrast: luma weights are near-uniform and clipping is off, so TAA ~ the jittered mean."""
    h = w = 16

    def scene(xs, ys):
        return 0.5 + 0.05 * (((xs - 8.2) * 0.6 + (ys - 7.9) * 0.8) > 0)

    taa = TemporalAA(TAAConfig.classic(gamma=1e6))
    outs = []
    for i in range(96):
        outs.append(taa.step(_render(scene, h, w, jitter_offset_px(i)), zeros_motion(h, w), reset=(i == 0)))
    jittered_mean = torch.stack([_render(scene, h, w, jitter_offset_px(i)) for i in range(16)]).mean(0)
    period_mean = torch.stack(outs[-16:]).mean(0)  # EMA mean over one period = jittered mean (+ weighting)
    # Bound: luma weights 1/(1.5) vs 1/(1.55) differ by 3%, on a 0.05 step -> < 0.05 * 0.03 = 1.5e-3.
    assert (period_mean - jittered_mean).abs().max() < 1.5e-3
    # A single frame stays within the EMA's periodic ripple (alpha 0.1 on a 0.05 step: < 0.05 * 0.5).
    assert (outs[-1] - jittered_mean).abs().max() < 0.025


def _moving_square(t, h, w, background, speed=2, value=4.0):
    color = background.clone()
    motion = torch.zeros(1, 2, h, w)
    x0 = 4 + speed * t
    color[:, :, 4:12, x0:x0 + 8] = value
    motion[:, 0, 4:12, x0:x0 + 8] = -speed  # the square came from the left: previous = current - speed
    return color, motion, x0


@pytest.mark.parametrize("gamma, ghosts", [(1.0, False), (1e6, True)])
def test_moving_square_leaves_bounded_ghost_with_clipping(gamma, ghosts):
    h, w = 16, 48
    g = torch.Generator().manual_seed(5)
    background = (torch.rand(1, 1, h, w, generator=g) * 0.5).expand(1, 3, h, w).clone()  # textured, 0..0.5
    taa = TemporalAA(TAAConfig.classic(gamma=gamma))
    for t in range(14):
        color, motion, x0 = _moving_square(t, h, w, background)
        out = taa.step(color, motion, reset=(t == 0))
    ghost = (out - color)[..., 4:12, : x0 - 1].max().item()  # background >= 1 px behind the trailing edge
    # Clipped history stays in mu +- sigma of the background neighbourhood (measured 0.36 <= the 0.5
    # background range); unclipped, the square (4.0) decays by 0.9 per frame (measured 1.96).
    if ghosts:
        assert ghost > 1.5
    else:
        assert ghost < 0.5


def test_unjitter_recovers_pixel_centres_of_a_linear_ramp():
    h, w = 6, 10
    jitter = (0.3, -0.2)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    ramp = lambda x, y: 0.1 * x + 0.05 * y + 1.0  # noqa: E731  (bilinear reproduces linear functions)
    jittered = grey(ramp(xs + 0.5 + jitter[0], ys + 0.5 + jitter[1]))
    taa = TemporalAA(TAAConfig.classic(unjitter=True))
    out = taa.step(jittered, zeros_motion(h, w), reset=True, jitter_px=jitter)
    centre = grey(ramp(xs + 0.5, ys + 0.5))
    assert torch.allclose(out[..., 1:-1, 1:-1], centre[..., 1:-1, 1:-1], atol=1e-5)  # interior, float32
    plain = TemporalAA(TAAConfig.classic()).step(jittered, zeros_motion(h, w), reset=True, jitter_px=jitter)
    assert torch.equal(plain, jittered)


def test_resolution_change_resets_history():
    taa = TemporalAA(TAAConfig.classic())
    taa.step(torch.ones(1, 3, 4, 4), zeros_motion(4, 4))
    current = torch.full((1, 3, 5, 3), 2.0)
    assert torch.equal(taa.step(current, zeros_motion(5, 3)), current)


def test_returned_output_does_not_alias_history():
    taa = TemporalAA(TAAConfig.classic())
    out = taa.step(torch.ones(1, 3, 2, 2), zeros_motion(2, 2))
    out.fill_(100.0)
    assert torch.equal(taa.history, torch.ones(1, 3, 2, 2))


@pytest.mark.parametrize("kwargs, field", [
    (dict(color_linear=torch.ones(1, 4, 3, 3)), "color_linear"),
    (dict(color_linear=torch.ones(3, 3, 3)), "color_linear"),
    (dict(color_linear=torch.ones(1, 3, 3, 3, dtype=torch.int32)), "color_linear"),
    (dict(motion_px=torch.zeros(1, 2, 3, 4)), "motion_px"),
    (dict(motion_px=torch.zeros(1, 2, 3, 3, dtype=torch.int64)), "motion_px"),
    (dict(reset=1), "reset"),
    (dict(jitter_px=(0.6, 0.0)), "jitter_px"),
    (dict(jitter_px="ab"), "jitter_px"),
])
def test_bad_inputs_raise_and_leave_history_untouched(kwargs, field):
    taa = TemporalAA(TAAConfig.classic())
    taa.step(torch.full((1, 3, 3, 3), 0.5), zeros_motion(3, 3))
    before = taa.history
    args = dict(color_linear=torch.ones(1, 3, 3, 3), motion_px=zeros_motion(3, 3), reset=False,
                jitter_px=(0, 0))
    args.update(kwargs)
    with pytest.raises(InvalidArgument) as info:
        taa.step(**args)
    assert info.value.field == field
    assert torch.equal(taa.history, before)


def test_config_validation_and_round_trip():
    cfg = TAAConfig.classic(alpha=0.2, gamma=1.5, unjitter=True)
    assert TAAConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (dict(alpha=0.0), dict(alpha=1.5), dict(gamma=0.0), dict(gamma=float("inf")),
                dict(unjitter=1)):
        with pytest.raises(InvalidArgument):
            TAAConfig(**bad)
    with pytest.raises(InvalidArgument):
        TAAConfig.from_dict({"alpha": 0.1, "sharpness": 1.0})


def test_closed_taa_refuses_steps():
    taa = TemporalAA(TAAConfig.classic())
    taa.close()
    with pytest.raises(InvalidOperation):
        taa.step(torch.ones(1, 3, 2, 2), zeros_motion(2, 2))


def test_numpy_scalars_are_accepted_and_nan_jitter_refused():
    taa = TemporalAA(TAAConfig.classic(unjitter=True))
    color = torch.rand(1, 3, 4, 4)
    out = taa.step(color, zeros_motion(4, 4), reset=np.bool_(True),
                   jitter_px=np.array([0.0, 0.0], np.float32))
    assert torch.equal(out, color)  # zero jitter: bilinear at texel centres is exact
    with pytest.raises(InvalidArgument):
        taa.step(color, zeros_motion(4, 4), jitter_px=(float("nan"), 0.0))
