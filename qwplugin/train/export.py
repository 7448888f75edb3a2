"""Export the final weights of training stages as shipped ``safetensors`` files with a sha256 manifest.

Usage::

    python -m qwplugin.train.export --run runs/qwnet_small --run runs/unet_small [--out qwplugin/weights]
    python -m qwplugin.train.export --run runs/qwnet_fast_taacand_cpu --name qwnet-fast

For each run folder, every finished stage (``stage_<name>.pt``) becomes ``<kind>-<precision>.safetensors``
(``qwnet-fp32``, ``qwnet-int4``, ``unet-fp32``, ``unet-int4``), written with
:func:`qwplugin.runtime.weights.save_weights` (the runtime loader's own writer, so the format is the one it
reads) and recorded in ``<out>/manifest.json``. A QW-Net int4 stage is shipped as integers: its float QAT
state dict goes to ``qwnet-int4-qat.safetensors`` (for fine-tuning and the fake-quant simulation) and
``qwnet-int4.safetensors`` is the exported integer program (:func:`qwplugin.intexec.export.save_program`,
about 1/7 of the FP32 file) with the same metadata. The U-Net baseline's int4 stage stays a QAT state dict. Metadata: model config, precision, quantization spec,
training description (dataset, scenes, steps, stage, the training config, which weights) and the
validation figures measured by the training run at that step. Nothing here invents a number: the
figures are copied from the stage file. With ``ema_decay`` in the training config the exported weights
are the EMA ones (``ema_model``), which are also the ones the figures were measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from qwplugin.cli import command, prog_name
from qwplugin.data.index import read_index
from qwplugin.errors import InvalidArgument, QWPluginError
from qwplugin.model.build import build_model
from qwplugin.model.config import HISTORY_WARPS, ModelConfig
from qwplugin.quant.switch import set_quantized
from qwplugin.train.checkpoint import load_checkpoint

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "weights"


def quantization_spec(config: ModelConfig, enabled: bool) -> dict:
    """The quantization scheme of ``config`` as recorded in the metadata."""
    return {"enabled": enabled, "scheme": "QW-Net QAT (straight-through rounding), see qwplugin.quant",
            "weights": "symmetric per output channel", "weight_bits": config.weight_bits,
            "first_conv_bits": config.first_conv_bits, "filter_bits": config.filter_bits,
            "activations": "unsigned per tensor, learned clipping max exp(max_log)",
            "act_bits": config.act_bits, "input_bits": config.input_bits}


def export_stage(stage_file: str | Path, out_dir: str | Path = DEFAULT_OUT, name: str | None = None,
                 output_sharpen: float | None = None, history_warp: str | None = None) -> Path:
    """Write one stage file as ``<out_dir>/<name>-<fp32|int4>.safetensors`` and update the manifest.

    ``name`` is the built-in model name the files ship under (``qwnet``, ``qwnet-fast``, ...; see
    :data:`qwplugin.runtime.weights.MODEL_NAMES`); default the model's ``kind``. ``output_sharpen`` (None:
    the training config's) sets :attr:`ModelConfig.output_sharpen` of the written file: a display-only
    post-process that changes no weight, chosen after training on the validation split; the metadata's
    ``display`` entry records it next to the strength the training figures were measured with.
    ``history_warp`` (None: the training config's) sets :attr:`ModelConfig.history_warp` the same way (it
    changes no layer; the ``display`` entry records the warp training used).

    Returns:
        The written path.

    Raises:
        InvalidArgument: missing or unreadable stage file.
    """
    from qwplugin.runtime.weights import save_weights

    stage = load_checkpoint(stage_file)
    if stage is None:
        raise InvalidArgument("no such stage file", field="stage_file", expected="runs/<name>/stage_<stage>.pt",
                              actual=str(stage_file))
    quantized = bool(stage["quantized"])
    config = ModelConfig.from_dict({**stage["model_config"], "quantized": quantized})
    trained_sharpen, trained_warp = config.output_sharpen, config.history_warp
    config = _with_inference_fields(config, output_sharpen, history_warp)
    model = build_model(config)
    use_ema = "ema_model" in stage
    model.load_state_dict(stage["ema_model"] if use_ema else stage["model"])
    set_quantized(model, quantized)
    precision = "int4" if quantized else "fp32"
    train_config = json.loads(stage["train_config"])
    training = {"stage": stage["stage"], "steps": int(stage["step"]), "run": train_config.get("name"),
                "description": train_config.get("description", ""), "train_config": train_config,
                "weights": f"EMA of the weights (decay {stage.get('ema_decay')})" if use_ema else "raw weights",
                "loss": _loss_text(train_config.get("spatial_weight", 0.3))}
    try:
        index = read_index(train_config["data"]["root"])
        training["dataset"] = {"generator": index.generator, "train_scenes": index.train_scenes,
                               "validation_scenes": index.validation_scenes,
                               "train_sequences": len(index.split("train")), "val_sequences": len(index.split("val"))}
    except QWPluginError as exc:  # the dataset may live elsewhere at export time; say so
        training["dataset"] = {"root": train_config["data"]["root"], "note": f"index not readable at export: {exc}"}
    figures = json.loads(stage.get("figures", "{}"))
    if not figures:
        raise InvalidArgument(f"{stage_file} has no validation figures (no evaluation before it was written)",
                              field="stage_file", expected="a file written at or after an evaluation",
                              actual="no figures")
    name = config.kind if name is None else name
    path = Path(out_dir) / f"{name}-{precision}.safetensors"
    metadata = {"quantization": quantization_spec(config, quantized), "training": training,
                "display": _display_entry(config, trained_sharpen, trained_warp),
                "metrics": {**figures, "measured": "by the training run on the held-out validation scenes; PSNR "
                                                   "and temporal error in the tonemapped domain, see docs/training.md"}}
    integer = quantized and config.kind == "qwnet"
    state_path = path.with_name(f"{name}-int4-qat.safetensors") if integer else path
    digest = save_weights(state_path, model, precision=precision, extra_metadata=metadata)
    written = [state_path]
    if integer:
        written.append(export_integer(model, path, {**metadata, "float_checkpoint": {
            "file": state_path.name, "sha256": digest}}))
    for file in written + [path.parent / "manifest.json"]:  # package data: readable by everyone (mkstemp: 0600)
        os.chmod(file, 0o644)
    return path


def _with_inference_fields(config: ModelConfig, output_sharpen: float | None,
                           history_warp: str | None) -> ModelConfig:
    """``config`` with the fields that change no layer replaced where given (validated by ModelConfig)."""
    fields = {k: v for k, v in (("output_sharpen", output_sharpen), ("history_warp", history_warp)) if v is not None}
    return ModelConfig.from_dict({**config.to_dict(), **fields}) if fields else config


def _display_entry(config: ModelConfig, trained_sharpen: float, trained_warp: str) -> dict:
    return {"output_sharpen": config.output_sharpen, "output_sharpen_in_training_figures": trained_sharpen,
            "history_warp": config.history_warp, "history_warp_in_training": trained_warp,
            "note": "display-only sharpening of the output (the history stays unsharpened) and the history warp; "
                    "set at export when they differ from training (chosen on validation)"}


def restamp_weights(path: str | Path, output_sharpen: float | None = None, history_warp: str | None = None,
                    out_path: str | Path | None = None) -> Path:
    """Rewrite a float weights file with new values of the fields that change no layer
    (``output_sharpen``, ``history_warp``): same tensors, same training metadata, the ``display`` entry
    updated (what training used is kept), the manifest of the written file's folder updated. For a shipped
    file whose stage file is gone; a stage file is better exported again with :func:`export_stage`.

    Args:
        path: a float ``.safetensors`` weights file (FP32 or 4-bit QAT state, not an integer program).
        output_sharpen, history_warp: the new values (None: unchanged).
        out_path: where to write (default: ``path`` itself, in place).

    Returns:
        The written path.

    Raises:
        InvalidArgument: an unreadable file, an integer program (``field="file"``: export its stage file
            instead), or an invalid value.
    """
    from qwplugin.runtime.weights import load_weights_file, save_weights

    path = Path(path)
    loaded = load_weights_file(path)
    if loaded.integer:
        raise InvalidArgument("an integer program cannot be restamped: export its stage file again with "
                              "--file STAGE --history-warp / --output-sharpen", field="file",
                              expected="a float weights file (*-fp32, *-int4-qat)", actual=str(path))
    metadata = dict(loaded.metadata)
    display = metadata.get("display") if isinstance(metadata.get("display"), dict) else {}
    trained_sharpen = display.get("output_sharpen_in_training_figures", loaded.config.output_sharpen)
    trained_warp = display.get("history_warp_in_training", loaded.config.history_warp)
    config = _with_inference_fields(loaded.config, output_sharpen, history_warp)
    model = build_model(config)
    model.load_state_dict(loaded.model.state_dict())
    precision = metadata.get("precision", "fp32")
    extra = {k: v for k, v in metadata.items() if k not in ("format", "format_version", "config", "precision")}
    extra["display"] = _display_entry(config, trained_sharpen, trained_warp)
    out = path if out_path is None else Path(out_path)
    save_weights(out, model, precision=precision, extra_metadata=extra)
    os.chmod(out, 0o644)
    os.chmod(out.parent / "manifest.json", 0o644)
    return out


INTEGER_CORE_KEYS = ("format", "format_version", "quant_spec", "program", "config", "precision", "self_test",
                     "payload_sha256")
"""Metadata keys :func:`qwplugin.intexec.export.save_program` writes itself (the rest is carried over)."""


def reexport_integer(path: str | Path) -> tuple[Path, bool]:
    """Rewrite a shipped integer file under the current quant spec, from the float QAT checkpoint its
    metadata names (``float_checkpoint.file``, next to it): after a change of the integer arithmetic
    (``QUANT_SPEC_VERSION``) the codes and scales stay, the spec and the self-test's known answer change.
    The training metadata is carried over unchanged; the manifest is updated.

    Returns:
        ``(path, same_payload)``: ``same_payload`` is True when the tensors (codes, scales) are byte for
        byte the old file's (the payload checksum is unchanged), as they should be.

    Raises:
        InvalidArgument: not a safetensors integer file, or its float checkpoint is missing.
    """
    from safetensors import safe_open

    from qwplugin.runtime.weights import load_weights_file

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            old = dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same error for the user
        raise InvalidArgument(f"cannot read {path}: {e}", field="file", expected="an integer .safetensors file",
                              actual=str(path)) from e
    if old.get("format") != "qwplugin-int4":
        raise InvalidArgument("not an integer program file", field="file", expected="format qwplugin-int4",
                              actual=str(old.get("format")))
    try:
        qat_name = json.loads(old["float_checkpoint"])["file"]
    except (KeyError, ValueError, TypeError) as e:
        raise InvalidArgument("the file names no float checkpoint to export from", field="file",
                              expected="metadata float_checkpoint.file", actual=str(path)) from e
    qat = load_weights_file(path.parent / qat_name, require_manifest=True).model
    extra = {k: v for k, v in old.items() if k not in INTEGER_CORE_KEYS}
    export_integer(qat, path, extra_metadata=extra)
    with safe_open(str(path), "pt") as f:
        same = f.metadata().get("payload_sha256") == old.get("payload_sha256")
    os.chmod(path, 0o644)
    os.chmod(path.parent / "manifest.json", 0o644)
    return path, same


def _loss_text(spatial_weight: float) -> str:
    return (f"{spatial_weight:g} * spatial L1 + {1 - spatial_weight:g} * temporal L1 of frame differences, "
            "tonemapped x/(1+x)")


def export_integer(model, path: str | Path, extra_metadata: dict | None = None) -> Path:
    """Write a quantization-aware QW-Net as the shipped integer file (codes, scales, spec, config, checksum)
    and record it in the manifest next to it.

    Returns:
        ``path``.

    Raises:
        InvalidArgument: the model cannot be exported to the integer program.
    """
    from qwplugin.intexec.export import export_network, save_program

    program = export_network(model)
    save_program(program, path, extra_metadata=extra_metadata, update_manifest=True)
    return Path(path)


def export_run(run_dir: str | Path, out_dir: str | Path = DEFAULT_OUT, name: str | None = None,
               output_sharpen: float | None = None, history_warp: str | None = None) -> list[Path]:
    """Export every finished stage of a run folder.

    Raises:
        InvalidArgument: the folder holds no finished stage.
    """
    files = sorted(Path(run_dir).glob("stage_*.pt"))
    if not files:
        raise InvalidArgument("run folder has no finished stage", field="--run", expected="stage_*.pt files",
                              actual=str(run_dir))
    return [export_stage(f, out_dir, name, output_sharpen, history_warp) for f in files]


@command("qw-export")
def main(argv: list[str] | None = None) -> int:
    """Export stages to weights files. Returns the exit status (errors: :mod:`qwplugin.cli`)."""
    parser = argparse.ArgumentParser(prog=prog_name("qw-export", "qwplugin.train.export"),
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="run folder: export its finished stages (repeatable)")
    parser.add_argument("--file", action="append", default=[],
                        help="one stage_*.pt or checkpoint.pt to export (repeatable; for unfinished runs)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="weights folder (default: the package's)")
    parser.add_argument("--name", default=None,
                        help="built-in model name the files ship under, e.g. qwnet-fast (default: the model kind)")
    parser.add_argument("--output-sharpen", type=float, default=None,
                        help="display-only output sharpening strength written into the files' model config "
                             "(ModelConfig.output_sharpen; default: the training config's), chosen on validation "
                             "with scripts/val_error_breakdown.py --sharpen")
    parser.add_argument("--history-warp", default=None, choices=HISTORY_WARPS,
                        help="history warp written into the files' model config (ModelConfig.history_warp; "
                             "default: the training config's), chosen on validation with "
                             "scripts/val_baselines.py --history-warp")
    parser.add_argument("--restamp", action="append", default=[],
                        help="a float .safetensors file to rewrite in place with --output-sharpen / "
                             "--history-warp (same tensors and training metadata; repeatable)")
    parser.add_argument("--reexport-integer", action="append", default=[], metavar="FILE",
                        help="a shipped integer *-int4 file to write again from the float QAT checkpoint its "
                             "metadata names, under the current quant spec (after a change of the integer "
                             "arithmetic; same codes, new spec and known answer; repeatable)")
    args = parser.parse_args(argv)
    if not args.run and not args.file and not args.restamp and not args.reexport_integer:
        parser.error("give --run, --file, --restamp or --reexport-integer")
    paths = [p for run in args.run for p in export_run(run, args.out, args.name, args.output_sharpen,
                                                       args.history_warp)]
    paths += [export_stage(f, args.out, args.name, args.output_sharpen, args.history_warp) for f in args.file]
    paths += [restamp_weights(f, args.output_sharpen, args.history_warp) for f in args.restamp]
    for path in paths:
        print(f"wrote {path}")
    for f in args.reexport_integer:
        path, same = reexport_integer(f)
        print(f"wrote {path} ({'same codes and scales' if same else 'CODES OR SCALES CHANGED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
