"""The integer reference executor against a direct NumPy integer computation, and export round trips."""

import numpy as np
import pytest
import torch

from qwplugin.intexec.export import export_extractor, fp32_size_bytes, load_program, save_program
from qwplugin.intexec.program import Conv, IntProgram, TensorSpec, f32
from qwplugin.intexec.reference import quantize_input, run_reference
from qwplugin.intexec.synthetic import random_qwnet_program, random_unet_program


def numpy_conv_requant(x, w, bias_codes, s_in, s_w, s_out):
    """Direct NumPy: int64 loops over taps, then the documented float32 requantization."""
    n, ci, h, wd = x.shape
    co, _, k, _ = w.shape
    p = k // 2
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    acc = np.zeros((n, co, h, wd), dtype=np.int64)
    for o in range(co):
        for i in range(ci):
            for dy in range(k):
                for dx in range(k):
                    acc[:, o] += xp[:, i, dy:dy + h, dx:dx + wd] * int(w[o, i, dy, dx])
    s_acc = np.float32(s_in) * s_w.astype(np.float32)
    b_f = bias_codes.astype(np.float32) * s_acc
    beta = (b_f / s_acc).astype(np.float32)
    m = (s_acc / np.float32(s_out)).astype(np.float32)
    t = (acc.astype(np.float32) + beta[None, :, None, None]).astype(np.float32) * m[None, :, None, None]
    return np.clip(np.rint(t.astype(np.float32)), 0, 15).astype(np.uint8)  # np.rint: half to even


@pytest.mark.parametrize("k,in_bits,wbits", [(3, 4, 4), (1, 4, 4), (3, 8, 8)])
def test_single_conv_equals_numpy(k, in_bits, wbits):
    g = torch.Generator().manual_seed(k * 10 + in_bits)
    ci, co, h, w = 5, 7, 9, 11
    lim = 2 ** (wbits - 1)
    x = torch.randint(0, 2 ** in_bits, (2, ci, h, w), generator=g, dtype=torch.uint8)
    wt = torch.randint(-lim, lim, (co, ci, k, k), generator=g, dtype=torch.int8)
    ws = (torch.rand(co, generator=g) * 0.02 + 1e-3).float()
    b = torch.randint(-30, 30, (co,), generator=g, dtype=torch.int32)
    s_in = f32(0.07)
    real = torch.nn.functional.conv2d(x.float() * s_in, wt.float() * ws.view(-1, 1, 1, 1), padding=k // 2)
    s_out = f32(float(real.std()) / 4)  # spreads the codes over 0..15 with some clipping
    prog = IntProgram("x", {"x": TensorSpec("x", ci, s_in, in_bits), "y": TensorSpec("y", co, s_out, 4)},
                      [Conv("y", "x", "y", wt, ws, b, wbits)], ["y"])
    prog.validate()
    got = run_reference(prog, x)["y"].numpy()
    want = numpy_conv_requant(x.numpy(), wt.numpy(), b.numpy(), s_in, ws.numpy(), s_out)
    assert np.array_equal(got, want)
    assert len(np.unique(want)) >= 4  # the test exercises real requantization, not all-zero outputs


def test_ties_round_half_to_even():
    # Power-of-two scales make (acc + bias) * m land exactly on .5 often; half-to-even is the rule.
    x = torch.ones(1, 1, 1, 4, dtype=torch.uint8) * torch.tensor([1, 3, 5, 0], dtype=torch.uint8)
    wt = torch.ones(1, 1, 1, 1, dtype=torch.int8)
    prog = IntProgram("x", {"x": TensorSpec("x", 1, 1.0, 4), "y": TensorSpec("y", 1, 2.0, 4)},
                      [Conv("y", "x", "y", wt, torch.ones(1), torch.zeros(1, dtype=torch.int32))], ["y"])
    # values 1, 3, 5, 0 halved: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 0 -> 0
    assert run_reference(prog, x)["y"].flatten().tolist() == [0, 2, 2, 0]


def test_save_load_round_trip_and_size(tmp_path):
    prog = random_unet_program(seed=3)
    path = tmp_path / "m.safetensors"
    nbytes = save_program(prog, path)
    back = load_program(path)
    assert back.outputs == prog.outputs and back.tensors == prog.tensors
    for a, b in zip(prog.convs(), back.convs()):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
        assert torch.equal(a.weight_scale, b.weight_scale) and a.weight_bits == b.weight_bits
    x = torch.randint(0, 256, (1, 6, 8, 12), dtype=torch.uint8)
    ra, rb = run_reference(prog, x), run_reference(back, x)
    assert all(torch.equal(ra[n], rb[n]) for n in prog.outputs)
    assert nbytes < fp32_size_bytes(prog) / 2  # tiny model: the JSON header is a third of the file


def test_whole_network_program_round_trips_exactly(tmp_path):
    """Packed 4-bit codes, 8-bit first conv and heads, scales, biases: every value back bit for bit, and
    saving the loaded program again gives the identical bytes."""
    prog = random_qwnet_program(seed=4)
    path = tmp_path / "net.safetensors"
    save_program(prog, path, extra_metadata={"metrics": {"psnr_db": 1.5}})
    back = load_program(path)
    assert back.tensors == prog.tensors and back.heads == prog.heads and back.outputs == prog.outputs
    assert [type(o) for o in back.ops] == [type(o) for o in prog.ops]
    for a, b in zip(prog.convs() + prog.logit_convs(), back.convs() + back.logit_convs()):
        assert a.name == b.name and a.weight_bits == b.weight_bits
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
        assert torch.equal(a.weight_scale, b.weight_scale)
    x = torch.randint(0, 256, (1, 6, 8, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    ra, rb = run_reference(prog, x), run_reference(back, x)
    assert all(torch.equal(ra[n], rb[n]) for n in prog.outputs + prog.heads)
    again = tmp_path / "again.safetensors"
    save_program(back, again, extra_metadata={"metrics": {"psnr_db": 1.5}})
    assert again.read_bytes() == path.read_bytes()


def _rewrite(data: bytes, meta_changes=None, tensor_changes=None, fix_checksum=True) -> bytes:
    """Re-serialize an integer file with changed metadata / tensors (optionally keeping the checksum valid)."""
    import hashlib
    import json
    import struct

    from safetensors.torch import load, save

    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n])["__metadata__"]
    meta.update(meta_changes or {})
    tensors = load(data)
    tensors.update(tensor_changes or {})
    out = save(tensors, metadata=meta)
    if fix_checksum:
        (n,) = struct.unpack("<Q", out[:8])
        meta["payload_sha256"] = hashlib.sha256(out[8 + n:]).hexdigest()
        out = save(tensors, metadata=meta)
    return out


@pytest.fixture(scope="module")
def shipped_bytes():
    from qwplugin.runtime.weights import SHIPPED_DIR

    return (SHIPPED_DIR / "qwnet-int4.safetensors").read_bytes()


def test_shipped_file_loads_and_a_clean_rewrite_still_loads(shipped_bytes):
    from qwplugin.intexec.export import program_from_bytes

    program, meta = program_from_bytes(shipped_bytes)
    assert meta["format_version"] == "2" and len(program.heads) == 9
    program_from_bytes(_rewrite(shipped_bytes))  # the helper itself breaks nothing


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_changed_byte_is_refused(shipped_bytes, where):
    import struct

    from qwplugin.errors import InvalidArgument
    from qwplugin.intexec.export import program_from_bytes

    (n,) = struct.unpack("<Q", shipped_bytes[:8])
    pos = {"first": 8 + n, "middle": (8 + n + len(shipped_bytes)) // 2, "last": len(shipped_bytes) - 1}[where]
    data = bytearray(shipped_bytes)
    data[pos] ^= 0x10
    with pytest.raises(InvalidArgument, match="payload checksum mismatch"):
        program_from_bytes(bytes(data))


@pytest.mark.parametrize("changes,match", [
    ({"quant_spec": '{"version": "0"}'}, "quant spec version"),
    ({"format_version": "1"}, "unsupported integer model format"),
    ({"format": "qwplugin.weights"}, "unsupported integer model format"),
])
def test_wrong_spec_or_format_version_is_refused(shipped_bytes, changes, match):
    from qwplugin.errors import InvalidArgument
    from qwplugin.intexec.export import program_from_bytes

    with pytest.raises(InvalidArgument, match=match):
        program_from_bytes(_rewrite(shipped_bytes, changes))


def test_mismatched_shapes_are_refused(shipped_bytes):
    import json

    from qwplugin.errors import InvalidArgument
    from qwplugin.intexec.export import program_from_bytes

    # a tensor whose shape differs from the program (checksum recomputed, so only the shape check can catch it)
    with pytest.raises(InvalidArgument, match="filter.down0.bias has the wrong shape"):
        program_from_bytes(_rewrite(shipped_bytes, tensor_changes={"filter.down0.bias": torch.zeros(17, dtype=torch.int32)}))
    with pytest.raises(InvalidArgument, match="enc1_0.weight has the wrong shape"):
        program_from_bytes(_rewrite(shipped_bytes, tensor_changes={"enc1_0.weight": torch.zeros(64, 143, dtype=torch.uint8)}))
    # a model config whose layers differ from the program's
    config = json.loads(program_from_bytes(shipped_bytes)[1]["config"])
    config["encoder_channels"][-1] = 161
    with pytest.raises(InvalidArgument, match="does not match the model config"):
        program_from_bytes(_rewrite(shipped_bytes, {"config": json.dumps(config)}))
    config["encoder_channels"][-1], config["filter_bits"] = 160, 4
    with pytest.raises(InvalidArgument, match="layer filter.down0 does not match"):
        program_from_bytes(_rewrite(shipped_bytes, {"config": json.dumps(config)}))


def test_load_rejects_lfs_pointer(tmp_path):
    from qwplugin.errors import InvalidArgument

    p = tmp_path / "lfs.safetensors"
    p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n")
    with pytest.raises(InvalidArgument, match="LFS"):
        load_program(p)


def _quantized_tiny_model(seed=0):
    from qwplugin.model import build_model
    from qwplugin.quant import set_quantized

    torch.manual_seed(seed)
    model = build_model("tiny")
    set_quantized(model, True)
    with torch.no_grad():
        for c in model.features.convs.values():
            c.bias.normal_(0, 0.05)
        for q in model.features.act_quants.values():
            q.max_log.fill_(0.0)
    return model.eval()


def test_export_agrees_with_fake_quant_model():
    """Integer executor vs the fake-quantized float model: equal up to documented rounding differences.

    Bound: codes differ by at most 1 wherever they differ, on at most 1% of the values. A difference
    needs a real value within float32 rounding (~1e-6 relative) of a rounding boundary; one such flip
    can move a few downstream codes by one, hence a small fraction rather than zero.
    """
    model = _quantized_tiny_model()
    prog = export_extractor(model)
    x = torch.rand(2, 6, 24, 40, generator=torch.Generator().manual_seed(5))
    env = run_reference(prog, quantize_input(x, prog.input_spec.scale))
    with torch.no_grad():
        feats, scales = model.features(x)
    for name, f, s in zip(prog.outputs, feats, scales):
        fq_codes = torch.round(f / s)
        diff = (fq_codes - env[name].float()).abs()
        assert diff.max() <= 1
        assert (diff > 0).float().mean() <= 0.01
        assert env[name].float().std() > 0.5  # not a degenerate all-equal output
