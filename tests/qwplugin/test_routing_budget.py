"""The budget controller on a simulated pass-time model, and PCSR's training loss."""

import numpy as np
import pytest
import torch
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.routing.budget import BudgetController
from qwplugin.routing.decision import HEAVY, cost_weighted_decision, heavy_threshold
from qwplugin.routing.hysteresis import DecisionHysteresis
from qwplugin.routing.loss import freeze, mixture, routing_loss

COSTS = (1.0, 10.0)
SETTLE = 40  # frames allowed for settling (the loop contracts by ~(1 - 0.3 b / b_hat) per frame)


def simulate(a, b, budget, noise, frames=300, initial_heavy_ms=None, gaussian=False, hysteresis=False, seed=0,
             change=None):
    """Pass time = a + b * heavy_fraction + noise; fresh per-tile probabilities each frame (30x40 tiles).
    ``change = (frame, a2, b2)`` switches the model at that frame (new content)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    ctl = BudgetController(budget, COSTS, initial_heavy_ms=initial_heavy_ms)
    hyst = DecisionHysteresis() if hysteresis else None
    base = torch.rand(1, 30, 40, generator=g)
    for i in range(frames):
        if change and i == change[0]:
            a, b = change[1], change[2]
        p = (base + 0.1 * torch.randn(base.shape, generator=g)).clamp(0.01, 0.99) if hysteresis \
            else torch.rand(1, 30, 40, generator=g)
        k = ctl.choose_k(p)
        if hyst:
            heavy = hyst.step(p, heavy_threshold(k, COSTS))
        else:
            heavy = cost_weighted_decision(torch.stack([1 - p, p], 1), COSTS, k) == HEAVY
        f = float(heavy.double().mean())
        eps = rng.normal(0, noise) if gaussian else rng.uniform(-noise, noise)
        ctl.update(a + b * f + eps, f)
    return ctl.report()


@pytest.mark.parametrize("a,b,budget,initial", [(2.0, 12.0, 8.0, None), (2.0, 12.0, 8.0, 40.0),
                                                 (1.0, 30.0, 8.0, 4.0), (3.0, 9.0, 6.0, 2.0)])
def test_controller_holds_the_budget_after_settling_without_wasting_it(a, b, budget, initial):
    r = simulate(a, b, budget, noise=0.3, initial_heavy_ms=initial)
    ms, frac = np.array(r.ms[SETTLE:]), np.array(r.heavy_fraction[SETTLE:])
    assert ms.max() <= budget  # bounded noise: never over once settled
    optimum = (budget - a) / b  # the fraction that would use the whole budget without noise
    assert optimum - 0.15 <= frac.mean() < optimum  # and it does not just run light
    assert r.worst_ms == max(r.ms) and r.worst_heavy_fraction == max(r.heavy_fraction)


def test_controller_recovers_from_a_change_of_content():
    r = simulate(2.0, 12.0, 8.0, noise=0.3, change=(150, 3.0, 20.0))
    over = [i for i, t in enumerate(r.ms) if t > 8.0 and i >= SETTLE]
    assert over and min(over) == 150 and max(over) <= 155  # a few frames over after the change, then held
    assert 0.25 - 0.1 <= np.mean(r.heavy_fraction[200:]) < 0.25


def test_controller_with_gaussian_noise_and_hysteresis():
    r = simulate(2.0, 12.0, 8.0, noise=0.3, gaussian=True, hysteresis=True)
    ms = np.array(r.ms[SETTLE:])
    assert (ms > 8.0).mean() <= 0.05  # 2.5 sigma margin: ~1% expected over budget
    assert abs(np.mean(ms) - (8.0 - 2.5 * 0.3)) < 0.3


def test_controller_saturates_when_even_all_heavy_fits_and_when_nothing_fits():
    fits = simulate(1.0, 4.0, 20.0, noise=0.1, frames=80)
    assert np.mean(fits.heavy_fraction[SETTLE:]) == 1.0
    over = simulate(10.0, 4.0, 5.0, noise=0.1, frames=80)
    assert max(over.heavy_fraction) == 0.0 and over.frames_over_budget == 80


def test_controller_rejects_bad_arguments():
    with pytest.raises(InvalidArgument):
        BudgetController(0.0, COSTS)
    with pytest.raises(InvalidArgument):
        BudgetController(5.0, (1.0, 1.0))
    ctl = BudgetController(5.0, COSTS)
    with pytest.raises(InvalidArgument):
        ctl.update(float("nan"), 0.1)


def test_mixture_and_loss_follow_pcsr():
    g = torch.Generator().manual_seed(0)
    heavy, light, target = (torch.rand(2, 3, 8, 8, generator=g) for _ in range(3))
    p_tile = torch.softmax(torch.randn(2, 2, 2, 2, generator=g), 1)
    p = p_tile.repeat_interleave(4, 2).repeat_interleave(4, 3)
    assert torch.allclose(mixture(heavy, light, p_tile), p[:, :1] * light + p[:, 1:] * heavy)
    out = routing_loss(heavy, light, p_tile, target, target_fraction=0.5, rgb_weight=1000.0, fraction_weight=3.0)
    l1 = (p[:, :1] * light + p[:, 1:] * heavy - target).abs().mean()
    frac = p_tile[:, 1].mean()
    assert torch.allclose(out["loss"], 1000 * l1 + 3 * (frac - 0.5).abs() / 0.5)
    with pytest.raises(InvalidArgument):
        routing_loss(heavy, light, p_tile, target, target_fraction=0.0)


def test_training_routes_heavy_where_the_light_path_fails_and_keeps_the_heavy_path_frozen():
    torch.manual_seed(0)
    n, h, w = 4, 8, 8
    bad = torch.zeros(n, 1, h, w)
    bad[:, :, :, :4] = 1.0  # the light path fails on the left half
    target = torch.rand(n, 3, h, w)
    heavy_net = freeze(nn.Conv2d(3, 3, 1))
    with torch.no_grad():
        heavy_net.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        heavy_net.bias.zero_()
    clf = nn.Conv2d(2, 2, 1)  # a linear per-pixel classifier on (bad, 1 - bad)
    feats = torch.cat([bad, 1 - bad], 1)
    opt = torch.optim.Adam(clf.parameters(), lr=0.05)
    for _ in range(100):
        heavy_out = heavy_net(target)  # heavy = perfect
        light_out = target + bad * 0.5  # light = wrong on the left half, as good as heavy on the right
        probs = torch.softmax(clf(feats), 1)
        # where both paths are equally good only the fraction term decides: it must send those pixels light
        loss = routing_loss(heavy_out, light_out, probs, target, target_fraction=0.5, fraction_weight=0.05)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        p = torch.softmax(clf(feats), 1)[:, 1]
    assert float(p[:, :, :4].mean()) > 0.9 and float(p[:, :, 4:].mean()) < 0.2
    assert heavy_net.weight.grad is None and torch.equal(heavy_net.weight.view(3, 3), torch.eye(3))
