"""The shipped AsConvSR weights (``qwplugin/weights/asconvsr-x2.safetensors``), checked against the manifest.

Trained by :mod:`qwplugin.sr.train` with ``--degradation render`` on an upscaling dataset: the input is the
aliased, jittered render, the target the display-size reference (the task of "no-AA or a render-size
reconstruction, then a spatial upscaler"). Copied into the package with :func:`ship_asconvsr`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from qwplugin.errors import InvalidArgument
from qwplugin.sr.asconvsr import AsConvSR, AsConvSRConfig

SHIPPED_ASCONVSR = Path(__file__).resolve().parent.parent / "weights" / "asconvsr-x2.safetensors"
WEIGHTS_FORMAT = "qwplugin-asconvsr"
"""``format`` metadata of AsConvSR weights files (written by :mod:`qwplugin.sr.train`)."""
WEIGHTS_VERSION = "1"


def load_asconvsr(path: str | os.PathLike):
    """An AsConvSR from a ``.safetensors`` file written by :func:`qwplugin.sr.train.train_asconvsr`.

    Raises:
        InvalidArgument: the file is missing, a Git LFS pointer, or not an AsConvSR weights file.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InvalidArgument("weights file not found", field="path", expected="an existing file", actual=str(path))
    with path.open("rb") as f:
        if f.read(40).startswith(b"version https://git-lfs"):
            raise InvalidArgument("weights file is a Git LFS pointer (run git lfs pull)", field="path",
                                  expected="safetensors", actual="Git LFS pointer")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != WEIGHTS_FORMAT:
        raise InvalidArgument("not an AsConvSR weights file", field="path", expected=WEIGHTS_FORMAT,
                              actual=repr(meta.get("format")))
    net = AsConvSR(AsConvSRConfig(**json.loads(meta["config"])))
    net.load_state_dict(load_file(str(path)))
    return net.eval()


def load_shipped_asconvsr(path: Path = SHIPPED_ASCONVSR):
    """The shipped AsConvSR x2, after its manifest check.

    Raises:
        InvalidArgument: no weights shipped (field ``method``, saying how to train them), a checksum that does
            not match the manifest, or not an AsConvSR file.
    """
    from qwplugin.runtime.weights import _verify_manifest
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument("no trained AsConvSR weights are shipped", field="method",
                              expected=f"{path.name} (python -m qwplugin.sr.train --degradation render ...)",
                              actual="missing")
    data = path.read_bytes()
    _verify_manifest(path, hashlib.sha256(data).hexdigest(), len(data), required=True)
    return load_asconvsr(path)


def ship_asconvsr(source: str | os.PathLike, path: Path = SHIPPED_ASCONVSR) -> Path:
    """Copy a trained ``asconvsr_x2.safetensors`` into the package and record its sha256 in the manifest.

    Raises:
        InvalidArgument: ``source`` is not an AsConvSR weights file.
    """
    from qwplugin.runtime.weights import record_in_manifest, write_atomic

    net = load_asconvsr(source)  # refuses anything else
    if net.config.scale != 2:
        raise InvalidArgument("the shipped AsConvSR is the x2 model", field="source", expected="scale 2",
                              actual=f"scale {net.config.scale}")
    data = Path(source).read_bytes()
    path = Path(path)
    write_atomic(path, data)
    record_in_manifest(path, data)
    os.chmod(path, 0o644)
    return path
