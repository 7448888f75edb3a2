"""``ContextDesc(budget_policy="route")``: the Context delegates to the routed QW-Net / TAA.

Reference computed another way: a :class:`~qwplugin.runtime.routed.RoutedQWNet` built directly with the
same settings. A budget far above any frame time keeps the budget controller's decisions deterministic
(it only raises the heavy fraction, by its fixed step), so the two must agree exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from qwplugin import Context, ContextDesc, Frame
from qwplugin.errors import InvalidArgument

W, H = 256, 128  # 4 x 2 tiles of 64 px: the controller's 1/8 steps route whole tiles heavy
HUGE_BUDGET_MS = 1e9


def _frames(n: int, seed: int = 0) -> list[Frame]:
    # one scene whose 8 tiles have very different amounts of detail (noise amplitude x4 per tile), plus a
    # little noise per frame: the decision threshold, placed between two tiles' probabilities, is then far
    # from both, so the temporal hysteresis's dead band lets the hardest tiles go heavy
    rng = np.random.default_rng(seed)
    amplitude = np.kron(4.0 ** np.arange(8, dtype=np.float32).reshape(2, 4) / 4.0 ** 7, np.ones((64, 64), np.float32))
    base = 0.5 + 2.0 * amplitude[..., None] * rng.uniform(-1, 1, (H, W, 3)).astype(np.float32)
    depth = np.full((H, W), 2.0, np.float32)
    return [Frame(color=np.clip(base + rng.uniform(0, 0.01, (H, W, 3)).astype(np.float32), 0, None),
                  motion_px=np.zeros((H, W, 2), np.float32), depth=depth,
                  jitter_px=(0.25 - 0.1 * i, -0.2 + 0.1 * i), reset=i == 0) for i in range(n)]


def _desc(**fields) -> ContextDesc:
    return ContextDesc(**{"render_size": (W, H), "model": "qwnet-tiny", "precision": "fp32", "backend": "cpu",
                          "budget_ms": HUGE_BUDGET_MS, "budget_policy": "route", **fields})


def test_route_needs_a_budget():
    with pytest.raises(InvalidArgument) as err:
        ContextDesc(render_size=(W, H), budget_policy="route")
    assert err.value.field == "budget_ms"


def test_routing_context_equals_the_routed_method_and_reports_the_heavy_fraction():
    from qwplugin.runtime.context_routing import build_routed

    ctx = Context(_desc())
    reference, _ = build_routed(_desc(), None, None)
    frames = _frames(6)
    for f in frames:
        np.testing.assert_array_equal(ctx.dispatch(f), reference.dispatch(f))
    stats = ctx.routing_stats
    assert stats.frames == 6 and stats.budget_ms == HUGE_BUDGET_MS
    assert [i.heavy_fraction for i in reference.frame_log] == [i.heavy_fraction for i in ctx._routed.frame_log]
    assert stats.heavy_fraction_worst == max(i.heavy_fraction for i in reference.frame_log) > 0  # QW-Net ran
    assert ctx.stats.frames == 6 and ctx.stats.over_budget_frames == 0 and ctx.has_history
    assert "routing" in ctx.backend_info.fallback and ctx.uses_depth
    out = np.empty((H, W, 3), np.float32)
    assert ctx.dispatch(frames[1], out=out) is out
    ctx.reset()
    assert not ctx.has_history and ctx.stats.resets == 1
    ctx.resize((32, 32))
    assert ctx.desc.render_size == (32, 32)
    ctx.close()
    reference.close()
    assert Context(ContextDesc(render_size=(W, H), model="qwnet-tiny", backend="cpu")).routing_stats is None


def test_a_refused_frame_is_counted_and_changes_nothing():
    ctx = Context(_desc())
    ctx.dispatch(_frames(1)[0])
    bad = Frame(color=np.zeros((H, W, 3), np.float32), motion_px=np.zeros((H, W, 2), np.float32),
                jitter_px=(0.0, 0.0))  # no depth: routing reads it
    with pytest.raises(InvalidArgument) as err:
        ctx.dispatch(bad)
    assert err.value.field == "depth" and ctx.stats.refused_frames == 1 and ctx.stats.frames == 1
    assert ctx.routing_stats.frames == 1
    ctx.close()


@pytest.mark.parametrize("fields, field", [
    ({"display_size": (2 * W, 2 * H)}, "display_size"),
    ({"depth_convention": "ndc", "camera_near": 0.1, "camera_far": 100.0}, "depth_convention"),
    ({"model": "qwnet-fast"}, "model"),  # a TAA-candidate model: its tiles would need the routed candidate
])
def test_what_routing_cannot_run_is_refused_naming_the_field(fields, field):
    with pytest.raises(InvalidArgument) as err:
        Context(_desc(**fields))
    assert err.value.field == field
