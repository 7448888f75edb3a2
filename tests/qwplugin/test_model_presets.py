"""The ``fast`` preset: QW-Net's structure at ~5k MAC/px (product networks: Arm NSS ~2.8k, FSR 4 ~6.7k)."""

import pytest
import torch

from qwplugin.analysis import mac_report
from qwplugin.analysis.__main__ import main
from qwplugin.model import ModelConfig, QWNet, build_model
from qwplugin.model.config import PRESETS
from qwplugin.quant import set_quantized


def test_fast_is_in_the_product_range_and_keeps_the_qwnet_structure():
    cfg = ModelConfig.preset("fast")
    assert cfg.levels == 4 and cfg.encoder_channels == (8, 16, 32, 48)
    report = mac_report(cfg, 1080, 1920)
    # Hand count per pixel of the 4 levels (pixel fractions 1, 1/4, 1/16, 1/64):
    convs = (9 * 6 * 8 + (8 + 16) * 8 + 9 * 8 * 8            # level 0: enc0_0, dec0_proj, dec0_0
             + (9 * 8 * 16 + (16 + 32) * 16 + 9 * 16 * 16) / 4  # level 1
             + (9 * 16 * 32 + 9 * 32 * 32 + (32 + 48) * 32 + 9 * 32 * 32) / 16
             + (9 * 32 * 48 + 9 * 48 * 48) / 64)
    filt = 8 * (18 + 10) + 16 * (9 + 10) / 4 + 32 * (9 + 10) / 16 + 48 * 9 / 64
    kernels = 3 * (18 + 10 + (9 + 10) / 4 + (9 + 10) / 16 + 9 / 64)
    floats = 12 + 12 * (1 / 4 + 1 / 16 + 1 / 64) + 12 * (1 + 1 / 4 + 1 / 16)  # warp, avg pools, bilinears
    assert report.per_padded_pixel == pytest.approx(convs + filt + kernels + floats)
    assert 2_800 < report.per_padded_pixel < 6_700 and round(report.per_padded_pixel) == 4_875
    paper = mac_report(ModelConfig.preset("paper"), 1080, 1920)
    assert paper.per_padded_pixel / report.per_padded_pixel > 15
    assert report.four_bit_share > 0.8  # the 8-bit first conv and filter convs weigh more in a small net

    model = build_model(cfg)
    assert isinstance(model, QWNet)
    assert sorted(model.filter.down) == ["down0", "down1", "down2", "down3"]
    assert sorted(model.filter.up) == ["up0", "up1", "up2"]
    assert model.filter.down["down0"].out_channels == 18 and model.filter.up["up0"].out_channels == 10
    bits = {n: c.weight_bits for n, c in model.features.convs.items()}
    assert bits.pop("enc0_0") == 8 and set(bits.values()) == {4}


def test_fast_forward_backward_quantized_and_cli(capsys):
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("fast"))
    set_quantized(model, True)
    color, history = torch.rand(2, 3, 20, 24), torch.rand(2, 3, 20, 24)
    out = model(color, history)
    assert out.shape == (2, 3, 20, 24) and 0 <= float(out.detach().min()) and float(out.detach().max()) < 1
    out.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert main(["--config", "fast", "--size", "1920x1080", "--summary"]) == 0
    text = capsys.readouterr().out
    assert "4,875 MAC per padded pixel" in text and "config fast" in text
    assert main(["--config", "fast", "--kind", "unet", "--summary"]) == 0
    assert "unet (released)" in capsys.readouterr().out
    assert set(PRESETS) == {"paper", "fast", "tiny"}
