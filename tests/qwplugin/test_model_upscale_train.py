"""Training and integer execution of the upscaling QW-Net: a tiny run through the real training loop (FP32
then 4-bit QAT) on a tiny synthetic 2x dataset lowers the loss, and the exported integer programs (display and
render extractor) run by the reference executor agree with the fake-quant models."""

import pytest
import torch

from qwplugin.data.dataset import SequenceDataset, to_tensors
from qwplugin.data.synthetic import write_synthetic_upscale_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.intexec.cpu_backend import onednn_available
from qwplugin.intexec.export import export_network, load_program, save_program
from qwplugin.model.build import build_model
from qwplugin.model.config import ModelConfig
from qwplugin.model.recurrent import run_sequence
from qwplugin.model.upscale_int import IntegerUpscaleQWNet, export_upscale_network
from qwplugin.ops.colour import to_network
from qwplugin.quant.switch import set_quantized
from qwplugin.train.checkpoint import load_checkpoint
from qwplugin.train.config import load_config
from qwplugin.train.evaluate import evaluate
from qwplugin.train.loop import model_config_from, train
from qwplugin.train.quant_init import calibrate_activation_ranges

FP32_STEPS = 80


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("up2_data")
    write_synthetic_upscale_dataset(root, sequences=3, frames=4, width=16, height=16, scale=2, spp=4, seed=3)
    cfg = load_config("configs/tiny_test.json")
    cfg.name, cfg.data.root, cfg.data.crop = "tiny_up2", str(root), 12  # 12 render px -> 24 display px
    cfg.model = {"preset": "tiny", "kind": "qwnet", "upscale_factor": 2.0}
    cfg.optimizer.name = "adam"
    cfg.stages[0].steps, cfg.stages[0].lr, cfg.stages[0].schedule = FP32_STEPS, 0.01, "flat"
    cfg.stages[1].steps = 3
    cfg.eval_every = cfg.checkpoint_every = 1000
    # The L1 term alone, with the kernel-logit penalty of the fast recipe, Adam at lr 3e-3: measured loss
    # 0.0589 -> 0.0416 (x0.71) in 80 steps, PSNR 20.64 -> 21.75 dB (no-AA bilinear 19.79), kernels not
    # saturated (down0 mean max weight 0.47). Without the penalty at lr 1e-2 the tiny model collapses into
    # copying one current tap (max weight 1.000: a "lower" loss that is a trivial fixed point), and with the
    # default 0.3 / 0.7 spatial / temporal mix it first leans on the history (loss x0.94, PSNR -0.2 dB in 80
    # steps): neither says whether the path trains.
    cfg.stages[0].lr = 0.003
    cfg.spatial_weight, cfg.kernel_logit_penalty = 1.0, 1e-4
    out = tmp_path_factory.mktemp("up2_run")
    result = train(cfg, out, progress=False)
    return cfg, root, out, result


def test_a_tiny_upscaling_run_reduces_the_loss(run):
    cfg, root, out, result = run
    assert result["step"] == FP32_STEPS + 3 and result["stopped"] == "done"
    assert result["figures"]["val_psnr_db"] > 0  # evaluation ran on display-size references
    ds = SequenceDataset(root, "train")
    blocks = [to_tensors(ds.block(i)) for i in range(len(ds))]
    assert blocks[0]["reference"].shape[-2:] == (32, 32) and blocks[0]["color"].shape[-2:] == (16, 16)
    torch.manual_seed(cfg.seed)
    initial = build_model(model_config_from(cfg.model))  # the run's seeded initialisation
    trained = build_model(model_config_from(cfg.model))
    trained.load_state_dict(load_checkpoint(out / "stage_fp32.pt")["model"])
    before, after = evaluate(initial, blocks, 1.0), evaluate(trained, blocks, 1.0)
    # a broken path (no update, misaligned crops, jitter ignored by the loop) leaves the loss flat or worse
    assert after.loss < 0.8 * before.loss, (before.loss, after.loss)
    assert after.psnr_db > before.psnr_db + 0.5 > after.noaa_psnr_db + 0.5, (before.psnr_db, after.psnr_db)
    # and not by collapsing into copying one tap (a saturated softmax)
    block = blocks[0]
    c_nw, jit = to_network(block["color"][1:2]), block["jitter_px"][1:2]
    with torch.no_grad():
        p = trained.prepare(c_nw, trained.current_display(c_nw, jit, (32, 32)), jit)
        feats, scales = trained.features(p["net_input"])
        weights = torch.softmax(trained.filter.down["down0"](feats[0], scales[0]), dim=1)
    assert float(weights.max(dim=1).values.mean()) < 0.8


def test_qat_model_and_its_integer_program_agree(run, tmp_path):
    cfg, root, out, _ = run
    model = build_model(model_config_from(cfg.model))
    model.load_state_dict(load_checkpoint(out / "stage_int4.pt")["model"])
    set_quantized(model, True)
    program = export_network(model)
    assert export_upscale_network(model).heads == program.heads
    assert program.tensors[program.input_name].channels == 9  # filled colour, history, mask, offsets
    save_program(program, tmp_path / "up2-int4.safetensors")  # an ordinary integer file: saved, loaded, checked
    program = load_program(tmp_path / "up2-int4.safetensors")
    net = IntegerUpscaleQWNet(program, model.config)
    assert net.use_backend("reference")[0].startswith("int4 (reference")
    block = to_tensors(SequenceDataset(root, "val").block(0))
    colors, jitter = block["color"][None], block["jitter_px"][None]
    resets = torch.zeros(1, colors.shape[1], dtype=torch.bool)
    with torch.no_grad():
        fake = run_sequence(model, colors, block["motion_px"][None], resets, jitter_px=jitter,
                            return_network_domain=True, display_hw=(32, 32))
        exact = run_sequence(net, colors, block["motion_px"][None], resets, jitter_px=jitter,
                             return_network_domain=True, display_hw=(32, 32))
    assert exact.shape == fake.shape == (1, 4, 3, 32, 32)
    # the same codes, outputs equal up to float32 rounding (measured mean 1e-8, max 1.8e-7 over the 4 frames);
    # the bounds leave room for a rare code flip (one feature moved by one 4-bit step), the native test's
    # mean bound is 1e-3; a wrong program (other input layout, missing channels) is far outside them
    diff = (exact - fake).abs()
    assert float(diff.mean()) < 1e-5 and float(diff.max()) < 1e-3, (float(diff.mean()), float(diff.max()))
    ref_nw = to_network(block["reference"][None])
    assert float((fake - ref_nw).abs().mean()) > 20 * float(diff.mean())  # the bound is not vacuous
    if onednn_available()[0]:
        cpu = IntegerUpscaleQWNet(program, model.config)
        cpu.use_backend("cpu")
        c_nw = to_network(colors[:, 0])
        hist = net.current_display(c_nw, jitter[:, 0], (32, 32))
        assert torch.equal(cpu(c_nw, hist, jitter[:, 0]), net(c_nw, hist, jitter[:, 0]))  # bit-exact backends


def test_the_render_extractor_runs_from_its_integer_program_too(run):
    """The render-resolution U-Net option: heads of the display-level filter stage computed at render
    resolution and their logits nearest-upsampled equal the fake-quant model's convs on upsampled features."""
    _, root, _, _ = run
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, upscale_extractor="render"))
    block = to_tensors(SequenceDataset(root, "val").block(0))
    args = (block["color"][None], block["motion_px"][None], torch.zeros(1, 4, dtype=torch.bool))
    calibrate_activation_ranges(model, lambda: run_sequence(model, *args, jitter_px=block["jitter_px"][None]))
    set_quantized(model, True)
    program = export_upscale_network(model)
    assert len(program.heads) == 2 * (model.config.levels + 1) - 1 and len(program.outputs) == model.config.levels
    assert program.tensors[program.input_name].channels == 6  # render-resolution colour + area-averaged history
    net = IntegerUpscaleQWNet(program, model.config)
    net.use_backend("reference")
    with torch.no_grad():
        fake = run_sequence(model, *args, jitter_px=block["jitter_px"][None], return_network_domain=True)
        exact = run_sequence(net, *args, jitter_px=block["jitter_px"][None], return_network_domain=True)
    diff = (exact - fake).abs()
    assert exact.shape == (1, 4, 3, 32, 32)
    assert float(diff.mean()) < 1e-5 and float(diff.max()) < 1e-3, (float(diff.mean()), float(diff.max()))
    with pytest.raises(InvalidArgument) as err:  # a display-extractor program for a render config
        IntegerUpscaleQWNet(export_network(build_model(ModelConfig.preset("tiny", upscale_factor=2.0))),
                            model.config)
    assert err.value.field == "program"
