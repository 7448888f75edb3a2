"""Export a quantization-aware QW-Net feature extractor to an :class:`IntProgram`; save and load it.

File format (safetensors, never pickles), format ``qwplugin-int4`` version 1:

- per conv ``<name>``: ``<name>.weight`` uint8 (Cout, ceil(Cin*k*k / 2)) with 4-bit codes packed two per
  byte (:mod:`qwplugin.intexec.packing`, flattened in (Cin, ky, kx) order), or int8 (Cout, Cin, k, k) for
  8-bit weights; ``<name>.weight_scale`` float32 (Cout,); ``<name>.bias`` int32 (Cout,) codes;
- ``scales`` float32 (T,): the activation scale of every tensor, in the order of the metadata's tensor list;
- metadata (strings): ``format``, ``format_version``, ``program`` (JSON: tensors, ops, outputs,
  pad_multiple) and ``model_config`` (JSON).
"""

from __future__ import annotations

import json
import os

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.intexec.packing import pack_int4, unpack_int4
from qwplugin.intexec.program import Concat, Conv, IntProgram, MaxPool, TensorSpec, Upsample

FORMAT = "qwplugin-int4"
FORMAT_VERSION = "1"


def _scale(t: torch.Tensor) -> float:
    return float(t.detach().to(torch.float32))


@torch.no_grad()
def export_extractor(model: torch.nn.Module) -> IntProgram:
    """Integer program of a QW-Net's U-Net feature extractor (``model.features`` or the extractor itself).

    Reads each quantizer's ``to_int``/``scale`` (so the model need not be in fake-quant mode: the codes are
    those the fake-quant forward would use). Layer names follow :mod:`qwplugin.model.unet`.

    Args:
        model: a :class:`~qwplugin.model.QWNet` or its ``FeatureExtractor``.

    Returns:
        A validated :class:`IntProgram`; outputs are the extractor's features, finest first.

    Raises:
        InvalidArgument: the model has no U-Net feature extractor of the expected structure.
    """
    fx = getattr(model, "features", model)
    if not all(hasattr(fx, a) for a in ("convs", "act_quants", "out_quant", "input_quant", "config")):
        raise InvalidArgument("not a QW-Net feature extractor", field="model",
                              expected="QWNet or qwplugin.model.unet.FeatureExtractor", actual=type(fx).__name__)
    if (getattr(fx, "pool", "max"), getattr(fx, "upsample", "nearest")) != ("max", "nearest"):
        raise InvalidArgument("the integer program has only max-pool and nearest upsampling", field="model",
                              expected="pool 'max', upsample 'nearest' (QW-Net)",
                              actual=f"pool {fx.pool!r}, upsample {fx.upsample!r} (released black-box U-Net)")
    cfg = fx.config
    tensors: dict[str, TensorSpec] = {}
    ops: list = []
    tensors["input"] = TensorSpec("input", cfg.in_channels, _scale(fx.input_quant.scale()), fx.input_quant.bits)

    def conv(name: str, src: str) -> str:
        layer = fx.convs[name]
        quant = fx.act_quants[fx.out_quant[name]]
        in_scale = torch.tensor(tensors[src].scale, dtype=torch.float32)
        w, ws = layer.weight_to_int()
        if layer.bias is not None:
            b, _ = layer.bias_to_int(in_scale)
        else:
            b = torch.zeros(w.shape[0], dtype=torch.int32)
        tensors[name] = TensorSpec(name, int(w.shape[0]), _scale(quant.scale()), quant.bits)
        ops.append(Conv(name, src, name, w.contiguous(), ws.to(torch.float32).contiguous(), b.contiguous(),
                        layer.weight_bits))
        return name

    def unary(op_cls, name: str, src: str) -> str:
        spec = tensors[src]
        tensors[name] = TensorSpec(name, spec.channels, spec.scale, spec.bits)
        ops.append(op_cls(src, name))
        return name

    x = "input"
    skips = []
    for d in range(cfg.levels):
        if d > 0:
            x = unary(MaxPool, f"enc{d}_pool", x)
        for i in range(cfg.encoder_convs[d]):
            x = conv(f"enc{d}_{i}", x)
        skips.append(x)
    outputs = [None] * cfg.levels
    outputs[-1] = x
    y = x
    for d in range(cfg.levels - 2, -1, -1):
        up = unary(Upsample, f"dec{d}_up", y)
        cat = f"dec{d}_cat"
        skip = tensors[skips[d]]
        tensors[cat] = TensorSpec(cat, skip.channels + tensors[up].channels, skip.scale, skip.bits)
        ops.append(Concat((skips[d], up), cat))
        y = conv(f"dec{d}_proj", cat)
        for i in range(cfg.decoder_convs[d]):
            y = conv(f"dec{d}_{i}", y)
        outputs[d] = y
    program = IntProgram("input", tensors, ops, outputs, pad_multiple=cfg.size_multiple, config=cfg.to_dict())
    program.validate()
    return program


def _op_to_json(op) -> dict:
    if isinstance(op, Conv):
        return {"type": "conv", "name": op.name, "src": op.src, "dst": op.dst, "weight_bits": op.weight_bits,
                "shape": list(op.weight.shape)}
    if isinstance(op, Concat):
        return {"type": "concat", "srcs": list(op.srcs), "dst": op.dst}
    return {"type": "maxpool" if isinstance(op, MaxPool) else "upsample", "src": op.src, "dst": op.dst}


def save_program(program: IntProgram, path: str | os.PathLike) -> int:
    """Write ``program`` as safetensors; returns the file size in bytes."""
    from safetensors.torch import save_file

    program.validate()
    names = list(program.tensors)
    data = {"scales": torch.tensor([program.tensors[n].scale for n in names], dtype=torch.float32)}
    for op in program.convs():
        if op.weight_bits <= 4:
            data[f"{op.name}.weight"] = pack_int4(op.weight.flatten(1))
        else:
            data[f"{op.name}.weight"] = op.weight.contiguous()
        data[f"{op.name}.weight_scale"] = op.weight_scale.contiguous()
        data[f"{op.name}.bias"] = op.bias.contiguous()
    meta_program = {
        "input_name": program.input_name,
        "tensors": [{"name": n, "channels": program.tensors[n].channels, "bits": program.tensors[n].bits}
                    for n in names],
        "ops": [_op_to_json(op) for op in program.ops],
        "outputs": program.outputs,
        "pad_multiple": program.pad_multiple,
    }
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "program": json.dumps(meta_program),
                "model_config": json.dumps(program.config)}
    save_file(data, str(path), metadata=metadata)
    return os.path.getsize(path)


def load_program(path: str | os.PathLike) -> IntProgram:
    """Read a program written by :func:`save_program`.

    Raises:
        InvalidArgument: missing file, Git LFS pointer, wrong format or version, inconsistent contents.
    """
    from safetensors import safe_open

    path = str(path)
    if not os.path.isfile(path):
        raise InvalidArgument("integer model file not found", field="path", expected="an existing file",
                              actual=path)
    with open(path, "rb") as f:
        if f.read(40).startswith(b"version https://git-lfs"):
            raise InvalidArgument("file is a Git LFS pointer, not weights (run git lfs pull)", field="path",
                                  expected="safetensors", actual="Git LFS pointer")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise InvalidArgument("not a safetensors file", field="path", expected="safetensors",
                              actual=f"{type(exc).__name__}: {exc}") from exc
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise InvalidArgument("unsupported integer model format", field="path",
                              expected=f"{FORMAT} v{FORMAT_VERSION}",
                              actual=f"{meta.get('format')} v{meta.get('format_version')}")
    prog = json.loads(meta["program"])
    scales = tensors["scales"].tolist()
    specs = {t["name"]: TensorSpec(t["name"], t["channels"], s, t["bits"]) for t, s in zip(prog["tensors"], scales)}
    ops = []
    for o in prog["ops"]:
        if o["type"] == "conv":
            shape = o["shape"]
            w = tensors[f"{o['name']}.weight"]
            if o["weight_bits"] <= 4:
                k = shape[1] * shape[2] * shape[3]
                w = unpack_int4(w, k).view(*shape)
            ops.append(Conv(o["name"], o["src"], o["dst"], w, tensors[f"{o['name']}.weight_scale"],
                            tensors[f"{o['name']}.bias"], o["weight_bits"]))
        elif o["type"] == "concat":
            ops.append(Concat(tuple(o["srcs"]), o["dst"]))
        else:
            ops.append((MaxPool if o["type"] == "maxpool" else Upsample)(o["src"], o["dst"]))
    program = IntProgram(prog["input_name"], specs, ops, prog["outputs"], prog["pad_multiple"],
                         json.loads(meta.get("model_config", "{}")))
    program.validate()
    return program


def fp32_size_bytes(program: IntProgram) -> int:
    """Bytes of the same extractor stored as FP32 weights and biases (for the size comparison)."""
    return sum(4 * (op.weight.numel() + op.bias.numel()) for op in program.convs())
