"""Export of trained stages to safetensors + manifest, read back by the runtime loader; tampering fails."""

import json

import pytest
import torch

from qwplugin.data.synthetic import write_synthetic_dataset
from qwplugin.errors import InvalidArgument
from qwplugin.runtime.weights import load_weights_file
from qwplugin.train.checkpoint import load_checkpoint
from qwplugin.train.config import load_config
from qwplugin.train.export import export_run, export_stage
from qwplugin.train.loop import train


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    write_synthetic_dataset(root / "data", sequences=3, frames=3, width=16, height=16, spp=4, seed=9)
    cfg = load_config("configs/tiny_test.json")
    cfg.data.root, cfg.data.crop, cfg.data.frames = str(root / "data"), 16, 3
    cfg.stages[0].steps, cfg.stages[1].steps, cfg.eval_every = 2, 2, 2
    train(cfg, root / "run", progress=False)
    paths = export_run(root / "run", root / "weights")
    return root, paths


def test_export_writes_loadable_files_with_real_metadata(exported):
    root, paths = exported
    assert sorted(p.name for p in paths) == ["qwnet-fp32.safetensors", "qwnet-int4.safetensors"]
    manifest = json.loads((root / "weights" / "manifest.json").read_text())["files"]
    assert set(manifest) == {"qwnet-fp32.safetensors", "qwnet-int4.safetensors", "qwnet-int4-qat.safetensors"}
    integer = load_weights_file(root / "weights" / "qwnet-int4.safetensors", require_manifest=True)
    assert integer.integer and integer.metadata["training"]["steps"] == load_checkpoint(root / "run" / "stage_int4.pt")["step"]
    for name, precision, stage in (("qwnet-fp32", "fp32", "fp32"), ("qwnet-int4-qat", "int4", "int4")):
        loaded = load_weights_file(root / "weights" / f"{name}.safetensors", require_manifest=True)
        stage_file = load_checkpoint(root / "run" / f"stage_{stage}.pt")
        meta = loaded.metadata
        assert meta["precision"] == precision and loaded.config.quantized == (precision == "int4")
        assert meta["training"]["steps"] == stage_file["step"]
        # The figures are the training run's own evaluation at that step, copied, not invented.
        figures = json.loads(stage_file["figures"])
        assert {k: meta["metrics"][k] for k in figures} == figures
        assert meta["training"]["dataset"]["validation_scenes"] == ["synthetic_2"]
        assert meta["quantization"]["enabled"] == (precision == "int4")
        state = loaded.model.state_dict()
        assert all(torch.equal(state[k], stage_file["model"][k]) for k in stage_file["model"])


def test_tampered_file_fails_with_checksum_error(exported):
    root, _ = exported
    path = root / "weights" / "qwnet-fp32.safetensors"
    data = bytearray(path.read_bytes())
    original = bytes(data)
    try:
        data[-5] ^= 0x01  # flip one bit of the last tensor's bytes: still a valid safetensors file
        path.write_bytes(bytes(data))
        with pytest.raises(InvalidArgument, match="checksum mismatch"):
            load_weights_file(path, require_manifest=True)
        path.write_bytes(original[: len(original) // 2])  # truncated
        with pytest.raises(InvalidArgument, match="checksum mismatch"):
            load_weights_file(path, require_manifest=True)
    finally:
        path.write_bytes(original)
    load_weights_file(path, require_manifest=True)  # restored: loads again


def test_export_of_a_rolling_checkpoint_and_missing_files(exported, tmp_path):
    root, _ = exported
    path = export_stage(root / "run" / "checkpoint.pt", tmp_path)
    assert path.name == "qwnet-int4.safetensors"
    assert load_weights_file(path, require_manifest=True).metadata["training"]["steps"] == 4
    with pytest.raises(InvalidArgument):
        export_stage(tmp_path / "nope.pt", tmp_path)
    with pytest.raises(InvalidArgument):
        export_run(tmp_path, tmp_path)


def test_a_taa_candidate_run_trains_exports_under_its_name_and_loads_by_name(tmp_path):
    """The whole path of a TAA-candidate model (ModelConfig.taa_candidate): both training stages, the export
    under a built-in name (``--name qwnet-fast``), the integer file with 27 full-resolution logits, and the
    loader resolving ``qwnet-fast`` to those files; the loaded integer network runs a recurrent step."""
    from qwplugin.model import reconstruct_step
    from qwplugin.runtime.weights import load_model

    write_synthetic_dataset(tmp_path / "data", sequences=3, frames=3, width=16, height=16, spp=4, seed=9)
    cfg = load_config("configs/tiny_test.json")
    cfg.data.root, cfg.data.crop, cfg.data.frames = str(tmp_path / "data"), 16, 3
    cfg.stages[0].steps, cfg.stages[1].steps, cfg.eval_every = 2, 2, 2
    cfg.model = {**cfg.model, "taa_candidate": "tuned", "filter_init": "taa"}
    train(cfg, tmp_path / "run", progress=False)
    paths = export_run(tmp_path / "run", tmp_path / "weights", name="qwnet-fast")
    assert sorted(p.name for p in paths) == ["qwnet-fast-fp32.safetensors", "qwnet-fast-int4.safetensors"]
    for precision in ("fp32", "int4"):
        loaded = load_model("qwnet-fast", precision, shipped_dir=tmp_path / "weights")
        assert loaded.trained and loaded.config.taa_candidate is not None
        assert loaded.integer == (precision == "int4")
        if loaded.integer:
            assert loaded.model.program.tensors["filter.down0"].channels == 27
            loaded.model.use_backend("auto")
        color, motion = torch.rand(1, 3, 16, 16), torch.zeros(1, 2, 16, 16)
        depth = torch.full((1, 1, 16, 16), 2.0)
        with torch.no_grad():
            first = reconstruct_step(loaded.model, color, motion, None, 1.0, depth, (0.25, -0.25))
            second = reconstruct_step(loaded.model, color, motion, first, 1.0, depth, (-0.25, 0.25), depth)
        assert torch.isfinite(second).all() and second.shape == color.shape


def test_history_warp_and_sharpening_at_export_and_restamp(exported, tmp_path):
    """Fields that change no layer can be set at export (a stage file) or written into a float file whose
    stage file is gone (restamp): same tensors and training metadata, the new config, a valid manifest, and
    the integer program carries the warp too (the Context runs it with that warp)."""
    from qwplugin.runtime.weights import load_weights_file
    from qwplugin.train.export import restamp_weights

    root, _ = exported
    out = tmp_path / "w"
    path = export_stage(root / "run" / "stage_int4.pt", out, history_warp="catmull_rom", output_sharpen=0.3)
    program = load_weights_file(path, require_manifest=True)
    assert program.integer and program.config.history_warp == "catmull_rom" and program.config.output_sharpen == 0.3
    qat = load_weights_file(out / "qwnet-int4-qat.safetensors", require_manifest=True)
    assert qat.metadata["display"]["history_warp_in_training"] == "bilinear"

    fp32 = export_stage(root / "run" / "stage_fp32.pt", out)
    before = load_weights_file(fp32, require_manifest=True)
    assert before.config.history_warp == "bilinear"
    restamp_weights(fp32, output_sharpen=0.2, history_warp="catmull_rom")
    after = load_weights_file(fp32, require_manifest=True)  # the manifest was updated with the new digest
    assert after.config.history_warp == "catmull_rom" and after.config.output_sharpen == 0.2
    assert after.metadata["training"] == before.metadata["training"]
    assert after.metadata["display"]["history_warp_in_training"] == "bilinear"
    sb, sa = before.model.state_dict(), after.model.state_dict()
    assert sb.keys() == sa.keys() and all(torch.equal(sb[k], sa[k]) for k in sb)
    with pytest.raises(InvalidArgument) as err:
        restamp_weights(path, history_warp="bilinear")  # an integer program: export its stage file instead
    assert err.value.field == "file"
    with pytest.raises(InvalidArgument) as err:
        restamp_weights(fp32, history_warp="lanczos")
    assert err.value.field == "history_warp"
