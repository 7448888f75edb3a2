"""The dataset index: ``DIR/index.json``, which sequence belongs to which scene and split.

Written by the dataset generators (``python -m engine_bridge.dataset`` and
:func:`qwplugin.data.synthetic.write_synthetic_dataset`), read by training, export and evaluation.

Format (``format`` "qwplugin-dataset", ``version`` 1)::

    {"format": "qwplugin-dataset", "version": 1,
     "train_scenes": ["fast_motion", ...], "validation_scenes": ["mixed"],
     "generator": {"command": ..., "seed": ..., ...},      # the generator's arguments, for provenance
     "sequences": [{"name": "seq_0000", "scene": "fast_motion", "split": "train"}, ...]}

Whole scenes are held out: a scene's sequences are all ``train`` or all ``val``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qwplugin.errors import InvalidArgument

INDEX_FILE = "index.json"
FORMAT_NAME = "qwplugin-dataset"
FORMAT_VERSION = 1
SPLITS = ("train", "val")


@dataclass(frozen=True)
class SequenceEntry:
    """One sequence of a dataset.

    Attributes:
        name: folder name inside the dataset folder (``seq_0000``).
        scene: the scene it was rendered from.
        split: ``"train"`` or ``"val"``.
    """

    name: str
    scene: str
    split: str

    def __post_init__(self):
        if self.split not in SPLITS:
            raise InvalidArgument("unknown split", field="split", expected=" or ".join(SPLITS), actual=self.split)


@dataclass
class DatasetIndex:
    """The contents of ``index.json`` (see the module docstring).

    Attributes:
        sequences: every sequence, in generation order.
        train_scenes, validation_scenes: sorted scene names of each split.
        generator: the generator's arguments (free-form, recorded for provenance).
    """

    sequences: list[SequenceEntry]
    train_scenes: list[str]
    validation_scenes: list[str]
    generator: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[SequenceEntry]:
        """The sequences of split ``name`` ("train" or "val"), in index order.

        Raises:
            InvalidArgument: unknown split name.
        """
        if name not in SPLITS:
            raise InvalidArgument("unknown split", field="split", expected=" or ".join(SPLITS), actual=str(name))
        return [s for s in self.sequences if s.split == name]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "train_scenes": list(self.train_scenes),
                "validation_scenes": list(self.validation_scenes), "generator": dict(self.generator),
                "sequences": [asdict(s) for s in self.sequences]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetIndex:
        """Inverse of :meth:`to_dict`.

        Raises:
            InvalidArgument: wrong format or version, missing keys, or a scene in both splits.
        """
        if data.get("format") != FORMAT_NAME or data.get("version") != FORMAT_VERSION:
            raise InvalidArgument("unsupported dataset index", field="format/version",
                                  expected=f"{FORMAT_NAME} v{FORMAT_VERSION}",
                                  actual=f"{data.get('format')} v{data.get('version')}")
        try:
            entries = [SequenceEntry(s["name"], s["scene"], s["split"]) for s in data["sequences"]]
            index = cls(entries, list(data["train_scenes"]), list(data["validation_scenes"]),
                        dict(data.get("generator", {})))
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"dataset index is missing a key: {exc}", field="index.json",
                                  expected="sequences, train_scenes, validation_scenes", actual=str(exc)) from exc
        overlap = {s.scene for s in index.split("train")} & {s.scene for s in index.split("val")}
        if overlap:
            raise InvalidArgument("a scene is in both splits", field="sequences", expected="disjoint splits",
                                  actual=", ".join(sorted(overlap)))
        return index


def write_index(root: str | os.PathLike, index: DatasetIndex) -> Path:
    """Write ``root/index.json`` atomically (temp file + rename); returns its path."""
    path = Path(root) / INDEX_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(index.to_dict(), indent=1))
    os.replace(tmp, path)
    return path


def read_index(root: str | os.PathLike) -> DatasetIndex:
    """Read ``root/index.json``.

    Raises:
        InvalidArgument: no index (not a dataset folder, or generation not finished), bad JSON or format.
    """
    path = Path(root) / INDEX_FILE
    if not path.is_file():
        raise InvalidArgument("not a dataset folder (no index.json; was generation interrupted?)", field="root",
                              expected=f"a folder holding {INDEX_FILE}", actual=str(root))
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{path}: bad JSON", field=INDEX_FILE, expected="JSON", actual=str(exc)) from exc
    return DatasetIndex.from_dict(data)
