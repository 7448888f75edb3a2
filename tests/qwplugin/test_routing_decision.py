"""PCSR's decision knobs, temporal hysteresis, and the classifier's inputs."""

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.routing.classifier import RoutingClassifier, local_contrast, routing_features
from qwplugin.routing.decision import (HEAVY, cost_weighted_decision, heavy_threshold, k_for_fraction,
                                       kmeans_threshold, refine_boundary)
from qwplugin.routing.hysteresis import DecisionHysteresis

COSTS = (750.0, 13282.0)  # PCSR's FSRCNN light / heavy MACs per HR pixel (seeds.md)


def _probs(shape, seed=0):
    p = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.98 + 0.01
    return torch.stack([1 - p, p], 1)


def test_decision_is_argmax_of_p_over_cost_to_the_k():
    g = torch.Generator().manual_seed(1)
    probs = torch.softmax(torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64), 1)
    costs = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64)
    for k in (-2.0, 0.0, 0.7, 3.0):
        direct = (probs / (costs / costs.sum()).view(1, 3, 1, 1) ** k).argmax(1)
        assert torch.equal(cost_weighted_decision(probs, costs, k), direct)


def test_two_class_decision_is_the_heavy_threshold():
    probs = _probs((2, 16, 16))
    for k in (-1.0, 0.0, 0.3, 1.0):
        tau = heavy_threshold(k, COSTS)
        assert torch.equal(cost_weighted_decision(probs, COSTS, k) == HEAVY, probs[:, HEAVY] > tau)


def test_k_changes_the_heavy_fraction_monotonically():
    probs = _probs((1, 40, 40), seed=2)
    ks = np.linspace(-3, 3, 61)
    fractions = [float((cost_weighted_decision(probs, COSTS, k) == HEAVY).double().mean()) for k in ks]
    assert all(a >= b for a, b in zip(fractions, fractions[1:]))
    assert fractions[0] > 0.9 and fractions[-1] < 0.1
    assert float((cost_weighted_decision(probs, COSTS, -25.0) == HEAVY).double().mean()) == 1.0  # PCSR's "all heavy"


def test_k_for_fraction_routes_exactly_that_fraction():
    probs = _probs((1, 20, 30), seed=3)
    for f in (0.0, 0.1, 0.37, 0.5, 1.0):
        k = k_for_fraction(probs[:, HEAVY], f, COSTS)
        chosen = cost_weighted_decision(probs, COSTS, k) == HEAVY
        assert int(chosen.sum()) == int(np.floor(f * 600 + 1e-9))
        if 0 < f < 1:  # the most likely-hard ones
            assert float(probs[:, HEAVY][chosen].min()) > float(probs[:, HEAVY][~chosen].max())


def _lloyd_1d(q, iters=20):
    c = np.array([0.0, 1.0])
    for _ in range(iters):
        upper = np.abs(q - c[0]) > np.abs(q - c[1])
        c = np.array([q[~upper].mean() if (~upper).any() else c[0], q[upper].mean() if upper.any() else c[1]])
    return c


def test_kmeans_threshold_matches_a_direct_lloyd_iteration():
    g = np.random.default_rng(4)
    p = np.concatenate([g.normal(0.2, 0.05, 300), g.normal(0.7, 0.08, 100)]).clip(0, 1)
    tau = float(kmeans_threshold(torch.from_numpy(p).view(1, 20, 20))[0])
    lo, hi = p.min(), p.max()
    c = _lloyd_1d((p - lo) / (hi - lo))
    assert tau == pytest.approx(lo + (hi - lo) * c.mean(), abs=1e-12)
    hard = p > tau
    assert 90 <= hard.sum() <= 110  # the upper cluster
    flat = kmeans_threshold(torch.full((1, 4, 4), 0.3))
    assert not bool((torch.full((1, 4, 4), 0.3) > flat.view(-1, 1, 1)).any())  # constant: all easy


def test_refinement_replaces_easy_pixels_next_to_hard_ones_by_their_3x3_mean():
    g = torch.Generator().manual_seed(5)
    out = torch.rand(1, 2, 7, 8, generator=g, dtype=torch.float64)
    hard = torch.rand(1, 7, 8, generator=g) < 0.15
    got = refine_boundary(out, hard)
    ref = out.clone()
    for y in range(1, 6):
        for x in range(1, 7):
            if not hard[0, y, x] and hard[0, y - 1:y + 2, x - 1:x + 2].any():
                ref[0, :, y, x] = out[0, :, y - 1:y + 2, x - 1:x + 2].mean((1, 2))
    assert torch.allclose(got, ref, atol=1e-12)
    assert not torch.equal(got, out)


def test_hysteresis_reduces_decision_flips_on_a_noisy_static_input():
    g = torch.Generator().manual_seed(6)
    base = torch.rand(1, 32, 32, generator=g) * 0.4 + 0.3  # many elements near the threshold 0.5

    def flips(hyst):
        prev, total = None, 0
        for _ in range(60):
            p = (base + 0.08 * torch.randn(base.shape, generator=g)).clamp(0.01, 0.99)
            d = hyst.step(p, 0.5) if hyst else p > 0.5
            if prev is not None:
                total += int((d != prev).sum())
            prev = d
        return total

    plain, damped = flips(None), flips(DecisionHysteresis())
    assert plain > 0 and damped < 0.2 * plain


def test_hysteresis_still_follows_a_real_change_and_resets():
    h = DecisionHysteresis()
    low, high = torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 0.9)
    for _ in range(3):
        assert not h.step(low, 0.5).any()
    switched = [bool(h.step(high, 0.5).all()) for _ in range(4)]
    assert switched[-1] and switched.index(True) <= 2  # within a few frames
    assert not h.step(low, 0.5, reset=True).any()  # a cut: plain threshold, no memory of "heavy"


def test_features_and_per_tile_classifier_are_local_to_their_tile():
    n, h, w = 1, 16, 24
    disocc = torch.zeros(n, 1, h, w)
    motion = torch.zeros(n, 2, h, w)
    motion[:, 0] = 3.0
    motion[:, 1] = 4.0
    feats = routing_features(disocc, motion, torch.zeros(n, 1, h, w), torch.ones(n, 3, h, w))
    assert feats.shape == (1, 4, h, w)
    assert torch.allclose(feats[:, 1], torch.full((1, h, w), float(np.log1p(5.0))))
    assert torch.allclose(feats[:, 3], torch.zeros(1, h, w), atol=1e-6)  # flat colour: no contrast
    torch.manual_seed(0)
    clf = RoutingClassifier(tile=8)
    p0 = clf(feats)
    assert p0.shape == (1, 2, 2, 3) and torch.allclose(p0.sum(1), torch.ones(1, 2, 3))
    disocc2 = disocc.clone()
    disocc2[0, 0, 9, 17] = 1.0  # one pixel in tile (1, 2): the max-pool sees it
    p1 = clf(routing_features(disocc2, motion, torch.zeros(n, 1, h, w), torch.ones(n, 3, h, w)))
    changed = (p1 != p0).any(1)[0]
    assert changed[1, 2] and int(changed.sum()) == 1


def test_local_contrast_is_scale_free_and_bad_inputs_raise():
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(7)) + 0.5
    assert torch.allclose(local_contrast(4 * x), local_contrast(x), rtol=1e-2)
    with pytest.raises(InvalidArgument):
        routing_features(torch.zeros(1, 1, 8, 8), torch.zeros(1, 2, 8, 9), torch.zeros(1, 1, 8, 8), x)
    with pytest.raises(InvalidArgument):
        cost_weighted_decision(torch.rand(1, 3, 2, 2), COSTS, 0.0)
    with pytest.raises(InvalidArgument):
        heavy_threshold(1.0, (2.0, 2.0))
