"""Weights files: round trip, manifest checksum, clear errors for LFS pointers, corrupt and mismatched files."""

import hashlib
import json

import numpy as np
import pytest
import torch

from qwplugin import Context, ContextDesc, InvalidArgument
from qwplugin.model import ModelConfig, build_model
from qwplugin.runtime.weights import load_model, load_weights_file, save_weights
from runtime_frames import SIZE, pan_frame


def _trained_like(kind="qwnet", seed=3):
    torch.manual_seed(seed)
    return build_model(ModelConfig.preset("tiny", kind=kind)).eval()


def test_round_trip_through_a_context(tmp_path):
    model = _trained_like()
    path = tmp_path / "mine.safetensors"
    digest = save_weights(path, model, precision="fp32", extra_metadata={"metrics": {"psnr_db": 30.5}})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"]["mine.safetensors"]["sha256"] == digest
    frames = [pan_frame(t) for t in range(2)]
    from_file = Context(ContextDesc(render_size=SIZE, model=str(path), backend="cpu"))
    direct = Context(ContextDesc(render_size=SIZE, backend="cpu"), model=model)
    for f in frames:
        assert np.array_equal(from_file.dispatch(f), direct.dispatch(f))
    info = from_file.backend_info
    assert info.trained and info.weights == f"trained: mine.safetensors (sha256 {digest[:12]}...)"
    loaded = load_weights_file(path)
    assert loaded.metadata["metrics"] == {"psnr_db": 30.5} and loaded.config == model.config


def test_tampered_file_fails_the_checksum(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(path, _trained_like(), precision="int4")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # flip one bit of a weight
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidArgument, match="checksum mismatch") as e:
        load_weights_file(path)
    assert e.value.field == "model" and e.value.actual.startswith("sha256 ")


def test_truncated_file_without_manifest_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(path, _trained_like(), precision="fp32", update_manifest=False)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InvalidArgument, match="truncated or corrupt"):
        load_weights_file(path)
    path.write_bytes(b"\x01\x02")
    with pytest.raises(InvalidArgument, match="truncated or corrupt"):
        load_weights_file(path)


def test_no_manifest_loads_with_an_honest_note(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(path, _trained_like(), precision="fp32", update_manifest=False)
    assert any("checksum not verified" in n for n in load_weights_file(path).notes)


def test_git_lfs_pointer_and_missing_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(InvalidArgument, match="git lfs pull"):
        load_weights_file(path)
    with pytest.raises(InvalidArgument, match="not found"):
        load_model(str(tmp_path / "nope.safetensors"))


def test_tensors_must_fit_the_config(tmp_path):
    path = tmp_path / "w.safetensors"
    model = _trained_like()
    model.config = ModelConfig.preset("tiny", encoder_channels=(8, 12, 20))  # lie about the layers
    save_weights(path, model, precision="fp32")
    with pytest.raises(InvalidArgument, match="do not fit") as e:
        load_weights_file(path)
    assert "wrong shape" in e.value.actual


def test_metadata_without_config(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({"x": torch.zeros(2)}, str(path), metadata={"format": "qwplugin.weights"})
    with pytest.raises(InvalidArgument, match="no 'config'"):
        load_weights_file(path)


def test_shipped_names_need_the_manifest_and_fall_back_to_the_other_precision(tmp_path):
    model = _trained_like(kind="unet")
    save_weights(tmp_path / "unet-tiny-fp32.safetensors", model, precision="fp32")
    loaded = load_model("unet-tiny", "int4", shipped_dir=tmp_path)
    assert loaded.trained and loaded.config.kind == "unet"
    assert any("no int4 weights shipped" in n for n in loaded.notes)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(InvalidArgument, match="manifest"):
        load_model("unet-tiny", "fp32", shipped_dir=tmp_path)


def test_untrained_fallback_is_seeded_and_leaves_the_global_rng_alone(tmp_path):
    torch.manual_seed(1234)
    before = torch.rand(3)
    torch.manual_seed(1234)
    a = load_model("qwnet-tiny", shipped_dir=tmp_path, seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after)
    b = load_model("qwnet-tiny", shipped_dir=tmp_path, seed=7)
    assert not a.trained and a.weights == "untrained: random init (seed 7)"
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))


def test_unknown_name():
    with pytest.raises(InvalidArgument) as e:
        load_model("qwnet-huge")
    assert e.value.field == "model" and "qwnet-tiny" in e.value.expected


# ----------------------------------------------------------------------------------------------------------
# integer program files (qwplugin-int4 v2)


def _integer_file(tmp_path, name="qwnet-tiny-int4.safetensors", manifest=True):
    """A tiny QW-Net exported to the integer format (and its QAT state dict next to it)."""
    from qwplugin.intexec.export import export_network, save_program
    from qwplugin.quant import set_quantized

    torch.manual_seed(5)
    model = set_quantized(build_model(ModelConfig.preset("tiny", quantized=True)), True).eval()
    path = tmp_path / name
    save_program(export_network(model), path, update_manifest=manifest)
    return path, model


def test_integer_file_loads_as_an_integer_qwnet_without_float_layers(tmp_path):
    from qwplugin.intexec.network import IntegerQWNet
    from qwplugin.quant import QuantConv2d

    path, model = _integer_file(tmp_path)
    loaded = load_weights_file(path, require_manifest=True)
    assert loaded.integer and isinstance(loaded.model, IntegerQWNet) and loaded.config == model.config
    assert not any(isinstance(m, (QuantConv2d, torch.nn.Conv2d)) for m in loaded.model.modules())
    assert loaded.sha256 == json.loads((tmp_path / "manifest.json").read_text())["files"][path.name]["sha256"]
    ctx = Context(ContextDesc(render_size=SIZE, model=str(path), precision="int4", backend="cpu"))
    assert "integer backend" in ctx.backend_info.precision_detail
    out = ctx.dispatch(pan_frame(0))
    assert np.isfinite(out).all() and out.shape == (SIZE[1], SIZE[0], 3)


def test_integer_file_with_a_changed_byte_is_refused_with_or_without_manifest(tmp_path):
    path, _ = _integer_file(tmp_path)
    original = path.read_bytes()
    data = bytearray(original)
    data[-7] ^= 0x01  # inside the last tensor: still a valid safetensors file
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidArgument, match="checksum mismatch") as e:
        load_weights_file(path, require_manifest=True)  # the manifest's sha256
    assert e.value.field == "model"
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(InvalidArgument, match="payload checksum mismatch") as e:
        load_weights_file(path)  # no manifest: the file's own payload sha256 still catches it
    assert e.value.field == "model"
    path.write_bytes(original)
    assert load_weights_file(path).integer


def test_integer_file_refused_at_fp32_and_never_used_as_the_fp32_fallback(tmp_path):
    path, _ = _integer_file(tmp_path)
    with pytest.raises(InvalidArgument, match="only at precision 'int4'") as e:
        Context(ContextDesc(render_size=SIZE, model=str(path), precision="fp32", backend="cpu"))
    assert e.value.field == "precision"
    # built-in lookup: int4 finds the integer file; fp32 skips it (and falls back to the seeded init here)
    assert load_model("qwnet-tiny", "int4", shipped_dir=tmp_path).integer
    fp32 = load_model("qwnet-tiny", "fp32", shipped_dir=tmp_path)
    assert not fp32.integer and not fp32.trained


def test_int4_lookup_prefers_the_integer_file_and_fakequant_the_qat_file(tmp_path):
    path, model = _integer_file(tmp_path)
    save_weights(tmp_path / "qwnet-tiny-int4-qat.safetensors", model, precision="int4")
    assert load_model("qwnet-tiny", "int4", shipped_dir=tmp_path).integer
    qat = load_model("qwnet-tiny", "int4", shipped_dir=tmp_path, integer=False)
    assert not qat.integer and qat.path.name == "qwnet-tiny-int4-qat.safetensors"
    assert not any("no int4 weights" in n for n in qat.notes)
    fp32 = load_model("qwnet-tiny", "fp32", shipped_dir=tmp_path)  # no fp32 file: the QAT state dict
    assert fp32.path.name == "qwnet-tiny-int4-qat.safetensors" and any("no fp32 weights" in n for n in fp32.notes)
