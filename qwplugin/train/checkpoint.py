"""Atomic training checkpoints: write to a temporary file in the same folder, fsync, ``os.replace``.

A kill at any moment leaves either the previous complete checkpoint or the new complete one, never a
partial file (``os.replace`` is atomic on POSIX and Windows within one file system). Checkpoints are
internal to a run and use ``torch.save``; they are read back with ``weights_only=True`` so loading one
never executes pickled code. Shipped weights are safetensors (see :mod:`qwplugin.train.export`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from qwplugin.errors import InvalidArgument

CHECKPOINT_NAME = "checkpoint.pt"
"""File name of the rolling checkpoint inside a run folder."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save a training state dict atomically.

    Args:
        path: destination file (its folder is created).
        state: tensors, numbers, strings, lists and dicts (anything ``torch.load(weights_only=True)``
            reads back).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """Load a checkpoint written by :func:`save_checkpoint`, or None when there is none.

    Raises:
        InvalidArgument: the file exists but cannot be read (corrupt or written by something else).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise InvalidArgument(f"cannot read checkpoint {path}: {exc}", field="checkpoint",
                              expected="a checkpoint written by qwplugin.train", actual="unreadable file") from exc
