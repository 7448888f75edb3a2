"""The upscaling cost table (``python -m qwplugin.analysis --upscaling``): per scale, the network at the render
size (the MAC report's count) plus the spatial upscaler as the GL pass runs it, per frame and per display pixel."""

import pytest

import qwplugin
from qwplugin.analysis import mac_report, upscaling_costs
from qwplugin.analysis.__main__ import main
from qwplugin.model.config import ModelConfig


def test_costs_per_scale_at_1080p():
    config = ModelConfig.preset("paper")
    costs = upscaling_costs(config, (1920, 1080), "lanczos")
    assert [c.scale for c in costs] == list(qwplugin.UPSCALING_MODES)
    for c in costs:
        render = qwplugin.render_size_for((1920, 1080), c.scale)
        assert c.render_size == render and c.display_size == (1920, 1080)
        assert c.network_macs == mac_report(config, render[1], render[0]).total
        assert c.spatial_macs == (0 if c.scale == "native" else 6 * 6 * 3 * 1920 * 1080)
        assert c.per_display_pixel == pytest.approx(c.total / (1920 * 1080), rel=1e-12)
    totals = [c.total for c in costs]
    assert totals == sorted(totals, reverse=True)  # fewer render pixels, less work
    # 2x per axis renders a quarter of the pixels: the network part is about a quarter (padding aside)
    perf = next(c for c in costs if c.scale == "performance")
    assert perf.network_macs / costs[0].network_macs == pytest.approx(0.25, rel=0.02)
    bilinear = upscaling_costs(config, (1920, 1080), "bilinear", scales=["performance"])[0]
    assert bilinear.spatial_macs == 2 * 2 * 3 * 1920 * 1080


def test_cli_prints_the_table_with_anchors_and_the_taau_note(capsys):
    assert main(["--upscaling", "--config", "fast", "--size", "1920x1080"]) == 0
    text = capsys.readouterr().out
    for mode in qwplugin.UPSCALING_MODES:
        assert f"| {mode} (" in text
    assert "| performance (2x) | 960x540 |" in text
    assert "FSR 4 13.8 GMAC" in text and "Arm NSS 5.9 GMAC" in text
    assert "TAAU: not counted in MACs" in text
