"""Output-only sharpening (ModelConfig.output_sharpen): what is shown is sharpened, what is remembered is not,
in the Context, in validation and in the export."""

import json

import numpy as np
import pytest
import torch

from qwplugin import Context, ContextDesc, Frame
from qwplugin.errors import InvalidArgument
from qwplugin.model import ModelConfig, build_model
from qwplugin.model.display import displayed_linear, displayed_nw, output_sharpen_of
from qwplugin.ops.colour import from_network, to_network
from qwplugin.runtime.weights import load_weights_file, save_weights
from qwplugin.taa import taa_sharpen


def test_config_field_is_checked_and_left_out_at_its_default():
    cfg = ModelConfig.preset("tiny")
    assert "output_sharpen" not in cfg.to_dict() and cfg.output_sharpen == 0.0  # older files stay equal
    sharp = ModelConfig.preset("tiny", output_sharpen=0.25)
    assert sharp.to_dict()["output_sharpen"] == 0.25
    assert ModelConfig.from_dict(sharp.to_dict()) == sharp
    for bad in (-0.1, 2.5, "0.2", True, float("nan")):
        with pytest.raises(InvalidArgument) as info:
            ModelConfig.preset("tiny", output_sharpen=bad)
        assert info.value.field == "output_sharpen"
    up = ModelConfig.preset("tiny", output_sharpen=0.35, upscale_factor=2.0)  # the TAAU's sharpening, shown only
    assert up.output_sharpen == 0.35 and ModelConfig.from_dict(up.to_dict()) == up


def test_displayed_image_is_the_taa_sharpening_and_both_domains_agree():
    g = torch.Generator().manual_seed(3)
    linear = torch.rand(2, 3, 12, 16, generator=g) * 3.0
    x = to_network(linear)
    assert displayed_nw(x, 0.0) is x and displayed_linear(linear, 0.0) is linear  # off: nothing computed
    # An edge: 0.1 | 2.0 in linear. The unsharp mask overshoots and is clamped to the cross's range, so the
    # pixels next to the edge move away from each other and stay inside [0.1, 2.0].
    step = torch.full((1, 3, 8, 8), 0.1)
    step[..., 4:] = 2.0
    shown = displayed_linear(step, 0.5)
    assert torch.all(shown[..., 3] <= 0.1 + 1e-6) and torch.all(shown[..., 4] >= 2.0 - 1e-5)
    assert torch.allclose(shown[..., :3], step[..., :3]) and torch.allclose(shown[..., 5:], step[..., 5:])
    # Network domain (exposure folded in) and linear domain with that exposure give the same picture.
    e = 0.5
    via_nw = from_network(displayed_nw(to_network(linear, e), 0.3), e)
    assert torch.allclose(via_nw, displayed_linear(linear, 0.3, e), rtol=1e-4, atol=1e-5)
    assert torch.allclose(displayed_linear(linear, 0.3), taa_sharpen(linear, 0.3))
    # 5-D (N, T, 3, H, W) outputs of a sequence are sharpened frame by frame.
    seq = to_network(linear)[None].repeat(2, 1, 1, 1, 1)
    assert torch.allclose(displayed_nw(seq, 0.3)[1, 0], displayed_nw(seq[1, 0:1], 0.3)[0])


def _weights(tmp_path, strength):
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", output_sharpen=strength))
    path = tmp_path / f"tiny_{strength}.safetensors"
    save_weights(path, model, precision="fp32")
    return path, model


def test_context_sharpens_what_it_shows_and_keeps_the_history_unsharpened(tmp_path):
    plain_path, _ = _weights(tmp_path, 0.0)
    sharp_path, _ = _weights(tmp_path, 0.4)  # same seed: the same weights, only the display differs
    g = np.random.default_rng(1)
    frames = [Frame(color=(g.random((16, 24, 3)) * 2).astype(np.float32),
                    motion_px=(g.standard_normal((16, 24, 2))).astype(np.float32), jitter_px=(0.1, -0.2),
                    reset=i == 0, exposure=0.7)
              for i in range(3)]
    ctxs = [Context(ContextDesc(render_size=(24, 16), model=str(p), precision="fp32", backend="cpu"))
            for p in (plain_path, sharp_path)]
    assert any("sharpened" in n for n in ctxs[1].backend_info.notes)
    for f in frames:
        plain, sharp = (c.dispatch(f) for c in ctxs)
        expected = displayed_linear(torch.from_numpy(plain).permute(2, 0, 1)[None], 0.4, 0.7)[0].permute(1, 2, 0)
        # Frames 2 and 3 match only if the sharpened context's history is the unsharpened output.
        np.testing.assert_allclose(sharp, expected.numpy(), rtol=1e-5, atol=1e-6)
        assert not np.allclose(sharp, plain)
    for c in ctxs:
        c.close()


def test_validation_figures_are_of_the_shown_image(tmp_path):
    from qwplugin.data.dataset import SequenceDataset, to_tensors
    from qwplugin.data.synthetic import write_synthetic_dataset
    from qwplugin.metrics import psnr_db
    from qwplugin.train.evaluate import evaluate
    from qwplugin.train.recurrence import SequenceRunner

    write_synthetic_dataset(tmp_path / "d", sequences=2, frames=4, width=24, height=16, spp=4, seed=2,
                            val_sequences=1)
    blocks = [to_tensors(SequenceDataset(tmp_path / "d", "val").block(0))]
    _, model = _weights(tmp_path, 0.6)
    assert output_sharpen_of(model) == 0.6
    b = blocks[0]
    resets = b["resets"][None].clone()
    resets[:, 0] = True
    with torch.no_grad():
        raw = SequenceRunner(model.eval())(b["color"][None], b["motion_px"][None], resets, b["depth"][None])
    ref_nw = to_network(b["reference"])[None]
    shown = float(psnr_db(ref_nw, displayed_nw(raw, 0.6)).mean())
    assert evaluate(model, blocks).psnr_db == pytest.approx(shown, abs=1e-4)
    assert shown != pytest.approx(float(psnr_db(ref_nw, raw).mean()), abs=1e-3)


def test_export_sets_the_strength_in_the_fp32_and_integer_files(tmp_path):
    from qwplugin.data.synthetic import write_synthetic_dataset
    from qwplugin.train.config import load_config
    from qwplugin.train.export import export_run
    from qwplugin.train.loop import train

    write_synthetic_dataset(tmp_path / "d", sequences=3, frames=4, width=16, height=16, spp=4, seed=4,
                            val_sequences=1)
    cfg = load_config("configs/tiny_test.json")
    cfg.data.root, cfg.data.crop = str(tmp_path / "d"), 16
    cfg.stages[0].steps, cfg.stages[1].steps, cfg.eval_every, cfg.threads = 2, 2, 2, 1
    train(cfg, tmp_path / "run", progress=False)
    paths = export_run(tmp_path / "run", tmp_path / "w", name="qwnet-tiny", output_sharpen=0.3)
    assert {p.name for p in paths} == {"qwnet-tiny-fp32.safetensors", "qwnet-tiny-int4.safetensors"}
    for path in paths:
        loaded = load_weights_file(path)
        assert loaded.config.output_sharpen == 0.3
        display = loaded.metadata["display"]
        display = json.loads(display) if isinstance(display, str) else display
        assert display["output_sharpen"] == 0.3 and display["output_sharpen_in_training_figures"] == 0.0
    assert load_weights_file(tmp_path / "w" / "qwnet-tiny-int4.safetensors").integer


def test_training_loss_reads_the_shown_output_and_the_recurrence_the_unsharpened_one(tmp_path, monkeypatch):
    import qwplugin.train.loop as loop
    from qwplugin.data.synthetic import write_synthetic_dataset
    from qwplugin.train.config import load_config

    write_synthetic_dataset(tmp_path / "d", sequences=3, frames=6, width=16, height=16, spp=4, seed=6,
                            val_sequences=1)
    cfg = load_config("configs/tiny_test.json")
    cfg.data.root, cfg.data.crop, cfg.data.frames, cfg.data.chunks = str(tmp_path / "d"), 16, 3, 2
    cfg.model = {**cfg.model, "output_sharpen": 0.5}
    cfg.stages = cfg.stages[:1]
    cfg.stages[0].steps, cfg.eval_every, cfg.threads = 2, 100, 1
    shown, losses = [], []
    real_display, real_loss = loop.displayed_nw, loop.qwnet_loss
    monkeypatch.setattr(loop, "displayed_nw", lambda x, s: shown.append((x, s, real_display(x, s))) or shown[-1][2])
    monkeypatch.setattr(loop, "qwnet_loss", lambda out, *a: losses.append((out, a)) or real_loss(out, *a))
    loop.train(cfg, tmp_path / "run", progress=False)
    assert len(losses) == 2 and all(s == 0.5 for _, s, _ in shown)
    # Window 1: the loss's output is the sharpened recurrence output. Window 2 (carried history): the
    # previous frame given to the temporal term is the sharpened last output of window 1, while the
    # recurrence (shown[1][0], window 1's raw output) was carried unsharpened.
    assert losses[0][0] is shown[0][2]
    raw_first, carried_prev = shown[0][0], shown[1][0]
    assert torch.equal(carried_prev, raw_first[:, -1].detach())
    assert losses[1][1][-2] is shown[1][2] and losses[1][0] is shown[2][2]
    assert not torch.allclose(shown[0][2], raw_first)
