"""The routed reconstructor (qwplugin.runtime.routed): both extremes equal the paths alone through several
frames, the heavy path runs only on the chosen tiles, k moves the heavy fraction monotonically on a real
frame, the budget loop holds a simulated pass-time model, the reported fraction is the decision, the
registry builds it by name, the classifier file is checksummed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.ops.colour import from_network, to_network
from qwplugin.routing.classifier import RoutingClassifier
from qwplugin.runtime import registry
from qwplugin.runtime.routed import RoutedQWNet

from tests.qwplugin.runtime_frames import pan_frame

W, H = 256, 128  # 4 x 2 tiles of 64 px


def frames(n: int, w: int = W, h: int = H) -> list:
    """A pan at 1.5 px/frame with a depth step (so the disocclusion test has something to find)."""
    out = []
    for t in range(n):
        f = pan_frame(t, speed_px=1.5, h=h, w=w)
        depth = np.full((h, w), 5.0, np.float32)
        depth[:, : w // 3] = 2.0
        out.append(replace(f, depth=depth))
    return out


class FixedProbs(RoutingClassifier):
    """Test double: per-tile heavy probabilities given per frame (a list, consumed in order)."""

    def __init__(self, tile: int, p_heavy: list[torch.Tensor]):
        super().__init__(tile=tile)
        self.p_heavy = list(p_heavy)

    def forward(self, features):
        p = self.p_heavy.pop(0).to(features.dtype)[None]
        return torch.stack([1.0 - p, p], dim=1)


def test_all_heavy_equals_qwnet_and_none_heavy_equals_taa_over_frames():
    fs = frames(4)
    for routed_spec, alone_spec in (("qwnet-routed-rule:k=-25", "qwnet-int4"), ("qwnet-routed-rule:k=25", "taa")):
        routed, alone = registry.make(routed_spec, (W, H)), registry.make(alone_spec, (W, H))
        for f in fs:
            a, b = routed.dispatch(f), alone.dispatch(f)
            # exact: the same arithmetic on the same inputs, histories included
            assert np.array_equal(a, b), (routed_spec, float(np.abs(a - b).max()))
        expected = 1.0 if "-25" in routed_spec else 0.0
        assert routed.stats.heavy_fraction_worst == expected and routed.stats.heavy_fraction_mean == expected
        routed.close()
        alone.close()


def _counting(routed: RoutedQWNet) -> list[tuple[int, ...]]:
    """Wrap the heavy network so every input shape it receives is recorded."""
    seen: list[tuple[int, ...]] = []
    net = routed._net

    def wrapped(color, history, depth=None):
        seen.append(tuple(color.shape))
        return net(color, history, depth)

    routed._net = wrapped
    return seen


def test_heavy_path_runs_only_on_chosen_tiles_and_light_tiles_are_taa():
    p1 = torch.tensor([[0.9, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]])  # 1 tile heavy
    p3 = torch.tensor([[0.9, 0.1, 0.9, 0.1], [0.1, 0.9, 0.1, 0.1]])  # 3 tiles heavy: 3 * 96^2 < 256 * 128
    p4 = torch.tensor([[0.9, 0.1, 0.9, 0.1], [0.1, 0.9, 0.1, 0.9]])  # 4 tiles: patches >= frame -> full frame
    routed = RoutedQWNet((W, H), classifier=FixedProbs(64, [p1, p3, p4]), k=0.0, hysteresis=False)
    taa = registry.make("taa", (W, H))
    seen = _counting(routed)
    for f, p, expect in zip(frames(3), (p1, p3, p4), ([(1, 3, 96, 96)], [(3, 3, 96, 96)], [(1, 3, H, W)])):
        seen.clear()
        out, light = routed.dispatch(f), taa.dispatch(f)
        assert seen == expect
        assert routed.stats.heavy_pixels_last == sum(s[0] * s[2] * s[3] for s in expect)
        heavy = (p > 0.5).repeat_interleave(64, 0).repeat_interleave(64, 1).numpy()
        assert routed.stats.heavy_fraction_last == heavy.mean()
        assert np.array_equal(out[~heavy], light[~heavy])  # light tiles: the TAA, exactly
        assert np.abs(out[heavy] - light[heavy]).max() > 1e-3  # heavy tiles: something else ran there
    routed.close()


def test_tile_output_is_qwnet_on_the_gathered_patch():
    p = torch.tensor([[0.1, 0.9, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]])
    routed = RoutedQWNet((W, H), classifier=FixedProbs(64, [p]), hysteresis=False)
    f = frames(1)[0]
    out = routed.dispatch(f)
    # independent reference: first frame, history = colour; QW-Net on the replicate-padded patch x in [48, 144)
    color = torch.from_numpy(f.color).permute(2, 0, 1)[None]
    depth = torch.from_numpy(f.depth)[None, None]
    padded = torch.nn.functional.pad(to_network(color, 1.0), (16, 16, 16, 16), mode="replicate")
    patch = padded[:, :, 0:96, 64:160]
    depth_patch = torch.nn.functional.pad(depth, (16, 16, 16, 16), mode="replicate")[:, :, 0:96, 64:160]
    net = routed._net
    with torch.no_grad():
        y = net(patch, patch, depth_patch if routed._net_depth else None)
    ref = from_network(y, 1.0)[0, :, 16:80, 16:80].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out[0:64, 64:128], ref, rtol=0, atol=1e-6)  # float32 round-off of from_network
    routed.close()


def test_k_moves_the_heavy_fraction_monotonically_on_a_real_frame():
    from qwplugin.data.dataset import SequenceDataset
    from qwplugin.routing.train import sequence_frames

    root = Path(__file__).resolve().parents[2] / "data" / "train_v2"
    if not (root / "index.json").exists():
        pytest.skip("data/train_v2 is not present")
    block = SequenceDataset(root, "val", limit=1).block(0)
    fs = sequence_frames({k: v[:2] for k, v in block.items()})
    h, w = block["color"].shape[1:3]
    fractions = []
    for k in (-1.0, 0.0, 0.5, 1.0, 2.0):  # the whole reconstructor, the rule's probabilities on a real frame
        routed = RoutedQWNet((w, h), k=k, hysteresis=False)
        for f in fs:
            routed.dispatch(f)
        fractions.append(routed.stats.heavy_fraction_last)
        routed.close()
    assert all(a >= b for a, b in zip(fractions, fractions[1:])), fractions
    assert fractions[0] > fractions[-1], fractions


class SimulatedPass:
    """A pass-time model driven by what really runs: light path ``a`` ms per frame, heavy path ``b`` ms per
    full frame of pixels it processes, plus bounded noise; the reconstructor reads this clock."""

    def __init__(self, routed: RoutedQWNet, a: float, b: float, noise: float, seed: int = 0):
        w, h = routed.render_size
        self.now, self.a, self.b, self.noise = 0.0, a, b, noise
        self.rng = np.random.default_rng(seed)
        self.marker = 0.25  # network-domain output of the fake heavy path

        def light(color, *args, **kwargs):
            self.now += (self.a + self.rng.uniform(-self.noise, self.noise)) * 1e-3
            return torch.full_like(color, 2.0)  # a constant linear colour: not the marker

        def heavy(color, history, depth=None):
            self.now += self.b * color.shape[0] * color.shape[2] * color.shape[3] / (w * h) * 1e-3
            return torch.full_like(color, self.marker)

        routed._taa._step, routed._net = light, heavy

    def __call__(self) -> float:
        return self.now


def test_budget_loop_holds_a_simulated_pass_under_budget_and_reports_the_decision():
    budget, a, b = 20.0, 6.0, 40.0
    rng = np.random.default_rng(3)
    w, h = 512, 256  # 8 x 4 tiles: one tile's patch costs 40 * 96^2 / (512 * 256) = 2.8 ms
    probs = [torch.from_numpy(rng.uniform(0, 1, (4, 8))).float() for _ in range(60)]
    # hysteresis off: with i.i.d. probabilities per frame it may keep a second tile (28.5 ms); the controller's
    # tolerance of hysteresis is tested on the building block (test_routing_budget.py)
    routed = RoutedQWNet((w, h), classifier=FixedProbs(64, probs), budget_ms=budget, hysteresis=False)
    sim = SimulatedPass(routed, a, b, noise=0.3)
    routed._clock = routed._router.clock = sim
    marker_linear = sim.marker / (1.0 - sim.marker)
    f0 = frames(1, w, h)[0]
    for t in range(60):
        out = routed.dispatch(replace(f0, reset=t == 0))
        is_heavy = np.isclose(out[..., 0], marker_linear, rtol=0, atol=1e-5)
        tiles = is_heavy.reshape(4, 64, 8, 64).all(axis=(1, 3))
        assert np.array_equal(is_heavy, tiles.repeat(64, 0).repeat(64, 1))  # whole tiles only
        assert routed.stats.heavy_fraction_last == tiles.mean()  # the report is the decision
    report = routed.report()
    assert report.budget_ms == budget
    settled = report.ms[20:]
    assert max(settled) <= budget, max(settled)
    # at most 5 tiles fit (6.3 + 5 * 2.8 = 20.3 is just over): the controller must use the budget, not idle
    assert 2 / 32 <= np.mean(report.heavy_fraction[20:]) <= 5 / 32, report.heavy_fraction[20:]
    assert routed.stats.frames_over_budget == sum(t > budget for t in report.ms)
    assert routed.stats.ms_worst == report.worst_ms
    routed.close()


def test_registry_builds_it_by_name_with_options():
    m = registry.make("qwnet-routed-rule:k=1.5:tile=32:halo=8", (64, 64))
    assert m.info.name == "qwnet-routed-rule:k=1.5:tile=32:halo=8"
    assert m.info.details["k"] == 1.5 and m.info.details["tile"] == 32 and m.info.details["halo"] == 8
    assert "rule (not trained)" in m.info.description
    assert registry.label("qwnet-routed-rule:k=1.5") == "QW-Net routed (rule) (k=1.5)"
    m.close()
    m = registry.make("qwnet-routed-rule", (64, 64), budget_ms=12.0)
    assert m.info.details["budget_ms"] == 12.0 and m.info.details["k"] is None
    m.close()
    for bad in ("qwnet-routed-rule:kk=1", "qwnet-routed-rule:k", "taa:k=1"):
        with pytest.raises(InvalidArgument):
            registry.parse_spec(bad)
    with pytest.raises(InvalidArgument):
        registry.make("qwnet-routed-rule:tile=40", (64, 64))
    from qwplugin.eval.methods import make_method, parse_method  # the evaluation's --methods path

    assert parse_method("qwnet-routed:k=0.5") == ("qwnet-routed:k=0.5", None)
    m = make_method("qwnet-routed-rule:budget_ms=40", (64, 64))
    assert m.info.details["budget_ms"] == 40.0
    m.close()


def test_classifier_file_roundtrip_and_checksum(tmp_path):
    from qwplugin.routing.weights import load_classifier, save_classifier

    net = RoutingClassifier(tile=64)
    path = tmp_path / "r.safetensors"
    save_classifier(path, net, {"training": "test"})
    loaded, meta = load_classifier(path)
    x = torch.rand(1, 4, 64, 128)
    assert torch.equal(loaded(x), net(x)) and meta["training"] == "test" and loaded.tile == 64
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidArgument, match="checksum"):
        load_classifier(path)


def test_expected_macs_per_pixel_follow_the_heavy_fraction():
    from qwplugin.analysis.macs import mac_report
    from qwplugin.analysis.routing import FEATURE_MACS, TAA_MACS, classifier_macs_per_pixel, routed_macs
    from qwplugin.model.config import ModelConfig

    cfg = ModelConfig.preset("paper")
    w, h = 512, 256  # 32 tiles; patches of 96^2 reach the frame's 131072 pixels at 15 tiles
    base = sum(TAA_MACS.values()) + sum(FEATURE_MACS.values()) + classifier_macs_per_pixel(64)
    assert classifier_macs_per_pixel(64) == 4 + (2 * 4 * 16 + 16 * 16 + 32) / 4096
    assert routed_macs(cfg, w, h, 0.0).total == pytest.approx(base, rel=1e-12)
    patch = mac_report(cfg, 96, 96).total
    for k in (1, 7, 14):
        c = routed_macs(cfg, w, h, k / 32)
        assert not c.full_frame and c.heavy == pytest.approx(k * patch / (w * h), rel=1e-12)
    full = mac_report(cfg, h, w).total / (w * h)
    for k in (15, 32):
        c = routed_macs(cfg, w, h, k / 32)
        assert c.full_frame and c.heavy == pytest.approx(full, rel=1e-12)
    with pytest.raises(InvalidArgument):
        routed_macs(cfg, w, h, 1.5)


def test_shipped_trained_router_is_used_by_name():
    from qwplugin.routing.weights import SHIPPED_CLASSIFIER, load_classifier

    net, meta = load_classifier(SHIPPED_CLASSIFIER)  # checksum verified against the manifest
    assert "training" in meta and net.tile == 64
    m = registry.make("qwnet-routed:k=0.5", (128, 64))
    assert "trained (routing-qwnet-taa.safetensors" in m.info.description
    assert torch.equal(m._classifier.net[0].weight, net.net[0].weight)
    m.close()


def _budget_router_on_a_simulated_clock():
    """A budget-mode TileRouter with hysteresis over 4x4 tiles of 8x8 whose heavy path costs 12 ms for all
    16 tiles on a simulated clock, and its controller (10 ms budget, max_step 0.25)."""
    from qwplugin.routing.budget import BudgetController
    from qwplugin.routing.router import RoutingSettings, TileRouter

    ctl = BudgetController(10.0, (1.0, 10.0), initial_heavy_ms=10.0, max_step=0.25)
    now = [0.0]

    def heavy(patches):
        now[0] += 12.0 * patches.shape[0] / 16 * 1e-3
        return patches

    router = TileRouter(heavy, RoutingSettings(tile=8, halo=0, mode="budget", hysteresis=True, refine=False), ctl,
                        clock=lambda: now[0])
    return router, ctl


def test_budget_mode_never_routes_more_than_commanded_and_skips_reset_frames():
    router, ctl = _budget_router_on_a_simulated_clock()
    rng = np.random.default_rng(0)
    x = torch.zeros(1, 3, 32, 32)
    for t in range(40):
        # hysteresis would keep yesterday's heavy tiles: strongly anticorrelated probabilities each frame
        p = torch.from_numpy(rng.uniform(0, 1, (1, 4, 4))).float()
        p = p if t % 2 else 1.0 - p
        probs = torch.cat([1.0 - p[:, None], p[:, None]], dim=1)
        previous = ctl.report().heavy_fraction
        _, info = router(x, probs, torch.ones(1, 3, 32, 32), reset=t in (0, 20), extra_ms=2.0)
        assert info.heavy_tiles <= int(ctl.last_commanded * 16 + 1e-9)
        if previous:
            assert ctl.last_commanded <= previous[-1] + 0.25 + 1e-12
    report = ctl.report()
    assert len(report.ms) == 38  # the two reset frames are not measured
    assert max(report.ms[10:]) <= 10.0 and report.mean_heavy_fraction > 0.2, report


def test_budget_mode_with_hysteresis_does_not_stall_where_probabilities_bunch_within_the_dead_band():
    """Tile probabilities all within 0.5 +- 0.01 (inside the Schmitt trigger's +-0.5 logit band): a threshold
    with a dead band turns no light tile heavy, the controller measures fraction 0 every frame and the budget
    is never used. With the count set by the budget and the hysteresis choosing which tiles, the loop uses
    the budget: at 2 + 12 f ms per frame and a 10 ms budget the optimum is f = 2/3."""
    router, ctl = _budget_router_on_a_simulated_clock()
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(1, 3, 32, 32)
    for t in range(60):
        p = 0.5 + 0.01 * (2 * torch.rand(1, 4, 4, generator=g) - 1)
        probs = torch.cat([1.0 - p[:, None], p[:, None]], dim=1)
        _, info = router(x, probs, torch.ones(1, 3, 32, 32), reset=t == 0, extra_ms=2.0)
        assert info.heavy_tiles == int(ctl.last_commanded * 16 + 1e-9)  # exactly the commanded count
    report = ctl.report()
    settled = np.array(report.heavy_fraction[20:])
    assert max(report.ms[20:]) <= 10.0 + 1e-9
    assert settled.mean() >= 0.5, report.heavy_fraction  # 8 / 16 tiles or more of the 10.7 that fit


def test_hysteresis_select_gives_the_count_and_keeps_heavy_tiles_inside_the_dead_band():
    from qwplugin.routing.hysteresis import DecisionHysteresis

    h = DecisionHysteresis(smoothing=0.0, margin=0.5)
    first = h.select(torch.tensor([[[0.9, 0.8, 0.2, 0.1]]]), 2)
    assert first.tolist() == [[[True, True, False, False]]]  # first frame: the highest probabilities
    # tile 2 now beats tile 1 by 0.4 logits (< 2 margin): tiles 0 and 1 stay heavy
    p = torch.tensor([[[0.9, 0.5, float(torch.sigmoid(torch.tensor(0.4))), 0.1]]])
    assert h.select(p, 2).tolist() == [[[True, True, False, False]]]
    # by 1.2 logits (> 2 margin): tile 2 takes tile 1's place; the count stays exact at 3 and 0
    p = torch.tensor([[[0.9, 0.5, float(torch.sigmoid(torch.tensor(1.2))), 0.1]]])
    assert h.select(p, 2).tolist() == [[[True, False, True, False]]]
    assert int(h.select(p, 3).sum()) == 3 and int(h.select(p, 0).sum()) == 0
    with pytest.raises(InvalidArgument):
        h.select(p, 5)
