"""Export a quantization-aware QW-Net to an :class:`IntProgram`; save and load it as the shipped int4 file.

File format (safetensors, never pickles), format ``qwplugin-int4`` version 2:

- per conv ``<name>`` (U-Net convs, and the filter network's kernel-predicting convs ``filter.<name>``):
  ``<name>.weight`` uint8 (Cout, ceil(Cin*k*k / 2)) with 4-bit codes packed two per byte
  (:mod:`qwplugin.intexec.packing`, flattened in (Cin, ky, kx) order), or int8 (Cout, Cin, k, k) for 8-bit
  weights (the first conv, the filter convs); ``<name>.weight_scale`` float32 (Cout,); ``<name>.bias``
  int32 (Cout,) codes on the accumulator grid (zero points are 0 everywhere);
- ``scales`` float32 (T,): the activation scale of every tensor, in the order of the metadata's tensor list;
- metadata (strings): ``format``, ``format_version``, ``quant_spec`` (JSON, with its own ``version``:
  the integer arithmetic the file assumes, :data:`QUANT_SPEC`), ``program`` (JSON: tensors, ops, outputs,
  heads, pad_multiple), ``config`` (the model's ``ModelConfig.to_dict()`` JSON), ``precision`` = ``int4``,
  ``payload_sha256`` (sha256 of every byte after the header: any changed tensor byte is refused even
  without a manifest), ``self_test`` (the digest of the reference executor's answer on the backends'
  self-test input, :func:`qwplugin.intexec.select.known_answer`) and optional ``quantization``, ``training``, ``metrics``, ``float_checkpoint``.

Loading refuses (:class:`~qwplugin.errors.InvalidArgument`) a Git LFS pointer, a file that is not
safetensors, another format or format version, another quant-spec version, a payload checksum mismatch,
tensors whose shapes or dtypes differ from the program's, and a program whose layers do not match the
model config (channels, kernel sizes, bit widths of every layer).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import torch

from qwplugin.errors import InvalidArgument, QWPluginError
from qwplugin.intexec.packing import pack_int4, unpack_int4
from qwplugin.intexec.program import LOGITS, Concat, Conv, ConvLogits, IntProgram, MaxPool, TensorSpec, Upsample

FORMAT = "qwplugin-int4"
FORMAT_VERSION = "2"
QUANT_SPEC_VERSION = "2"
QUANT_SPEC = {
    "version": QUANT_SPEC_VERSION,
    "weights": "symmetric per output channel, zero point 0, int8 codes (4-bit packed two per byte)",
    "activations": "unsigned per tensor, zero point 0; network input 8-bit, conv outputs 4-bit",
    "bias": "int32 codes on the accumulator grid s_acc = f32(s_in * s_w)",
    "requantization": "q = clamp(round_half_even(f32(f32(f32(acc) * m) + b_o)), 0, 15), m = f32(s_acc / s_out), "
                      "b_o = f32(f32(q_b * s_acc) / s_out) (oneDNN's int8 conv arithmetic; version 1 was FBGEMM's "
                      "round(f32(f32(acc) + beta) * m))",
    "logits": "f32(acc + q_b) * s_acc (filter network 1x1 convs)",
    "reference": "qwplugin.intexec.reference",
}
"""The integer arithmetic a file assumes (recorded in its metadata; another ``version`` is refused)."""


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


@torch.no_grad()
def export_network(model: torch.nn.Module) -> IntProgram:
    """Whole-network integer program of a QW-Net: the extractor plus the filter network's 1x1 convs.

    The kernel-predicting convs ``down{d}`` / ``up{d}`` become :class:`ConvLogits` heads named
    ``filter.down{d}`` / ``filter.up{d}`` reading the level-d feature codes (their bias codes on the grid
    of that feature tensor's scale, as the fake-quant forward rounds them).

    Args:
        model: a :class:`~qwplugin.model.QWNet` (quantization-aware; the mode does not matter).

    Returns:
        A validated :class:`IntProgram` whose ``heads`` are ``filter.down0..`` then ``filter.up0..``.

    Raises:
        InvalidArgument: not a QW-Net (no ``filter`` network) or an extractor the program cannot hold.
    """
    filt = getattr(model, "filter", None)
    if filt is None or not hasattr(filt, "down") or not hasattr(filt, "up"):
        raise InvalidArgument("not a QW-Net (no kernel-predicting filter network)", field="model",
                              expected="qwplugin.model.QWNet", actual=type(model).__name__)
    program = export_extractor(model)
    levels = len(program.outputs)
    heads = [(f"down{d}", filt.down[f"down{d}"], d) for d in range(levels)]
    heads += [(f"up{d}", filt.up[f"up{d}"], d) for d in range(levels - 1)]
    for short, layer, d in heads:
        src = program.outputs[d]
        name = f"filter.{short}"
        in_scale = torch.tensor(program.tensors[src].scale, dtype=torch.float32)
        w, ws = layer.weight_to_int()
        b = layer.bias_to_int(in_scale)[0] if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.int32)
        program.tensors[name] = TensorSpec(name, int(w.shape[0]), 1.0, 32, LOGITS)
        program.ops.append(ConvLogits(name, src, name, w.contiguous(), ws.to(torch.float32).contiguous(),
                                      b.contiguous(), layer.weight_bits))
        program.heads.append(name)
    program.validate()
    return program


def expected_layers(config: dict) -> dict[str, tuple[tuple[int, int, int, int], int]]:
    """Every layer a QW-Net of ``config`` (``ModelConfig.to_dict()``) has: name -> ((Cout, Cin, k, k), bits).

    Raises:
        InvalidArgument: ``config`` is not a valid QW-Net configuration.
    """
    from qwplugin.model.config import ModelConfig

    try:
        cfg = ModelConfig.from_dict(config)
    except (QWPluginError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidArgument("bad model config in the integer file", field="model",
                              expected="a valid ModelConfig dict", actual=str(exc)) from None
    chans, layers = cfg.encoder_channels, {}
    cin = cfg.in_channels
    for d in range(cfg.levels):
        for i in range(cfg.encoder_convs[d]):
            bits = cfg.first_conv_bits if (d, i) == (0, 0) else cfg.weight_bits
            layers[f"enc{d}_{i}"] = ((chans[d], cin, 3, 3), bits)
            cin = chans[d]
    for d in range(cfg.levels - 2, -1, -1):
        layers[f"dec{d}_proj"] = ((chans[d], chans[d] + chans[d + 1], 1, 1), cfg.weight_bits)
        for i in range(cfg.decoder_convs[d]):
            layers[f"dec{d}_{i}"] = ((chans[d], chans[d], 3, 3), cfg.weight_bits)
    if cfg.kind == "qwnet":
        for d in range(cfg.levels):
            full = 27 if cfg.taa_candidate is not None else 18  # 3 or 2 images filtered at full resolution
            layers[f"filter.down{d}"] = ((full if d == 0 else 9, chans[d], 1, 1), cfg.filter_bits)
        for d in range(cfg.levels - 1):
            layers[f"filter.up{d}"] = ((10, chans[d], 1, 1), cfg.filter_bits)
    return layers


def _op_to_json(op) -> dict:
    if isinstance(op, (Conv, ConvLogits)):
        return {"type": "conv" if isinstance(op, Conv) else "conv_logits", "name": op.name, "src": op.src,
                "dst": op.dst, "weight_bits": op.weight_bits, "shape": list(op.weight.shape)}
    if isinstance(op, Concat):
        return {"type": "concat", "srcs": list(op.srcs), "dst": op.dst}
    return {"type": "maxpool" if isinstance(op, MaxPool) else "upsample", "src": op.src, "dst": op.dst}


def _payload_digest(data: bytes) -> str:
    (length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + length:]).hexdigest()


def _canonical(data: bytes) -> bytes:
    """The same safetensors file with its JSON header in sorted-key order (safetensors writes its metadata
    map in an arbitrary order), so one program always gives the same bytes and the same sha256."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.dumps(json.loads(data[8:8 + length]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # safetensors pads its header with spaces to 8-byte alignment
    return struct.pack("<Q", len(header)) + header + data[8 + length:]


def program_to_bytes(program: IntProgram, extra_metadata: dict | None = None) -> bytes:
    """Serialize ``program`` (format v2, see the module docstring) to safetensors bytes.

    Args:
        program: a valid program; ``program.config`` is written as the ``config`` metadata.
        extra_metadata: more metadata keys (``training``, ``metrics``, ``quantization``...); non-strings are
            stored as JSON.

    Returns:
        The file's bytes; deterministic (header keys sorted): the same program gives the same sha256.

    Raises:
        InvalidArgument: the program is inconsistent.
    """
    from safetensors.torch import save as save_bytes

    program.validate()
    names = list(program.tensors)
    data = {"scales": torch.tensor([program.tensors[n].scale for n in names], dtype=torch.float32)}
    for op in program.convs() + program.logit_convs():
        if op.weight_bits <= 4:
            data[f"{op.name}.weight"] = pack_int4(op.weight.flatten(1))
        else:
            data[f"{op.name}.weight"] = op.weight.contiguous()
        data[f"{op.name}.weight_scale"] = op.weight_scale.contiguous()
        data[f"{op.name}.bias"] = op.bias.contiguous()
    meta_program = {
        "input_name": program.input_name,
        "tensors": [{"name": n, "channels": program.tensors[n].channels, "bits": program.tensors[n].bits,
                     "kind": program.tensors[n].kind} for n in names],
        "ops": [_op_to_json(op) for op in program.ops],
        "outputs": program.outputs,
        "heads": program.heads,
        "pad_multiple": program.pad_multiple,
    }
    from qwplugin.intexec.select import known_answer

    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "quant_spec": json.dumps(QUANT_SPEC),
                "program": json.dumps(meta_program), "config": json.dumps(program.config), "precision": "int4",
                "self_test": json.dumps(known_answer(program))}
    for key, value in (extra_metadata or {}).items():
        metadata[key] = value if isinstance(value, str) else json.dumps(value)
    # The payload (tensor bytes) does not depend on the metadata: digest it, then write it into the header.
    metadata["payload_sha256"] = _payload_digest(save_bytes(data, metadata=metadata))
    out = _canonical(save_bytes(data, metadata=metadata))
    assert _payload_digest(out) == metadata["payload_sha256"]
    return out


def save_program(program: IntProgram, path: str | os.PathLike, extra_metadata: dict | None = None,
                 update_manifest: bool = False) -> int:
    """Write ``program`` as a v2 integer file (atomically); returns the file size in bytes.

    Args:
        program: the program; extra_metadata: see :func:`program_to_bytes`.
        update_manifest: record the file's sha256 and size in ``manifest.json`` next to it.

    Raises:
        InvalidArgument: the program is inconsistent.
    """
    from qwplugin.runtime.weights import record_in_manifest, write_atomic

    data = program_to_bytes(program, extra_metadata)
    write_atomic(Path(path), data)
    if update_manifest:
        record_in_manifest(Path(path), data)
    return len(data)


def _refuse(msg: str, field: str, expected: str, actual: str) -> InvalidArgument:
    return InvalidArgument(msg, field=field, expected=expected, actual=actual)


def program_from_bytes(data: bytes, source: str = "<bytes>", field: str = "path") -> tuple[IntProgram, dict]:
    """Parse and verify a v2 integer file's bytes: ``(program, metadata)`` (metadata values as strings).

    Args:
        data: the file's bytes.
        source: the file name, for messages.
        field: the ``InvalidArgument.field`` to report (``"path"``; the runtime uses ``"model"``).

    Raises:
        InvalidArgument: LFS pointer, not safetensors, wrong format / format version / quant-spec version,
            payload checksum mismatch, tensor shapes or dtypes that differ from the program, or layers that
            do not match the model config.
    """
    from safetensors.torch import load as load_bytes

    if data.startswith(b"version https://git-lfs"):
        raise _refuse(f"{source} is a Git LFS pointer, not weights (run git lfs pull)", field, "safetensors",
                      "Git LFS pointer")
    try:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + length])
        meta = header.get("__metadata__") or {}
        tensors = load_bytes(data)
        if not isinstance(meta, dict):
            raise TypeError("__metadata__ is not an object")
    except Exception as exc:  # safetensors raises its own error types (Rust panics included)
        raise _refuse(f"{source} is not a readable safetensors file", field, "safetensors",
                      f"{type(exc).__name__}: {exc}") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise _refuse(f"{source}: unsupported integer model format", field, f"{FORMAT} v{FORMAT_VERSION}",
                      f"{meta.get('format')} v{meta.get('format_version')}")
    try:
        spec = json.loads(meta.get("quant_spec", "{}"))
        prog = json.loads(meta["program"])
        config = json.loads(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(f"{source}: missing or bad program metadata", field, "JSON quant_spec, program, config",
                      str(exc)) from None
    if not isinstance(spec, dict) or str(spec.get("version")) != QUANT_SPEC_VERSION:
        raise _refuse(f"{source}: the file assumes another integer arithmetic (quant spec version)", field,
                      f"quant_spec version {QUANT_SPEC_VERSION}",
                      str(spec.get("version") if isinstance(spec, dict) else spec))
    digest = _payload_digest(data)
    if meta.get("payload_sha256") != digest:
        raise _refuse(f"{source}: payload checksum mismatch (corrupt, truncated or tampered file)", field,
                      f"payload sha256 {meta.get('payload_sha256')}", f"sha256 {digest}")
    try:
        known = json.loads(meta.get("self_test", "{}"))
        program = _program_from_parts(prog, tensors, config, source, field, known if isinstance(known, dict) else {})
    except InvalidArgument:
        raise
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise _refuse(f"{source}: program metadata does not describe its tensors", field,
                      "a consistent program", f"{type(exc).__name__}: {exc}") from None
    return program, meta


def _program_from_parts(prog: dict, tensors: dict, config: dict, source: str, field: str,
                        known: dict | None = None) -> IntProgram:
    scales = tensors["scales"]
    if scales.dtype != torch.float32 or tuple(scales.shape) != (len(prog["tensors"]),):
        raise _refuse(f"{source}: scales do not match the tensor list", field,
                      f"float32 ({len(prog['tensors'])},)", f"{scales.dtype} {tuple(scales.shape)}")
    specs = {t["name"]: TensorSpec(t["name"], t["channels"], s, t["bits"], t.get("kind", "codes"))
             for t, s in zip(prog["tensors"], scales.tolist())}
    layers = expected_layers(config) if config.get("kind") in ("qwnet", "unet") else None
    ops = []
    for o in prog["ops"]:
        if o["type"] in ("conv", "conv_logits"):
            shape, bits, name = tuple(o["shape"]), o["weight_bits"], o["name"]
            if layers is not None and layers.get(name) != (shape, bits):
                raise _refuse(f"{source}: layer {name} does not match the model config", field,
                              f"{name}: shape {layers.get(name, ('absent',))[0]}, {layers.get(name, (0, '?'))[1]} bits",
                              f"shape {shape}, {bits} bits")
            w = tensors[f"{name}.weight"]
            want = (torch.uint8, (shape[0], (shape[1] * shape[2] * shape[3] + 1) // 2)) if bits <= 4 \
                else (torch.int8, shape)
            for key, dtype, shp in ((".weight",) + want, (".weight_scale", torch.float32, (shape[0],)),
                                    (".bias", torch.int32, (shape[0],))):
                t = tensors[name + key]
                if t.dtype != dtype or tuple(t.shape) != tuple(shp):
                    raise _refuse(f"{source}: tensor {name + key} has the wrong shape or dtype", field,
                                  f"{dtype} {tuple(shp)}", f"{t.dtype} {tuple(t.shape)}")
            if bits <= 4:
                w = unpack_int4(w, shape[1] * shape[2] * shape[3]).view(*shape)
            cls = Conv if o["type"] == "conv" else ConvLogits
            ops.append(cls(name, o["src"], o["dst"], w, tensors[f"{name}.weight_scale"], tensors[f"{name}.bias"], bits))
        elif o["type"] == "concat":
            ops.append(Concat(tuple(o["srcs"]), o["dst"]))
        elif o["type"] in ("maxpool", "upsample"):
            ops.append((MaxPool if o["type"] == "maxpool" else Upsample)(o["src"], o["dst"]))
        else:
            raise _refuse(f"{source}: unknown op type", field, "conv, conv_logits, concat, maxpool, upsample",
                          str(o["type"]))
    if layers is not None:
        have = {op.name for op in ops if isinstance(op, (Conv, ConvLogits))}
        if have != set(layers):
            raise _refuse(f"{source}: the program's layers do not match the model config", field,
                          f"{len(layers)} layers", f"missing {sorted(set(layers) - have)[:4]}, "
                                                   f"unexpected {sorted(have - set(layers))[:4]}")
    program = IntProgram(prog["input_name"], specs, ops, prog["outputs"], prog["pad_multiple"], config,
                         list(prog.get("heads", [])), known_answer=dict(known or {}))
    try:
        program.validate()
    except InvalidArgument as exc:
        raise _refuse(f"{source}: inconsistent program ({exc})", field, exc.expected or "a valid program",
                      exc.actual or "") from None
    return program


def load_program(path: str | os.PathLike) -> IntProgram:
    """Read a program written by :func:`save_program` (see :func:`program_from_bytes` for the checks).

    Raises:
        InvalidArgument: missing file, Git LFS pointer, wrong format or version, bad checksum, inconsistent
            contents (``field="path"``).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise InvalidArgument("integer model file not found", field="path", expected="an existing file",
                              actual=path)
    with open(path, "rb") as f:
        data = f.read()
    return program_from_bytes(data, path)[0]


def fp32_size_bytes(program: IntProgram) -> int:
    """Bytes of the same convolutions stored as FP32 weights and biases (for the size comparison)."""
    return sum(4 * (op.weight.numel() + op.bias.numel()) for op in program.convs() + program.logit_convs())
