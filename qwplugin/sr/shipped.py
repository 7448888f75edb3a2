"""The shipped AsConvSR weights (``qwplugin/weights/asconvsr-x2.safetensors``), checked against the manifest.

Trained by :mod:`qwplugin.sr.train` with ``--degradation render`` on an upscaling dataset: the input is the
aliased, jittered render, the target the display-size reference (the task of "no-AA or a render-size
reconstruction, then a spatial upscaler"). Copied into the package with :func:`ship_asconvsr`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from qwplugin.errors import InvalidArgument

SHIPPED_ASCONVSR = Path(__file__).resolve().parent.parent / "weights" / "asconvsr-x2.safetensors"


def load_shipped_asconvsr(path: Path = SHIPPED_ASCONVSR):
    """The shipped AsConvSR x2, after its manifest check.

    Raises:
        InvalidArgument: no weights shipped (field ``method``, saying how to train them), a checksum that does
            not match the manifest, or not an AsConvSR file.
    """
    from qwplugin.runtime.weights import _verify_manifest
    from qwplugin.sr.train import load_asconvsr

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
    from qwplugin.sr.train import load_asconvsr

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
