"""Tile gather/scatter with a halo, per-tile and per-pixel routing, and the per-frame router."""

import pytest
import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument
from qwplugin.routing.router import RoutingSettings, TileRouter, expected_macs_per_pixel
from qwplugin.routing.tiles import gather_tiles, route_pixels, route_tiles, scatter_tiles, tile_grid

RADIUS = 2  # two 3x3 convolutions


class KnownReceptiveField:
    """Replicate-pad the input by RADIUS, two 'valid' 3x3 convs with ReLU between, optional nearest x``scale``.

    Integer weights and inputs in float64 keep every sum an exact integer, so results compare with
    ``torch.equal`` whatever the conv's summation order. Counts the patches it is given.
    """

    def __init__(self, cin=3, cout=2, scale=1, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.w1 = torch.randint(-2, 3, (4, cin, 3, 3), generator=g).double()
        self.w2 = torch.randint(-2, 3, (cout, 4, 3, 3), generator=g).double()
        self.b1 = torch.randint(-2, 3, (4,), generator=g).double()
        self.scale, self.calls, self.patches = scale, 0, 0

    def __call__(self, x):
        self.calls += 1
        self.patches += x.shape[0]
        y = F.conv2d(F.relu(F.conv2d(F.pad(x, (RADIUS,) * 4, mode="replicate"), self.w1, self.b1)), self.w2)
        return y.repeat_interleave(self.scale, 2).repeat_interleave(self.scale, 3) if self.scale > 1 else y


def _int_image(n, c, h, w, seed=1):
    return torch.randint(0, 4, (n, c, h, w), generator=torch.Generator().manual_seed(seed)).double()


def _tile_mask(n, th, tw, seed=2, p=0.4):
    return torch.rand(n, th, tw, generator=torch.Generator().manual_seed(seed)) < p


@pytest.mark.parametrize("scale", [1, 2])
def test_gather_with_halo_reproduces_the_full_heavy_output_on_the_chosen_tiles(scale):
    heavy = KnownReceptiveField(scale=scale)
    x = _int_image(2, 3, 37, 29)  # not multiples of the tile: partial tiles at the right and bottom
    tile = 8
    full = heavy(x)
    light = torch.full_like(full, -1000.0)
    mask = _tile_mask(2, *tile_grid(37, 29, tile))
    out = route_tiles(x, heavy, light, mask, tile, RADIUS, scale=scale)
    t = tile * scale
    for n, ty, tx in torch.cartesian_prod(torch.arange(2), torch.arange(mask.shape[1]), torch.arange(mask.shape[2])):
        region = (n, slice(None), slice(ty * t, (ty + 1) * t), slice(tx * t, (tx + 1) * t))
        expected = full[region] if mask[n, ty, tx] else light[region]
        assert torch.equal(out[region], expected), (int(n), int(ty), int(tx))
    assert heavy.patches == 2 + int(mask.sum())  # the full-frame call above (2 images), then only the chosen tiles


def test_a_halo_smaller_than_the_receptive_field_is_not_exact():
    heavy = KnownReceptiveField()
    x = _int_image(1, 3, 32, 32)
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    out = route_tiles(x, heavy, torch.zeros(1, 2, 32, 32, dtype=torch.float64), mask, 8, RADIUS - 1)
    assert not torch.equal(out, heavy(x))


def test_zero_padded_layers_are_exact_on_interior_tiles_only():
    g = torch.Generator().manual_seed(3)
    w1 = torch.randint(-2, 3, (4, 3, 3, 3), generator=g).double()
    w2 = torch.randint(-2, 3, (2, 4, 3, 3), generator=g).double()
    b1 = torch.ones(4, dtype=torch.float64) * 2

    def heavy(x):  # every layer zero-pads: border pixels of the patch differ from the frame's
        return F.conv2d(F.relu(F.conv2d(x, w1, b1, padding=1)), w2, padding=1)

    x = _int_image(1, 3, 32, 32, seed=4)
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    out = route_tiles(x, heavy, torch.zeros(1, 2, 32, 32, dtype=torch.float64), mask, 8, RADIUS, pad_mode="constant")
    full = heavy(x)
    assert torch.equal(out[..., 8:24, 8:24], full[..., 8:24, 8:24])  # interior tiles: halo inside the frame
    assert not torch.equal(out, full)


def test_all_heavy_equals_heavy_and_none_heavy_equals_light_without_calling_heavy():
    heavy = KnownReceptiveField()
    x = _int_image(2, 3, 20, 20)
    th, tw = tile_grid(20, 20, 8)
    light = _int_image(2, 2, 20, 20, seed=9)
    all_heavy = route_tiles(x, heavy, light, torch.ones(2, th, tw, dtype=torch.bool), 8, RADIUS)
    assert torch.equal(all_heavy, heavy(x))
    heavy.calls = 0
    none = route_tiles(x, heavy, light, torch.zeros(2, th, tw, dtype=torch.bool), 8, RADIUS)
    assert torch.equal(none, light) and heavy.calls == 0


def test_chunked_heavy_calls_give_the_same_result():
    heavy = KnownReceptiveField()
    x = _int_image(1, 3, 40, 40)
    mask = _tile_mask(1, 5, 5, seed=5, p=0.6)
    k = int(mask.sum())
    light = torch.zeros(1, 2, 40, 40, dtype=torch.float64)
    whole = route_tiles(x, heavy, light, mask, 8, RADIUS)
    heavy.calls = heavy.patches = 0
    chunked = route_tiles(x, heavy, light, mask, 8, RADIUS, max_batch=3)
    assert torch.equal(whole, chunked)
    assert heavy.calls == -(-k // 3) and heavy.patches == k


def test_gather_then_scatter_round_trips():
    x = torch.rand(2, 3, 19, 23)
    th, tw = tile_grid(19, 23, 4)
    index = torch.ones(2, th, tw, dtype=torch.bool).nonzero()
    tiles = gather_tiles(x, index, 4, 0)
    assert tiles.shape == (2 * th * tw, 3, 4, 4)
    assert torch.equal(scatter_tiles(torch.zeros_like(x), tiles, index, 4), x)


def test_route_pixels_sends_each_pixel_through_one_head():
    f = torch.rand(2, 5, 6, 7)
    hard = torch.rand(2, 6, 7, generator=torch.Generator().manual_seed(0)) < 0.3
    seen = {}
    wh, wl = torch.rand(5, 3), torch.rand(5, 3)

    def head(name, w):
        def run(v):
            seen[name] = v.shape[0]
            return v @ w
        return run

    out = route_pixels(f, hard, head("heavy", wh), head("light", wl))
    ref = torch.where(hard.unsqueeze(1), torch.einsum("nchw,co->nohw", f, wh), torch.einsum("nchw,co->nohw", f, wl))
    assert torch.allclose(out, ref, atol=1e-6)
    assert seen == {"heavy": int(hard.sum()), "light": int((~hard).sum())}


def test_bad_shapes_raise():
    heavy = KnownReceptiveField()
    x = _int_image(1, 3, 16, 16)
    light = torch.zeros(1, 2, 16, 16, dtype=torch.float64)
    with pytest.raises(InvalidArgument):
        route_tiles(x, heavy, light, torch.ones(1, 3, 3, dtype=torch.bool), 8, RADIUS)
    with pytest.raises(InvalidArgument):
        route_tiles(x, heavy, light[:, :, :8], torch.ones(1, 2, 2, dtype=torch.bool), 8, RADIUS)
    with pytest.raises(InvalidArgument):
        gather_tiles(x, torch.zeros(1, 3, dtype=torch.long), 8, 2, pad_mode="wrap")


def test_router_k_extremes_give_the_heavy_and_the_light_path():
    heavy = KnownReceptiveField()
    x = _int_image(1, 3, 24, 24)
    light = _int_image(1, 2, 24, 24, seed=7)
    probs = torch.rand(1, 2, 3, 3, generator=torch.Generator().manual_seed(1)).clamp(0.05, 0.95)
    probs = torch.stack([1 - probs[:, 1], probs[:, 1]], 1).double()
    out, info = TileRouter(heavy, RoutingSettings(tile=8, halo=RADIUS, k=-25.0))(x, probs, light)
    assert torch.equal(out, heavy(x)) and info.heavy_fraction == 1.0
    out, info = TileRouter(heavy, RoutingSettings(tile=8, halo=RADIUS, k=25.0))(x, probs, light)
    assert torch.equal(out, light) and info.heavy_fraction == 0.0


def test_expected_macs_formula():
    assert expected_macs_per_pixel(0.25, 1000.0, 40.0, 5.0) == 0.25 * 1000 + 45
    assert expected_macs_per_pixel(0.5, 100.0, 0.0, tile=16, halo=8) == 0.5 * 100 * 4


def test_router_adaptive_and_budget_modes():
    from qwplugin.routing.budget import BudgetController
    from qwplugin.routing.decision import kmeans_threshold

    heavy = KnownReceptiveField()
    x = _int_image(1, 3, 32, 32)
    light = _int_image(1, 2, 32, 32, seed=8)
    g = torch.Generator().manual_seed(2)
    p = torch.cat([torch.rand(1, 2, 4, generator=g) * 0.2, 0.8 + torch.rand(1, 2, 4, generator=g) * 0.2], 1).double()
    probs = torch.stack([1 - p, p], 1)
    settings = RoutingSettings(tile=8, halo=RADIUS, mode="adaptive", hysteresis=False, refine=False)
    out, info = TileRouter(heavy, settings)(x, probs, light)
    tau = float(kmeans_threshold(p)[0])
    assert info.heavy_tiles == int((p > tau).sum()) == 8  # the upper cluster: the bottom two tile rows
    assert torch.equal(out[..., 16:, :], heavy(x)[..., 16:, :]) and torch.equal(out[..., :16, :], light[..., :16, :])
    refined, _ = TileRouter(heavy, RoutingSettings(tile=8, halo=RADIUS, mode="adaptive", hysteresis=False))(
        x, probs, light)
    assert torch.equal(refined[..., :15, :], light[..., :15, :])  # only the row next to the heavy tiles changes
    assert not torch.equal(refined[..., 15, 1:-1], light[..., 15, 1:-1])
    with pytest.raises(InvalidArgument):
        TileRouter(heavy, RoutingSettings(mode="budget"))

    now = [0.0]  # a simulated clock (seconds): a pass takes 0.5 ms + 0.5 ms per heavy tile

    def timed_heavy(patches):
        now[0] += 0.5e-3 * patches.shape[0]
        return heavy(patches)

    def clock():
        now[0] += 0.5e-3  # called at the start and at the end of each pass
        return now[0]

    for budget, lowest in ((1e3, 1.0), (6.0, 0.5)):  # 16 tiles: all heavy = 8.5 ms; 6 ms fits at most 11
        ctl = BudgetController(budget, (1.0, 10.0))
        router = TileRouter(timed_heavy, RoutingSettings(tile=8, halo=RADIUS, mode="budget", hysteresis=False),
                            controller=ctl, clock=clock)
        infos = [router(x, probs, light)[1] for _ in range(30)]
        assert infos[0].heavy_fraction == 0.0  # the controller's first frame is all light
        assert len(ctl.report().ms) == 30 and max(ctl.report().ms[10:]) <= budget
        assert lowest <= infos[-1].heavy_fraction <= (min(16, (budget - 0.5) / 0.5)) / 16
