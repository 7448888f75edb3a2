"""Intervals over correlated frames and the win / tie / loss rule (qwplugin.eval.stats), on synthetic series
whose true mean is known."""

import math

import numpy as np
import pytest

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.eval import metrics as M
from qwplugin.eval import stats as S
from qwplugin.eval.run import EvalResult, RunResult, SceneResult


def ar1(n, mu, phi, rng, sigma=1.0):
    """AR(1) series with mean ``mu``: x_t - mu = phi (x_{t-1} - mu) + e_t, started in its stationary law."""
    e = rng.normal(0.0, sigma, n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sigma / math.sqrt(1 - phi * phi))
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return mu + x


def test_interval_contains_the_true_mean_and_shrinks_with_more_frames():
    rng = np.random.default_rng(11)
    mu = 2.5
    short, _ = S.mean_interval([ar1(100, mu, 0.6, rng)], S.scene_rng("a"))
    long, _ = S.mean_interval([ar1(1600, mu, 0.6, rng)], S.scene_rng("a"))
    assert short.lo < mu < short.hi and long.lo < mu < long.hi
    assert short.n == 100 and long.n == 1600
    # The width goes like 1 / sqrt(n): 16x the frames -> 1/4 the width; 0.4 leaves room for sampling noise.
    assert (long.hi - long.lo) < 0.4 * (short.hi - short.lo)


def test_block_bootstrap_covers_correlated_frames_where_a_frame_bootstrap_does_not():
    """Over 200 AR(1) series (phi 0.6: neighbouring frames correlate like a TAA history's), the 95% block
    interval holds the true mean about 90-95% of the time (>= 85% asserted: blocks of 8 capture most of the
    correlation); resampling single frames (block 1) gives intervals about half as wide, covering ~67%
    (asserted <= 80%). 500 resamples per interval keep the test fast."""
    rng = np.random.default_rng(5)
    mu, hits_block, hits_iid = -1.0, 0, 0
    for k in range(200):
        x = [ar1(240, mu, 0.6, rng)]
        b, _ = S.mean_interval(x, np.random.default_rng(k), block=8, resamples=500)
        i, _ = S.mean_interval(x, np.random.default_rng(k), block=1, resamples=500)
        hits_block += b.lo < mu < b.hi
        hits_iid += i.lo < mu < i.hi
    assert hits_block / 200 >= 0.85
    assert hits_iid / 200 <= 0.80


def test_segments_split_at_unscored_frames_and_resampling_is_unbiased():
    series = [np.array([np.nan, 1.0, 2.0, 3.0, np.nan, np.nan, 10.0]), np.array([4.0, 5.0, np.nan])]
    segs = S.finite_segments(series)
    assert [s.tolist() for s in segs] == [[1.0, 2.0, 3.0], [10.0], [4.0, 5.0]]
    # Circular blocks inside each segment draw every frame equally often on average (even segments shorter
    # than a block), so the resampled means average to the sample mean: 25 / 6.
    reps = S.bootstrap_means(segs, np.random.default_rng(0), block=8, resamples=20000)
    x = np.concatenate(segs)
    assert reps.mean() == pytest.approx(x.mean(), abs=4 * reps.std() / math.sqrt(len(reps)))
    # Same generator state -> same resamples (the report's numbers are reproducible).
    again = S.bootstrap_means(segs, np.random.default_rng(0), block=8, resamples=20000)
    np.testing.assert_array_equal(reps, again)
    assert S.mean_interval([np.full(4, np.nan)], S.scene_rng("x"))[0].n == 0
    with pytest.raises(InvalidArgument, match="block"):
        S.bootstrap_means(segs, np.random.default_rng(0), block=0)


def _scene(name, series_by_method):
    """A SceneResult whose every metric has the given per-frame series (one run)."""
    t = len(next(iter(series_by_method.values())))
    run = RunResult("phase 0", t, np.eye(1, t, dtype=bool)[0], np.ones(t, bool))
    for m, values in series_by_method.items():
        run.per_frame[m] = {k: np.asarray(values, np.float64) for k in M.METRIC_NAMES}
        run.step_ms[m] = np.ones(t)
    img = np.zeros((2, 2, 3), np.float32)
    return SceneResult(name, "validation", "", (2, 2), [run], img, img)


def test_win_tie_loss_on_constructed_per_frame_scores():
    rng = np.random.default_rng(3)
    base = ar1(120, 0.5, 0.5, rng, sigma=0.05)
    zero_mean = rng.normal(0.0, 0.05, 120)
    zero_mean -= zero_mean.mean()  # the paired difference has mean exactly 0
    scene = _scene("constructed", {"taa": base, "up": base + 0.2 + rng.normal(0, 0.05, 120),
                                   "down": base - 0.2 + rng.normal(0, 0.05, 120), "same": base + zero_mean})
    up = scene.verdicts("up", "taa")
    assert up["psnr_db"][0] == "win" and up["ssim"][0] == "win"  # higher is better
    assert up["flip"][0] == "loss" and up["temporal"][0] == "loss"  # lower is better: a higher value loses
    d = up["psnr_db"][1]
    assert d.lo > 0 and d.mean == pytest.approx(0.2, abs=0.03)
    down = scene.verdicts("down", "taa")
    assert down["psnr_db"][0] == "loss" and down["flip"][0] == "win"
    same = scene.verdicts("same", "taa")
    assert all(v == "tie" for v, _ in same.values())
    assert same["psnr_db"][1].lo < 0 < same["psnr_db"][1].hi
    assert S.verdict(S.Interval(0.1, 0.0, 0.2, 10), True) == "tie"  # touching 0 is not a win
    assert S.verdict(S.EMPTY, True) == "n/a"  # a metric that was not computed


def test_counts_and_across_scenes_interval():
    rng = np.random.default_rng(8)
    scenes = []
    for k, offset in enumerate((0.3, 0.3, -0.001)):
        base = ar1(96, 1.0 + k, 0.5, rng, sigma=0.02)
        scenes.append(_scene(f"s{k}", {"taa": base, "m": base + offset + rng.normal(0, 0.02, 96)}))
    result = EvalResult(scenes, ["taa", "m"], {}, 0, 1.0, "taa")
    c = result.counts("m", "validation")["psnr_db"]
    assert c == {"win": 2, "tie": 1, "loss": 0}
    overall = result.overall("m", "validation")["psnr_db"]
    means = [s.summary("m")["psnr_db"].mean for s in scenes]
    assert overall.n == 3 and overall.mean == pytest.approx(np.mean(means))
    assert overall.lo < overall.mean < overall.hi
    # Averaging three scenes narrows the frame-resampling interval against a single scene's.
    single = scenes[0].summary("m")["psnr_db"]
    assert overall.hi - overall.lo < single.hi - single.lo
    with pytest.raises(InvalidOperation, match="baseline"):
        EvalResult(scenes, ["m"], {}, 0, 1.0, None).counts("m")


def test_costly_metrics_thinned_keep_their_computed_frames_consecutive():
    import numpy as np

    from qwplugin.eval.run import RunResult, costly_frames

    scored = np.array([False, False, True, True, True, True, True, False, True, True, True])
    costly = costly_frames(scored, 2)
    assert costly.tolist() == [False, False, True, False, True, False, True, False, False, True, False]
    values = np.where(costly, np.arange(11.0), np.nan)
    run = RunResult("r", 11, np.zeros(11, bool), scored, per_frame={"m": {"flip": values, "psnr_db": values}},
                    costly=costly)
    flip = run.series("m", "flip")
    # Skipped scored frames are dropped; unscored frames stay NaN and still split the segments.
    assert np.array_equal(flip, np.array([np.nan, np.nan, 2.0, 4.0, 6.0, np.nan, 9.0]), equal_nan=True)
    # Cheap metrics are returned as they are.
    assert run.series("m", "psnr_db") is values
