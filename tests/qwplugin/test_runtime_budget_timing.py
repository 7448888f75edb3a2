"""Timing statistics and the per-frame budget (warn and TAA fallback policies)."""

import statistics
import warnings

import numpy as np
import pytest
import torch

from qwplugin import BudgetWarning, Context, ContextDesc
from qwplugin.runtime.budget import BudgetMonitor
from qwplugin.runtime.timing import STAGES, TimingStats
from qwplugin.taa import TAAConfig, taa_resolve
from runtime_frames import SIZE, pan_frame


def test_timing_medians_over_the_window():
    rng = np.random.default_rng(0)
    samples = rng.uniform(0.0, 10.0, size=(9, len(STAGES)))
    stats = TimingStats(window=4)
    for row in samples:
        stats.add_frame(dict(zip(STAGES, row)))
    for j, stage in enumerate(STAGES):
        assert stats.median(stage) == statistics.median(samples[-4:, j].tolist())
    assert stats.last() == dict(zip(STAGES, samples[-1].tolist())) and stats.frames == 9
    stats.clear()
    assert stats.medians() == {} and stats.median("total") is None


def test_fallback_decisions_exact_sequence():
    b = BudgetMonitor(10.0, "fallback", decision_window=3, probe_interval=4)
    decisions = []
    qwnet_ms = [5.0, 30.0, 30.0, 30.0, 30.0]  # QW-Net slows down after frame 0
    for i in range(12):
        fallback = b.use_fallback()
        decisions.append(fallback)
        b.observe(i, 2.0 if fallback else qwnet_ms.pop(0) if qwnet_ms else 4.0, fallback=fallback)
    # QW-Net medians: [5] ok; [5, 30] = 17.5 > 10 -> TAA from frame 2; every 4th fallback frame (5, 9) probes
    # QW-Net again, which is still slow (30 ms) -> back to TAA. Over budget: the QW-Net frames 1, 5, 9.
    assert decisions == [False, False, True, True, True, False, True, True, True, False, True, True]
    assert b.fallback_frames == 8 and b.over_budget_frames == 3


def test_fallback_recovers_when_qwnet_gets_fast():
    b = BudgetMonitor(10.0, "fallback", decision_window=1, probe_interval=2)
    b.observe(0, 50.0, fallback=False)
    assert b.use_fallback()
    b.observe(1, 1.0, fallback=True)
    assert not b.use_fallback()  # probe frame
    b.observe(2, 3.0, fallback=False)  # QW-Net is now within budget
    assert not b.use_fallback()


def test_warn_policy_warns_rate_limited():
    b = BudgetMonitor(1.0, "warn", warn_every=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        overs = [b.observe(i, 2.0, fallback=False) for i in range(7)]
    assert all(overs) and b.over_budget_frames == 7 and [i for i, _ in b.recent_over] == list(range(7))
    assert [str(w.message).split(" took")[0] for w in caught] == ["frame 0", "frame 5"]
    assert all(w.category is BudgetWarning for w in caught)
    assert not b.use_fallback()  # "warn" never falls back
    assert not BudgetMonitor(None).observe(0, 1e9, fallback=False)


def test_context_warn_policy_counts_over_budget_frames():
    ctx = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu", budget_ms=1e-6))
    with pytest.warns(BudgetWarning, match="over the 1e-06 ms budget"):
        for t in range(3):
            ctx.dispatch(pan_frame(t))
    stats = ctx.stats
    assert stats.over_budget_frames == 3 and stats.fallback_frames == 0
    assert [i for i, _ in stats.recent_over_budget] == [0, 1, 2]


def test_context_fallback_runs_taa_on_the_shared_history():
    # Any real frame is over a 1e-6 ms budget, so after the first QW-Net frame the context falls back to TAA,
    # which continues from QW-Net's output (one history) - checked against taa_resolve called directly.
    ctx = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu", budget_ms=1e-6,
                              budget_policy="fallback"))
    frames = [pan_frame(t) for t in range(3)]
    history = torch.from_numpy(ctx.dispatch(frames[0])).permute(2, 0, 1)[None]
    for f in frames[1:]:
        got = ctx.dispatch(f)
        c = torch.from_numpy(f.color).permute(2, 0, 1)[None].contiguous()
        m = torch.from_numpy(f.motion_px).permute(2, 0, 1)[None].contiguous()
        history = taa_resolve(c, m, history, TAAConfig().without_depth(), f.jitter_px)
        assert np.array_equal(got, history[0].permute(1, 2, 0).numpy())
    assert ctx.stats.fallback_frames == 2 and ctx.stats.over_budget_frames == 3


def test_bench_cli_prints_one_row_per_configuration(capsys):
    from qwplugin.runtime.bench import main

    main(["--size", "16x12", "--models", "qwnet-tiny", "--frames", "1", "--warmup", "0", "--backend", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [line for line in lines if line.startswith("| qwnet-tiny |")]
    assert len(rows) == 3 and "| fp32 |" in rows[0] and "fake-quant" in rows[1]
    assert all(len(r.split("|")) == 10 for r in rows)  # model, precision, 6 stages
