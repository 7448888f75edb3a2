"""Loading a reconstruction model from a built-in name or a weights file (and saving one).

File format: a ``safetensors`` file (never a pickle) holding the model's ``state_dict`` and a metadata
header of JSON strings:

==================  =========================================================================  ========
key                 value                                                                      required
==================  =========================================================================  ========
``format``          ``"qwplugin.weights"``                                                      no
``format_version``  ``"1"`` (a newer major version is refused)                                  no
``config``          ``ModelConfig.to_dict()`` as JSON: rebuilds the exact layers                 **yes**
``precision``       ``"fp32"`` or ``"int4"``: what the weights were trained for (QAT or not)     no
``quantization``    JSON quantization spec; ``training``: training data / steps; ``metrics``  no
==================  =========================================================================  ========

Integrity: a ``manifest.json`` next to the file maps file names to their sha256,
``{"files": {"qwnet-fp32.safetensors": {"sha256": "<hex>", "bytes": 123}}}``. Shipped weights (built-in
names, in ``qwplugin/weights/``) must be listed there; for a user's file the manifest is checked when it
exists and its absence is reported in ``backend_info``. A Git LFS pointer, a truncated or corrupt file, a
checksum mismatch, a wrong config or missing/unexpected tensors each raise
:class:`~qwplugin.errors.InvalidArgument` (``field="model"``) saying which.

**Integer files.** A file whose metadata ``format`` is ``qwplugin-int4`` (:mod:`qwplugin.intexec.export`,
the shipped ``qwnet-int4.safetensors``) holds the exported integer program, not a state dict: it loads
as :class:`~qwplugin.intexec.network.IntegerQWNet` (no float feature extractor is built), after the same
manifest check and the integer format's own checks (format and quant-spec version, payload sha256,
tensor shapes against the program and the program against its model config). The float QAT state dict
it was exported from ships next to it as ``<name>-int4-qat.safetensors`` (for training, fine-tuning and
``int4_backend="fakequant"``).

Built-in names (:data:`MODEL_NAMES`) resolve to ``qwplugin/weights/<name>-<precision>.safetensors``
(the other precision's file is used when only that one exists; an integer file never stands in for
``fp32``). **When no trained weights exist for a
name, the model is built with a seeded random initialisation and ``backend_info`` says
"untrained: random init"**: the output is then not a reconstruction, and the runtime does not pretend.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from qwplugin.errors import InvalidArgument, QWPluginError
from qwplugin.model import ModelConfig, build_model

FORMAT = "qwplugin.weights"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
"""Where built-in weights live inside the package (``qwplugin/weights/``)."""

MODEL_NAMES = {
    "qwnet": ("qwnet", "paper", {}),
    "qwnet-fast": ("qwnet", "fast", {}),
    "qwnet-tiny": ("qwnet", "tiny", {}),
    "qwnet-fast-up2": ("qwnet", "fast", {"upscale_factor": 2.0, "taa_candidate": "tuned", "filter_init": "taa"}),
    "qwnet-tiny-up2": ("qwnet", "tiny", {"upscale_factor": 2.0}),
    "unet": ("unet", "paper", {}),
    "unet-tiny": ("unet", "tiny", {}),
}
"""Built-in model names -> (``ModelConfig.kind``, ``ModelConfig.preset`` name, overridden fields). The
``-up2`` names are temporal-upscaling models (display = 2 x render per axis, :mod:`qwplugin.model.upscale`);
the overrides build the untrained random initialisation when no file is shipped (a shipped file carries
its own config)."""

_LFS_MAGIC = b"version https://git-lfs"
INTEGER_FORMAT = "qwplugin-int4"
"""``format`` metadata of integer program files (:data:`qwplugin.intexec.export.FORMAT`)."""


@dataclass
class LoadedModel:
    """A model ready to run, and an honest description of where its weights came from.

    Attributes:
        model: the ``nn.Module`` (``forward(color_nw, history_nw, depth=None)``), on the CPU, eval mode.
        config: its :class:`~qwplugin.model.ModelConfig`.
        name: the built-in name or the file path it was requested as.
        weights: one line for humans, e.g. ``"trained: qwnet-fp32.safetensors (sha256 1a2b3c4d...)"`` or
            ``"untrained: random init (seed 0)"``.
        trained: False for a random initialisation.
        path: the weights file, or None.
        sha256: hex digest of the file, or None.
        metadata: the file's parsed metadata (values JSON-decoded where possible).
        notes: caveats (checksum not verified, weights trained for the other precision, ...).
        integer: True when the file was an integer program (``model`` is then an ``IntegerQWNet``).
    """

    model: torch.nn.Module
    config: ModelConfig
    name: str
    weights: str
    trained: bool
    path: Path | None = None
    sha256: str | None = None
    metadata: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    integer: bool = False


def is_weights_path(model: str) -> bool:
    """Whether ``ContextDesc.model`` names a file rather than a built-in model."""
    return model not in MODEL_NAMES and (model.endswith(".safetensors") or os.sep in model or "/" in model)


def load_model(model: str, precision: str = "fp32", *, seed: int = 0, shipped_dir: Path | None = None,
               integer: bool = True) -> LoadedModel:
    """Resolve ``model`` (a built-in name or a weights path) to a runnable model.

    Args:
        model: a key of :data:`MODEL_NAMES` or a path to a ``.safetensors`` file.
        precision: ``"fp32"`` or ``"int4"``; picks the shipped file for a built-in name.
        seed: seed of the random initialisation used when no trained weights exist (the global torch RNG
            is left untouched).
        shipped_dir: folder of the built-in weights (tests point it elsewhere); default :data:`SHIPPED_DIR`.
        integer: for ``precision="int4"``, prefer the integer file ``<name>-int4``; False prefers the float
            QAT state dict ``<name>-int4-qat`` (the fake-quant simulation needs the float model).

    Raises:
        InvalidArgument: unknown name, missing file, Git LFS pointer, bad checksum, corrupt file, bad
            metadata, or tensors that do not fit the config (``field="model"`` in every case).
    """
    if is_weights_path(model):
        return load_weights_file(Path(model), name=model, require_manifest=False)
    if model not in MODEL_NAMES:
        raise InvalidArgument("unknown model name (or a weights path not ending in .safetensors)",
                              field="model",
                              expected="one of " + ", ".join(MODEL_NAMES) + " or a .safetensors path",
                              actual=repr(model))
    folder = SHIPPED_DIR if shipped_dir is None else Path(shipped_dir)
    other = "int4" if precision == "fp32" else "fp32"
    if precision == "int4":
        own = [f"{model}-int4", f"{model}-int4-qat"] if integer else [f"{model}-int4-qat", f"{model}-int4"]
        candidates = [folder / f"{n}.safetensors" for n in own] + [folder / f"{model}-fp32.safetensors"]
    else:
        candidates = [folder / f"{model}-fp32.safetensors", folder / f"{model}-int4-qat.safetensors",
                      folder / f"{model}-int4.safetensors"]
    for path in candidates:
        if path.exists():
            loaded = load_weights_file(path, name=model, require_manifest=True)
            if loaded.integer and precision == "fp32":
                continue  # integer codes cannot run as fp32
            if not path.name.startswith(f"{model}-{precision}"):
                loaded.notes.append(f"no {precision} weights shipped for {model!r}; "
                                    f"using the {other} weights")
            return loaded
    kind, preset, overrides = MODEL_NAMES[model]
    config = ModelConfig.preset(preset, kind=kind, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(config)
    net.eval()
    return LoadedModel(model=net, config=config, name=model, weights=f"untrained: random init (seed {seed})",
                       trained=False, notes=[f"no trained weights shipped for {model!r} (looked for "
                                             f"{candidates[0].name} in {folder})"])


def load_weights_file(path: Path, *, name: str | None = None, require_manifest: bool = False) -> LoadedModel:
    """Load and verify one weights file (see the module docstring for the checks).

    Raises:
        InvalidArgument: ``field="model"``, naming the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument("weights file not found", field="model",
                              expected="an existing .safetensors file", actual=str(path))
    data = path.read_bytes()
    if data.startswith(_LFS_MAGIC):
        raise InvalidArgument(f"{path} is a Git LFS pointer, not the weights: run `git lfs pull`",
                              field="model", expected="safetensors bytes", actual="Git LFS pointer text")
    digest = hashlib.sha256(data).hexdigest()
    notes = _verify_manifest(path, digest, len(data), require_manifest)
    metadata = _read_metadata(path, data)
    if metadata.get("format") == INTEGER_FORMAT:
        return _load_integer_file(path, data, digest, metadata, name, notes)
    try:
        tensors = load_safetensors_bytes(data)
    except Exception as exc:  # safetensors raises its own error types (Rust panics included)
        raise InvalidArgument(f"{path} is not a readable safetensors file (truncated or corrupt?)",
                              field="model", expected="a valid safetensors file", actual=str(exc)) from None
    if "config" not in metadata:
        raise InvalidArgument(f"{path} has no 'config' in its metadata", field="model",
                              expected="metadata key 'config' (ModelConfig.to_dict() JSON)",
                              actual="keys " + ", ".join(sorted(metadata)))
    try:
        if not isinstance(metadata["config"], dict):
            raise TypeError(f"config is a JSON {type(metadata['config']).__name__}, not an object")
        config = ModelConfig.from_dict(metadata["config"])
    except (QWPluginError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidArgument(f"{path}: bad model config in metadata", field="model",
                              expected="a valid ModelConfig dict", actual=str(exc)) from None
    _check_tensors_finite(tensors, path)
    net = build_model(config)
    _load_state(net, tensors, path)
    net.eval()
    trained_for = metadata.get("precision")
    return LoadedModel(model=net, config=config, name=name or str(path),
                       weights=f"trained: {path.name} (sha256 {digest[:12]}...)", trained=True, path=path,
                       sha256=digest, metadata=metadata,
                       notes=notes + ([f"weights trained for {trained_for}"] if trained_for else []))


def save_weights(path: str | os.PathLike, model: torch.nn.Module, *, precision: str,
                 extra_metadata: dict | None = None, update_manifest: bool = True) -> str:
    """Write ``model`` (with ``.config``) as a weights file and record its sha256 in ``manifest.json``.

    Args:
        path: destination ``.safetensors`` path (written atomically).
        model: a model from :func:`~qwplugin.model.build_model`.
        precision: ``"fp32"`` or ``"int4"``: what the weights were trained for.
        extra_metadata: more metadata keys (``quantization``, ``training``, ``metrics``...); values that
            are not strings are stored as JSON.
        update_manifest: add/replace the file's entry in the manifest of its folder.

    Returns:
        The file's sha256 hex digest.

    Raises:
        InvalidArgument: ``model`` has no ``config`` or ``precision`` is unknown.
    """
    if not isinstance(getattr(model, "config", None), ModelConfig):
        raise InvalidArgument("model must carry its ModelConfig as .config", field="model",
                              expected="a model from build_model", actual=type(model).__name__)
    if precision not in ("fp32", "int4"):
        raise InvalidArgument("unknown precision", field="precision", expected="fp32 or int4",
                              actual=repr(precision))
    path = Path(path)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "config": json.dumps(model.config.to_dict()), "precision": precision}
    for key, value in (extra_metadata or {}).items():
        metadata[key] = value if isinstance(value, str) else json.dumps(value)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    data = save_safetensors_bytes(tensors, metadata=metadata)
    _atomic_write(path, data)
    digest = hashlib.sha256(data).hexdigest()
    if update_manifest:
        record_in_manifest(path, data)
    return digest


def record_in_manifest(path: Path, data: bytes) -> str:
    """Add/replace ``path``'s entry (sha256 and size of ``data``, its bytes) in ``manifest.json`` next to it.

    Returns:
        The sha256 hex digest.

    Raises:
        InvalidArgument: the existing manifest is unreadable.
    """
    path = Path(path)
    digest = hashlib.sha256(data).hexdigest()
    manifest_path = path.parent / MANIFEST_NAME
    manifest = _read_manifest(manifest_path) if manifest_path.exists() else {}
    manifest[path.name] = {"sha256": digest, "bytes": len(data)}
    _atomic_write(manifest_path, (json.dumps({"files": dict(sorted(manifest.items()))}, indent=2) + "\n").encode())
    return digest


def _load_integer_file(path: Path, data: bytes, digest: str, metadata: dict, name: str | None,
                       notes: list[str]) -> LoadedModel:
    """An integer program file -> ``IntegerQWNet`` (never a float extractor); see the module docstring."""
    from qwplugin.intexec.export import program_from_bytes
    from qwplugin.intexec.network import IntegerQWNet

    program, _ = program_from_bytes(data, str(path), field="model")
    if not isinstance(metadata.get("config"), dict):
        raise InvalidArgument(f"{path} has no model config in its metadata", field="model",
                              expected="metadata key 'config' (ModelConfig.to_dict() JSON)", actual="none")
    try:
        config = ModelConfig.from_dict(metadata["config"])
    except (QWPluginError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidArgument(f"{path}: bad model config in metadata", field="model",
                              expected="a valid ModelConfig dict", actual=str(exc)) from None
    if config.kind != "qwnet":
        raise InvalidArgument(f"{path}: integer files hold QW-Net programs only", field="model",
                              expected="config kind 'qwnet'", actual=repr(config.kind))
    if config.upscales:
        from qwplugin.model.upscale_int import IntegerUpscaleQWNet

        net = IntegerUpscaleQWNet(program, config)
    else:
        net = IntegerQWNet(program, config)
    return LoadedModel(model=net, config=config, name=name or str(path),
                       weights=f"trained: {path.name} (sha256 {digest[:12]}...)", trained=True, path=path,
                       sha256=digest, metadata=metadata, integer=True,
                       notes=notes + ["integer program file (format qwplugin-int4 v2): 4-bit codes packed two "
                                      "per byte, 8-bit first conv and filter convs"])


# ----------------------------------------------------------------------------------------------------------
# helpers


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (readers never see half a file)."""
    _atomic_write(Path(path), data)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_manifest(manifest_path: Path) -> dict[str, dict]:
    """``{file name: {"sha256": hex, ...}}`` from either ``{"files": {...}}`` or a flat mapping."""
    try:
        raw = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"unreadable weights manifest {manifest_path}", field="model",
                              expected="a JSON manifest", actual=str(exc)) from None
    files = raw.get("files", raw) if isinstance(raw, dict) else None
    if not isinstance(files, dict):
        raise InvalidArgument(f"bad weights manifest {manifest_path}", field="model",
                              expected='{"files": {name: {"sha256": hex}}}', actual=type(raw).__name__)
    return {k: (v if isinstance(v, dict) else {"sha256": v}) for k, v in files.items()}


def _verify_manifest(path: Path, digest: str, size: int, required: bool) -> list[str]:
    manifest_path = path.parent / MANIFEST_NAME
    if not manifest_path.exists():
        if required:
            raise InvalidArgument(f"no {MANIFEST_NAME} next to {path}", field="model",
                                  expected="a manifest with the file's sha256", actual="no manifest")
        return [f"no {MANIFEST_NAME} next to the file: checksum not verified"]
    entry = _read_manifest(manifest_path).get(path.name)
    if entry is None:
        if required:
            raise InvalidArgument(f"{path.name} is not listed in {manifest_path}", field="model",
                                  expected=f"an entry for {path.name}", actual="no entry")
        return [f"{path.name} is not in {MANIFEST_NAME}: checksum not verified"]
    if str(entry.get("sha256", "")).lower() != digest:
        raise InvalidArgument(f"checksum mismatch for {path} (corrupt, truncated or tampered file)",
                              field="model", expected=f"sha256 {entry.get('sha256')}",
                              actual=f"sha256 {digest} ({size} bytes)")
    return []


def _read_metadata(path: Path, data: bytes) -> dict:
    """Parse the safetensors header (8-byte little-endian length + JSON) for ``__metadata__``."""
    problem = None
    if len(data) < 8:
        problem = f"{len(data)} bytes"
    else:
        (length,) = struct.unpack("<Q", data[:8])
        if length > len(data) - 8:
            problem = f"header of {length} bytes in a {len(data)}-byte file"
        else:
            try:
                header = json.loads(data[8:8 + length])
            except ValueError as exc:
                problem = f"header is not JSON: {exc}"
    if problem is not None:
        raise InvalidArgument(f"{path} is not a readable safetensors file (truncated or corrupt?)",
                              field="model", expected="a valid safetensors file", actual=problem)
    if not isinstance(header, dict):
        raise InvalidArgument(f"{path}: the safetensors header is not a JSON object", field="model",
                              expected="a JSON object header", actual=type(header).__name__)
    raw = header.get("__metadata__") or {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise InvalidArgument(f"{path}: the __metadata__ header must map names to strings", field="model",
                              expected="__metadata__: {str: str}",
                              actual=type(raw).__name__ if not isinstance(raw, dict) else "non-string values")
    metadata = {}
    for key, value in raw.items():
        try:
            metadata[key] = json.loads(value)
        except (TypeError, ValueError):
            metadata[key] = value
    version = str(metadata.get("format_version", FORMAT_VERSION))
    if metadata.get("format") == INTEGER_FORMAT:
        return metadata  # versioned by qwplugin.intexec.export (checked there)
    if version.split(".")[0].isdigit() and int(version.split(".")[0]) > FORMAT_VERSION:
        raise InvalidArgument(f"{path} uses a newer weights format", field="model",
                              expected=f"format_version <= {FORMAT_VERSION}", actual=version)
    return metadata


def _check_tensors_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse NaN/Inf in any floating-point tensor, naming the first bad tensor.

    Raises:
        InvalidArgument: ``field="model"``, ``actual`` names the tensor and how many values are bad.
    """
    for name in sorted(tensors):
        t = tensors[name]
        if t.is_floating_point():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise InvalidArgument(f"{path}: tensor {name!r} holds NaN or Inf (corrupt or diverged weights)",
                                      field="model", expected="finite values in every tensor",
                                      actual=f"{bad} non-finite values of {t.numel()} in {name!r}")


def _load_state(net: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        parts = [f"missing {missing[:5]}" if missing else "",
                 f"unexpected {unexpected[:5]}" if unexpected else "",
                 f"wrong shape {wrong[:5]}" if wrong else ""]
        raise InvalidArgument(f"{path}: tensors do not fit the model config in its metadata", field="model",
                              expected=f"{len(expected)} tensors of the config's layers",
                              actual="; ".join(p for p in parts if p))
    net.load_state_dict(tensors, strict=True)
