"""The AsConvSR trainer: degradation, a tiny-budget run, checkpoint + resume, export, validation, CLI."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from qwplugin.data.dataset import SequenceDataset
from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.sr.asconvsr import AsConvSR, AsConvSRConfig
from qwplugin.sr.train import SrTrainConfig, degrade, load_asconvsr, main, psnr, train_asconvsr, validate
from qwplugin.train.checkpoint import load_checkpoint
from qwplugin.train.csvlog import CsvLog


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr_data")
    write_synthetic_dataset(root, sequences=3, frames=3, width=32, height=24, spp=4, seed=5)
    return root


def _cfg(root, **kw):
    base = dict(data=str(root), steps=6, batch=2, crop=16, channels=8, bases=2, val_every=3, checkpoint_every=2,
                val_frames=2, lr=2e-3)
    base.update(kw)
    return SrTrainConfig(**base)


def test_degradation_is_area_downsampling_in_linear_then_the_tonemap():
    ref = torch.rand(1, 3, 4, 6) * 4
    lr_img, hr = degrade(ref, 2)
    manual = ref.view(1, 3, 2, 2, 3, 2).mean((3, 5))
    assert torch.allclose(lr_img, manual / (1 + manual), atol=1e-7)
    assert torch.allclose(hr, ref / (1 + ref), atol=1e-7)


def test_untrained_model_validates_as_nearest_upsampling(data_root):
    ds = SequenceDataset(data_root, "val")
    val = validate(AsConvSR(AsConvSRConfig(channels=8)), ds, 2, frames=2)
    assert val["frames"] == 2
    assert val["psnr"] == val["nearest_psnr"]  # zero-initialised body: exactly nearest
    assert val["bicubic_psnr"] > val["nearest_psnr"]  # and bicubic is the bar to beat
    assert psnr(torch.ones(3), torch.ones(3)) == float("inf")


def test_tiny_run_checkpoints_resumes_identically_and_exports(data_root, tmp_path):
    cfg = _cfg(data_root)
    full = train_asconvsr(cfg, tmp_path / "full", progress=False)
    assert full["step"] == 6 and full["val"]["step"] == 6
    part = train_asconvsr(cfg, tmp_path / "resumed", progress=False, stop_after=3)
    assert part["step"] == 3 and load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 3
    assert not (tmp_path / "resumed" / "asconvsr_x2.safetensors").exists()
    train_asconvsr(cfg, tmp_path / "resumed", progress=False)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["val_history"] == b["val_history"]
    rows = CsvLog(tmp_path / "resumed" / "train.csv", ["step"]).read()
    assert [int(r["step"]) for r in rows] == list(range(6))
    assert rows[2]["val_psnr"] and rows[5]["val_psnr"] and not rows[0]["val_psnr"]
    net = load_asconvsr(tmp_path / "full" / "asconvsr_x2.safetensors")
    trained = AsConvSR(cfg.model_config())
    trained.load_state_dict(a["model"])
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x), trained(x))
        assert not torch.equal(net(x), F.interpolate(x, scale_factor=2, mode="nearest"))  # it trained


def test_l1_and_adam_learn_more_than_nearest_on_smooth_images():
    # The synthetic dataset's hard-edged checkerboards are nearly L1-optimal for nearest upsampling (so
    # are many train_v2 crops: bicubic is only ~1% better in L1 there), so learning is shown on smooth
    # images, where interpolation beats nearest clearly: 60 steps take the L1 error well below nearest's.
    def smooth(n, g):
        return F.interpolate(torch.rand(n, 3, 5, 5, generator=g), size=(32, 32), mode="bicubic",
                             align_corners=True).clamp(0, 1)

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = AsConvSR(AsConvSRConfig(channels=8, bases=2))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    test = smooth(8, g)
    test_lr = F.avg_pool2d(test, 2)
    nearest_err = float((F.interpolate(test_lr, scale_factor=2, mode="nearest") - test).abs().mean())
    for _ in range(60):
        hr = smooth(4, g)
        loss = (net(F.avg_pool2d(hr, 2)) - hr).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = float((net(test_lr) - test).abs().mean())
    assert err < 0.9 * nearest_err  # measured ~0.78x after 60 steps


def test_other_arguments_refuse_to_resume_and_bad_configs_raise(data_root, tmp_path):
    train_asconvsr(_cfg(data_root, steps=2), tmp_path / "run", progress=False)
    with pytest.raises(InvalidArgument):
        train_asconvsr(_cfg(data_root, steps=4, channels=16), tmp_path / "run", progress=False)
    train_asconvsr(_cfg(data_root, steps=3), tmp_path / "run", progress=False)  # more steps: resumes
    with pytest.raises(InvalidArgument):
        _cfg(data_root, crop=18).validate()  # not a multiple of 2 * scale
    with pytest.raises(InvalidArgument):
        load_asconvsr(tmp_path / "missing.safetensors")


def test_cli_runs_a_tiny_budget(data_root, tmp_path, capsys):
    cfg = _cfg(data_root, steps=2)
    args = ["--out", str(tmp_path / "cli"), "--no-progress"]
    for f in dataclasses.fields(cfg):
        if getattr(cfg, f.name) is not None:
            args += ["--" + f.name.replace("_", "-"), str(getattr(cfg, f.name))]
    assert main(args) == 0
    assert '"step": 2' in capsys.readouterr().out
    assert (tmp_path / "cli" / "asconvsr_x2.safetensors").exists()


@pytest.fixture(scope="module")
def up_root(tmp_path_factory):
    from qwplugin.data.synthetic import write_synthetic_upscale_dataset

    root = tmp_path_factory.mktemp("sr_up_data")
    write_synthetic_upscale_dataset(root, sequences=3, frames=3, width=16, height=12, scale=2, spp=4)
    return root


def test_render_degradation_pairs_each_render_with_its_display_reference(up_root, tmp_path):
    # The batch is the dataset's own aligned (render crop, display crop) pair, in the network domain: checked
    # against a sample drawn with the same generator, and a run trains and validates on the renders.
    import numpy as np

    from qwplugin.ops.colour import to_network
    from qwplugin.sr.train import _batch

    cfg = _cfg(up_root, degradation="render", crop=8, batch=2)
    ds = SequenceDataset(up_root, "train", crop=4, frames=1, flips=True, seed=cfg.seed)
    low, high = _batch(ds, cfg, 0)
    rng = np.random.default_rng([cfg.seed, 0])
    first = ds.sample(rng)
    assert low.shape == (2, 3, 4, 4) and high.shape == (2, 3, 8, 8)
    assert torch.equal(low[0], to_network(first["color"][0])) and torch.equal(high[0], to_network(first["reference"][0]))
    result = train_asconvsr(cfg, tmp_path / "run", progress=False)
    assert result["step"] == 6 and result["val"]["frames"] > 0
    # the untrained (nearest) model on the renders: validation reads the renders, not area-downsampled references
    val_ds = SequenceDataset(up_root, "val")
    render = validate(AsConvSR(AsConvSRConfig(channels=8)), val_ds, 2, frames=2, degradation="render")
    area = validate(AsConvSR(AsConvSRConfig(channels=8)), val_ds, 2, frames=2, degradation="area")
    assert render["nearest_psnr"] != area["nearest_psnr"]


def test_render_degradation_needs_an_upscaling_dataset_of_that_scale(data_root, up_root, tmp_path):
    with pytest.raises(InvalidArgument) as err:
        train_asconvsr(_cfg(data_root, degradation="render"), tmp_path / "a", progress=False)
    assert err.value.field == "data"
    with pytest.raises(InvalidArgument) as err:
        train_asconvsr(_cfg(up_root, degradation="render", scale=3, crop=12), tmp_path / "b", progress=False)
    assert err.value.field == "scale"
    with pytest.raises(InvalidArgument) as err:
        _cfg(up_root, degradation="bilinear").validate()
    assert err.value.field == "degradation"
