"""The dispatch-level MAC counter sees the assembled convolutions and agrees with the analytical count."""

import pytest
import torch
from torch import nn

from qwplugin.sr.asconvsr import AsConvSR, AsConvSRConfig
from qwplugin.sr.macs import DispatchMacCounter, asconvsr_macs, by_category, count_macs


@pytest.mark.parametrize("cfg,batch,h,w", [(AsConvSRConfig(), 1, 16, 24), (AsConvSRConfig(), 2, 13, 9),
                                            (AsConvSRConfig(scale=3, channels=12, bases=4), 1, 10, 14)])
@pytest.mark.parametrize("grad", [False, True])
def test_counter_equals_the_analytical_count(cfg, batch, h, w, grad):
    net = AsConvSR(cfg)
    x = torch.rand(batch, 3, h, w)
    with torch.set_grad_enabled(grad):
        _, counter = count_macs(net, x)
    rows = asconvsr_macs(cfg, h, w, batch)
    assert dict(counter.by_category) == by_category(rows)
    assert counter.total == sum(r.macs for r in rows)


def test_hooks_miss_exactly_the_assembled_convolutions_and_the_counter_does_not():
    cfg = AsConvSRConfig()
    net = AsConvSR(cfg)
    hooked = []

    def hook(module, inputs, output):  # what a ptflops-style module-hook counter adds per nn.Conv2d
        hooked.append(output.numel() * module.in_channels // module.groups * module.kernel_size[0] ** 2)

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    _, counter = count_macs(net, torch.rand(1, 3, 32, 32))
    rows = asconvsr_macs(cfg, 32, 32)
    assembled = sum(r.macs for r in rows if r.layer.endswith(".conv"))
    assert assembled == 3 * 16 * 16 * 9 * 32 * 32  # three 32->32 3x3 convs on the 16x16 unshuffled grid
    assert counter.by_category["convolution"] - sum(hooked) == assembled


def test_grouped_and_plain_convolutions_count_per_sample():
    x = torch.rand(2, 4, 5, 5)
    with DispatchMacCounter() as c:
        torch.nn.functional.conv2d(x.reshape(1, 8, 5, 5), torch.rand(6, 4, 3, 3), groups=2)  # 2 samples x 3 out ch
        torch.mm(torch.rand(3, 4), torch.rand(4, 5))
    assert c.by_category["convolution"] == 2 * 3 * 3 * 3 * 4 * 9  # N * Cout * Ho * Wo * Cin * k^2
    assert c.by_category["matmul"] == 60


def test_one_4k_x2_frame_matches_the_seeds_arithmetic():
    # seeds.md: conv1 + conv2 = 8.958 GMAC, the three assembled convs 14.33 GMAC on a 960x540 grid
    rows = asconvsr_macs(AsConvSRConfig(), 1080, 1920)
    plain = sum(r.macs for r in rows if r.layer in ("conv1", "conv2"))
    assembled = sum(r.macs for r in rows if r.layer.endswith(".conv"))
    assert round(plain / 1e9, 3) == 8.958 and round(assembled / 1e9, 2) == 14.33
