"""A short soak through every pass (resets and resizes in between): no failure, finite outputs, RSS bounded.

The long soak (thousands of frames) is ``python -m engine_bridge.bench_passes --soak 2000`` (docs/bridge-app.md).
"""

import pytest


@pytest.mark.gl
@pytest.mark.slow
def test_short_soak_with_resets_and_resizes():
    from engine_bridge.bench_passes import soak
    from engine_bridge.gl import create_context

    ctx = create_context()
    try:
        # 12 frames, resize every 4 (3 sizes), reset every 5; 30 MiB RSS growth allowed over the second half
        # (allocator noise; a per-frame leak of the readback buffers alone would be ~0.05 MiB x 4 passes/frame)
        r = soak(12, "qwnet-tiny", "cpu", reset_every=5, resize_every=4, rss_limit_mb=30.0, progress=False)
    finally:
        ctx.close()
    assert r["failures"] == []
    assert r["resizes"] == 2 and r["resets"] >= 3
    assert r["ok"]
