"""The released black-box U-Net (raw-input skip into an FP32 1x1 conv, average pooling, bilinear upsampling)
and the v1 baseline that the shipped unet weights hold."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.analysis import mac_report
from qwplugin.model import BlackBoxUNet, BlackBoxUNetV1, ModelConfig, build_model
from qwplugin.quant import QuantConv2d, set_quantized


def _inputs(h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g) * 0.9, torch.rand(1, 3, h, w, generator=g) * 0.9


def test_presets_build_the_released_structure_and_v1_stays_loadable_by_config():
    model = build_model(ModelConfig.preset("tiny", kind="unet"))
    assert type(model) is BlackBoxUNet and model.config.unet_structure == "released"
    # A unet config dict without the key (every file written before it existed) reads as v1.
    old = {k: v for k, v in model.config.to_dict().items() if k != "unet_structure"}
    assert ModelConfig.from_dict(old).unet_structure == "v1"
    assert type(build_model(ModelConfig.from_dict(old))) is BlackBoxUNetV1
    # Round trips keep the structure; QW-Net configs do not carry the key at all.
    assert ModelConfig.from_dict(model.config.to_dict()) == model.config
    assert "unet_structure" not in ModelConfig.preset("tiny").to_dict()
    with pytest.raises(Exception, match="U-Net structure"):
        ModelConfig.preset("tiny", kind="unet", unet_structure="resnet")


def test_output_head_is_an_fp32_1x1_conv_over_raw_input_and_features():
    model = build_model(ModelConfig.preset("tiny", kind="unet"))
    assert type(model.out) is nn.Conv2d and not isinstance(model.out, QuantConv2d)
    assert model.out.kernel_size == (1, 1) and model.out.in_channels == 8 + 6 and model.out.out_channels == 3
    assert torch.equal(model.out.bias, torch.zeros(3))  # zero-initialised, as released
    assert (model.features.pool, model.features.upsample) == ("avg", "bilinear")

    # Silence the features (last decoder conv zero, so its ReLU output is 0) and let the head read the
    # aliased colour with an off-grid weight. If the raw input reached the head through the 8-bit input
    # quantizer, or the head's weights were fake-quantized, the quantized output would differ.
    with torch.no_grad():
        last = model.features.convs["dec0_1"]
        last.weight.zero_()
        last.bias.zero_()
        model.out.weight.zero_()
        for c in range(3):
            model.out.weight[c, c] = 0.123457  # colour channel c -> output channel c
    color, history = _inputs()
    for quantized in (False, True):
        set_quantized(model, quantized)
        with torch.no_grad():
            out = model(color, history)
        expected = F.relu(F.conv2d(color, model.out.weight[:, :3], model.out.bias))
        assert torch.equal(out, expected), quantized
    # The same input through a conv that does see the features changes the output (the skip is additive).
    set_quantized(model, False)  # (quantized, a zero-weight conv's bias rounds to ~0 on its accumulator grid)
    with torch.no_grad():
        model.out.weight[:, 6:] = 0.5
        last.bias.fill_(1.0)
        assert not torch.equal(model(color, history), expected)


def _record(model):
    """Inputs of every conv and outputs of every activation quantizer, in call order."""
    conv_in, quant_out = {}, []
    def pre(name):
        def hook(module, args):  # returns None: the conv's arguments stay as they are
            conv_in.setdefault(name, args[0].detach())
        return hook

    def post(name):
        def hook(module, args, out):
            quant_out.append((name, out.detach()))
        return hook

    for name, conv in model.features.convs.items():
        conv.register_forward_pre_hook(pre(name))
    for name, q in model.features.act_quants.items():
        q.register_forward_hook(post(name))
    return conv_in, quant_out


@pytest.mark.parametrize("quantized", [False, True])
def test_average_pooling_and_bilinear_upsampling(quantized):
    torch.manual_seed(3)
    model = build_model(ModelConfig.preset("tiny", kind="unet"))
    set_quantized(model, quantized)
    conv_in, quant_out = _record(model)
    color, history = _inputs(16, 16, seed=4)
    with torch.no_grad():
        model(color, history)
    fx = model.features
    # Calls of the shared quantizers, in order (pooling and upsampling requantize with their input's one):
    # cat0: enc0_1 output, its 2x2 pool, dec1_0 output, its bilinear x2; cat1: enc1_1 output, its pool,
    # enc2_1 output (the bottleneck), its bilinear x2.
    cat0 = [out for name, out in quant_out if name == "cat0"]
    cat1 = [out for name, out in quant_out if name == "cat1"]
    assert len(cat0) == len(cat1) == 4
    x0, bottleneck, dec_out = cat0[0], cat1[2], cat0[2]
    assert bottleneck.shape == (1, 16, 4, 4) and dec_out.shape == (1, 12, 8, 8)
    pooled = F.avg_pool2d(x0, 2)
    up1 = F.interpolate(bottleneck, scale_factor=2, mode="bilinear", align_corners=False)
    up0 = F.interpolate(dec_out, scale_factor=2, mode="bilinear", align_corners=False)
    if quantized:  # requantized on the concatenation's grid, so every conv input stays 4-bit
        s0, s1 = fx.act_quants["cat0"].scale(), fx.act_quants["cat1"].scale()
        pooled = torch.clamp(torch.round(pooled / s0), 0, 15) * s0
        up1 = torch.clamp(torch.round(up1 / s1), 0, 15) * s1
        up0 = torch.clamp(torch.round(up0 / s0), 0, 15) * s0
        codes = conv_in["enc1_0"] / s0
        assert torch.allclose(codes, torch.round(codes), atol=1e-4)
    assert torch.allclose(conv_in["enc1_0"], pooled, atol=1e-6)
    assert not torch.allclose(conv_in["enc1_0"], F.max_pool2d(x0, 2), atol=1e-3)
    # Decoder inputs: cat([skip, bilinear x2 of the coarser output]).
    assert torch.allclose(conv_in["dec1_proj"][:, 12:], up1, atol=1e-6)
    assert torch.allclose(conv_in["dec0_proj"][:, 8:], up0, atol=1e-6)
    nearest = F.interpolate(bottleneck, scale_factor=2, mode="nearest")
    assert not torch.allclose(conv_in["dec1_proj"][:, 12:], nearest, atol=1e-3)


def test_released_unet_trains_quantized_and_has_no_integer_program():
    from qwplugin.errors import InvalidArgument
    from qwplugin.intexec.export import export_extractor

    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", kind="unet"))
    set_quantized(model, True)
    color, history = _inputs(12, 10)
    model(color, history).mean().backward()
    assert model.out.weight.grad is not None and float(model.out.weight.grad.abs().sum()) > 0
    assert float(model.features.convs["enc0_0"].weight.grad.abs().sum()) > 0
    # Average pooling / bilinear are not integer-program ops: the exporter refuses instead of exporting
    # max-pool / nearest silently (the runtime then runs fake-quant and says so).
    with pytest.raises(InvalidArgument, match="max-pool"):
        export_extractor(model)


def test_shipped_unet_weights_load_as_v1():
    from qwplugin.runtime.weights import SHIPPED_DIR, load_model

    if not (SHIPPED_DIR / "unet-fp32.safetensors").exists():
        pytest.skip("no shipped unet weights")
    loaded = load_model("unet", "fp32")
    assert loaded.trained and type(loaded.model) is BlackBoxUNetV1 and loaded.config.unet_structure == "v1"
    ramp = torch.linspace(0.2, 0.6, 32)
    color = torch.stack([ramp[None, :].expand(32, 32), ramp[:, None].expand(32, 32), 0.3 * torch.ones(32, 32)])[None]
    with torch.no_grad():
        out = loaded.model(color, color)
    assert out.shape == (1, 3, 32, 32) and float(out.min()) > 0 and float(out.max()) < 1  # sigmoid head
    # Trained: a smooth ramp with an identical history comes back nearly unchanged (a random v1 head
    # gives about sigmoid(noise) ~ 0.5 everywhere, far from it).
    assert float(torch.mean(torch.abs(out - color))) < 0.03


def test_mac_report_of_the_released_unet():
    cfg = ModelConfig.preset("tiny", kind="unet")
    rows = {r.layer: r for r in mac_report(cfg, 16, 16).rows}
    assert rows["out"].cin == 8 + 6 and rows["out"].precision == "fp32" and rows["out"].macs == 14 * 3 * 256
    assert rows["pool1"].op == "avgpool2x2" and rows["pool1"].macs == 4 * 8 * 64
    assert rows["up2to1"].op == "bilinear x2" and rows["up2to1"].macs == 4 * 16 * 64
    v1 = {r.layer: r for r in mac_report(ModelConfig.from_dict({**cfg.to_dict(), "unet_structure": "v1"}),
                                         16, 16).rows}
    assert v1["out"].cin == 8 and v1["out"].precision == "w8a4" and v1["pool1"].macs == 0
    assert np.isclose(sum(r.macs for r in rows.values()) - sum(r.macs for r in v1.values()),
                      (14 - 8) * 3 * 256 + 4 * 8 * 64 + 4 * 12 * 16 + 4 * 16 * 64 + 4 * 12 * 256)
