"""The shipped routing classifier's weights file: safetensors + JSON metadata, sha256 in the manifest.

``qwplugin/weights/routing-qwnet-taa.safetensors`` holds a :class:`~qwplugin.routing.classifier.RoutingClassifier`
state dict; its metadata records ``format = "qwplugin.routing"``, the classifier's shape (``tile``,
``hidden``, ``in_features``) and how it was trained. :func:`save_classifier` records the file's sha256 in
``manifest.json`` next to it (:func:`qwplugin.runtime.weights.record_in_manifest`); :func:`load_classifier`
refuses a file whose checksum is missing from or differs from the manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from qwplugin.errors import InvalidArgument
from qwplugin.routing.classifier import RoutingClassifier
from qwplugin.runtime.weights import SHIPPED_DIR, _read_metadata, _verify_manifest, record_in_manifest, write_atomic

FORMAT = "qwplugin.routing"
SHIPPED_CLASSIFIER = SHIPPED_DIR / "routing-qwnet-taa.safetensors"
"""Where the trained QW-Net / TAA tile classifier ships (absent until trained)."""


def save_classifier(path: str | Path, classifier: RoutingClassifier, metadata: dict | None = None,
                    update_manifest: bool = True) -> str:
    """Write ``classifier`` atomically and (by default) record its sha256 in the folder's manifest.

    Returns:
        the sha256 hex digest.

    Raises:
        InvalidArgument: not a RoutingClassifier.
    """
    if not isinstance(classifier, RoutingClassifier):
        raise InvalidArgument("a RoutingClassifier is needed", field="classifier", expected="RoutingClassifier",
                              actual=type(classifier).__name__)
    meta = {"format": FORMAT, "tile": str(classifier.tile), "in_features": str(classifier.in_features),
            "hidden": str(classifier.net[0].out_channels)}
    for key, value in (metadata or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in classifier.state_dict().items()}
    data = save_bytes(tensors, metadata=meta)
    path = Path(path)
    write_atomic(path, data)
    return record_in_manifest(path, data) if update_manifest else hashlib.sha256(data).hexdigest()


def load_classifier(path: str | Path = SHIPPED_CLASSIFIER) -> tuple[RoutingClassifier, dict]:
    """The classifier in ``path`` and its metadata, after checking the sha256 against the manifest.

    Raises:
        InvalidArgument: missing or unreadable file, not a routing file, no manifest entry, checksum mismatch.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument("cannot read the routing classifier", field="classifier",
                              expected="a readable .safetensors file", actual=f"{path} ({exc.strerror})") from None
    _verify_manifest(path, hashlib.sha256(data).hexdigest(), len(data), required=True)
    meta = _read_metadata(path, data)
    if meta.get("format") != FORMAT:
        raise InvalidArgument("not a routing classifier file", field="classifier", expected=f"format {FORMAT}",
                              actual=str(meta.get("format")))
    net = RoutingClassifier(int(meta["in_features"]), int(meta["hidden"]), int(meta["tile"]))
    net.load_state_dict(load_bytes(data))
    return net.eval(), meta
