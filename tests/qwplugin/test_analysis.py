"""MAC report: a hand calculation for tiny, the paper's totals, and a dispatch-level cross-check."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from qwplugin.analysis import format_markdown, mac_report
from qwplugin.analysis.__main__ import main
from qwplugin.errors import InvalidArgument
from qwplugin.model import ModelConfig, build_model

# tiny at 16x16: levels 0/1/2 have 256/64/16 pixels; channels 8/12/16; 6 input channels.
TINY_16_HAND = {
    "enc0_0": 9 * 6 * 8 * 256, "enc0_1": 9 * 8 * 8 * 256,
    "enc1_0": 9 * 8 * 12 * 64, "enc1_1": 9 * 12 * 12 * 64,
    "enc2_0": 9 * 12 * 16 * 16, "enc2_1": 9 * 16 * 16 * 16,
    "dec1_proj": (12 + 16) * 12 * 64, "dec1_0": 9 * 12 * 12 * 64,
    "dec0_proj": (8 + 12) * 8 * 256, "dec0_0": 9 * 8 * 8 * 256, "dec0_1": 9 * 8 * 8 * 256,
    "down0": 8 * 18 * 256, "down1": 12 * 9 * 64, "down2": 16 * 9 * 16, "up1": 12 * 10 * 64, "up0": 8 * 10 * 256,
    "kernel_down0": 18 * 3 * 256, "kernel_down1": 9 * 3 * 64, "kernel_down2": 9 * 3 * 16,
    "kernel_up1": 10 * 3 * 64, "kernel_up0": 10 * 3 * 256,
    "avgpool1": 4 * 3 * 64, "avgpool2": 4 * 3 * 16, "bilinear1": 4 * 3 * 64, "bilinear0": 4 * 3 * 256,
    "warp": 4 * 3 * 256,
    "pool1": 0, "pool2": 0, "up2to1": 0, "up1to0": 0,
}


def test_tiny_matches_hand_calculation():
    report = mac_report(ModelConfig.preset("tiny"), 16, 16)
    got = {r.layer: r.macs for r in report.rows}
    assert got == TINY_16_HAND
    assert report.total == sum(TINY_16_HAND.values()) == 1_008_816  # 901,120 FE convs + 74,240 filter 1x1 + 25,584 kernels + 7,872 pool/upsample/warp
    four_bit = sum(v for k, v in TINY_16_HAND.items() if k.startswith(("enc", "dec")) and k != "enc0_0")
    assert report.by("precision")["w4a4"] == four_bit
    assert report.by("precision")["w8a8"] == TINY_16_HAND["enc0_0"]


@pytest.mark.parametrize("kind", ["qwnet", "unet"])
def test_conv_rows_match_dispatch_level_count(kind):
    """torch's FlopCounterMode counts every executed conv (2 FLOPs per MAC): an independent count."""
    cfg = ModelConfig.preset("tiny", kind=kind, input_processing=True)
    model = build_model(cfg)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.rand(1, 3, 13, 20), torch.rand(1, 3, 13, 20))
    conv_flops = counter.get_flop_counts()["Global"][torch.ops.aten.convolution]
    report = mac_report(cfg, 13, 20)
    network_convs = sum(r.macs for r in report.rows if r.op.startswith("conv"))
    sobel = 2 * 2 * 9 * report.padded_height * report.padded_width  # the input unit's Sobel runs as a conv
    assert conv_flops == 2 * (network_convs + sobel)


def test_paper_is_about_83k_per_pixel_and_mostly_four_bit():
    report = mac_report(ModelConfig.preset("paper"), 1080, 1920)
    assert (report.padded_height, report.padded_width) == (1088, 1920)
    # qwnet.md: ~83.2k MAC/px (convs + kernel application) + warp/pool/upsample float ops
    assert 83_000 < report.per_padded_pixel < 83_400
    assert report.four_bit_share >= 0.95
    stages = report.by("stage")
    assert stages["encoder 0"] == 10_944 * 1088 * 1920 and stages["decoder 0"] == 21_504 * 1088 * 1920
    unet = mac_report(ModelConfig.preset("paper", kind="unet"), 1080, 1920)
    assert unet.four_bit_share >= 0.95 and unet.total < report.total


def test_markdown_and_cli(capsys):
    text = format_markdown(mac_report(ModelConfig.preset("tiny"), 16, 16))
    assert "| enc0_0 | conv3x3 | 16x16 | 6 -> 8 |" in text and "4-bit (w4a4) share" in text
    assert main(["--config", "paper", "--size", "1920x1080", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "83,240 MAC per padded pixel" in out and "96.1%" in out
    assert main(["--config", "nope"]) == 2
    with pytest.raises(InvalidArgument):
        mac_report(ModelConfig.preset("tiny"), 0, 16)


def test_upscaling_report_has_the_upscaling_network_rows(capsys):
    from qwplugin.analysis.__main__ import main
    from qwplugin.analysis.upscaling import upscaling_network_costs
    from qwplugin.model import ModelConfig
    from qwplugin.model.upscale import upscale_mac_report

    rows = upscaling_network_costs((1920, 1080))
    by_extractor = {extractor: macs for _, extractor, _, macs in rows}
    want = upscale_mac_report(ModelConfig.preset("fast", upscale_factor=2.0, taa_candidate="tuned"), 1080, 1920)
    assert by_extractor["display"] == want.total
    # the render extractor runs the U-Net on 1/4 of the pixels: cheaper, but the filter stays at display size
    assert by_extractor["render"] < by_extractor["display"] < 4 * by_extractor["render"]
    assert all(render == (960, 540) for _, _, render, _ in rows)
    main(["--upscaling"])
    out = capsys.readouterr().out
    assert f"| qwnet-fast-up2 | display resolution | 960x540 | {want.total / 1e9:.2f} |" in out
