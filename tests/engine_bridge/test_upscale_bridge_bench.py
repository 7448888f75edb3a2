"""``python -m engine_bridge.bench_passes --upscaling``: one tiny display size, two scales, every upscaling pass
timed at the render size of its scale (a smoke run; the numbers on this machine are not the point)."""

import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.bench_passes import main

pytestmark = pytest.mark.gl


def test_upscaling_benchmark_table(tmp_path, capsys):
    out = tmp_path / "bench.md"
    args = ["--upscaling", "--sizes", "64x48", "--scales", "quality,performance", "--frames", "1",
            "--gl-frames", "2", "--model", "qwnet-tiny", "--backend", "cpu", "--out", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert "| display | scale | render | G-buffer render | taau | noaa+bilinear | taa+lanczos | qwnet-int4+lanczos |" \
        in text
    rows = [line for line in text.splitlines() if line.startswith("| 64x48 |")]
    assert [r.split(" | ")[1:3] for r in rows] == [["quality", "42x32"], ["performance", "32x24"]]
    for row in rows:  # every pass: "ms (ns per display pixel)"
        cells = row.strip("| ").split(" | ")[4:]
        assert len(cells) == 4
        for cell in cells:
            ms, ns = cell.split(" (")
            # ms is printed to 0.1 (half a unit: 0.05 ms = 16.3 ns per pixel here), ns to 0.1
            assert float(ms) > 0 and float(ns.rstrip(")")) == pytest.approx(float(ms) * 1e6 / (64 * 48), rel=0,
                                                                           abs=0.05e6 / (64 * 48) + 0.05)
    assert "Lanczos-3 GLSL upscale 32x24 -> 64x48" in text
