"""Upscaling modes (qwplugin.upscale) and the FSR 2 jitter-length rule (qwplugin.ops.halton)."""

import math

import numpy as np
import pytest

from qwplugin.errors import InvalidArgument
from qwplugin.ops.halton import default_phase_count, jitter_phase_count
from qwplugin.upscale import MODES, render_size_for, scale_factor, scale_of


def test_named_modes_and_ratios():
    assert MODES == {"native": 1.0, "quality": 1.5, "balanced": 1.7, "performance": 2.0, "ultra_performance": 3.0}
    assert [scale_factor(m) for m in ("quality", "Balanced", "ultra-performance", "2x", "1.25", 2.5)] == \
        [1.5, 1.7, 3.0, 2.0, 1.25, 2.5]


@pytest.mark.parametrize("bad", ["fast", 0.99, 3.01, float("nan"), True, None, "4x", -2])
def test_bad_modes_are_refused_naming_the_field(bad):
    with pytest.raises(InvalidArgument) as info:
        render_size_for((1920, 1080), bad)
    assert info.value.field == "mode"


def test_render_size_floors_like_fsr2():
    # FSR 2's ffxFsr2GetRenderResolutionFromQualityMode: (uint32_t)(display / ratio).
    assert render_size_for((1920, 1080), "quality") == (1280, 720)
    assert render_size_for((1920, 1080), "balanced") == (1129, 635)  # 1129.41, 635.29
    assert render_size_for((1920, 1080), "performance") == (960, 540)
    assert render_size_for((1920, 1080), "ultra_performance") == (640, 360)
    assert render_size_for((3840, 2160), "balanced") == (2258, 1270)
    # Floor, not round: 1000 / 1.5 = 666.67 -> 666 (round would give 667); 1001 / 2 = 500.5 -> 500.
    assert render_size_for((1000, 1001), 1.5) == (666, 667)
    assert render_size_for((1001, 7), 2.0) == (500, 3)
    assert render_size_for((2, 2), 3.0) == (1, 1)  # at least one pixel
    assert render_size_for((17, 9), "native") == (17, 9)
    rng = np.random.default_rng(0)
    for _ in range(200):
        d = (int(rng.integers(1, 8000)), int(rng.integers(1, 8000)))
        s = float(rng.uniform(1.0, 3.0))
        assert render_size_for(d, s) == (max(1, math.floor(d[0] / s)), max(1, math.floor(d[1] / s)))


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (1.5, 10), "1920x1080", (10,), None, (True, 4)])
def test_bad_display_sizes_are_refused_naming_the_field(size):
    with pytest.raises(InvalidArgument) as info:
        render_size_for(size, "quality")
    assert info.value.field == "display_size"


def test_scale_of_checks_the_range():
    assert scale_of((960, 540), (1920, 1080)) == (2.0, 2.0)
    assert scale_of((1129, 635), (1920, 1080)) == (1920 / 1129, 1080 / 635)
    for render, display in (((100, 100), (99, 100)), ((100, 100), (301, 200)), ((100, 100), (200, 301))):
        with pytest.raises(InvalidArgument) as info:
            scale_of(render, display)
        assert info.value.field == "display_size"
    with pytest.raises(InvalidArgument) as info:
        scale_of((0, 1), (1, 1))
    assert info.value.field == "render_size"


def test_jitter_phase_count_follows_the_fsr2_rule():
    # DLSS / FSR 2 table: 8 at 1x, 18 at 1.5x, 32 at 2x, 72 at 3x; FSR 2 truncates 8 * 2.89 to 23 at 1.7x.
    assert [jitter_phase_count(r, 1920) for r in (1920, 1280, 1129, 960, 640)] == [8, 18, 23, 32, 72]
    assert jitter_phase_count(540, 1080) == 32 and jitter_phase_count(720, 1080) == 18
    for render in range(200, 601, 7):
        assert jitter_phase_count(render, 600) == int(8 * (600 / render) ** 2)
    with pytest.raises(ValueError):
        jitter_phase_count(600, 599)
    # The engine default never drops below the 16 phases native rendering has always used.
    assert default_phase_count(256, 256) == 16 and default_phase_count(640, 1920) == 72
    assert default_phase_count(1280, 1920) == 18 and default_phase_count(1500, 1920) == 16
