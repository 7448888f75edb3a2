"""Load a scene by built-in name or from a JSON scene file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine_bridge.scene.errors import SceneError
from engine_bridge.scene.model import Scene
from engine_bridge.scene.scene_file import parse_scene_file


def load_scene_file(path: str | Path) -> Scene:
    """Load a JSON scene file (format: ``docs/scene_format.md``); paths inside are relative to it.

    Raises:
        SceneError: the file is missing or invalid; the error names the file and the field path.
    """
    return parse_scene_file(path)


def load_scene(name_or_path: str | Path, rng: np.random.Generator | None = None) -> Scene:
    """A built-in scene by name (see :func:`engine_bridge.scene.builtin.builtin_names`), or a JSON file.

    Args:
        name_or_path: a built-in name such as ``"wires"``, or a path to a ``.json`` scene file.
        rng: for built-ins, ``None`` gives the canonical scene and a generator a randomised variant
            (camera path, animation speed, materials, textures, lighting) for dataset generation.
            Scene files are fixed: ``rng`` is ignored for them.

    Raises:
        SceneError: neither a built-in name nor an existing file, or an invalid scene file.
    """
    from engine_bridge.scene.builtin import BUILTIN_SCENES

    key = str(name_or_path)
    if key in BUILTIN_SCENES and not Path(key).is_file():
        return BUILTIN_SCENES[key](rng)
    path = Path(key)
    if path.is_file() or path.suffix.lower() == ".json":
        return load_scene_file(path)
    raise SceneError(
        "unknown scene: not a built-in name and not a file",
        file=key,
        expected="a scene file or one of " + ", ".join(sorted(BUILTIN_SCENES)),
        actual=repr(key),
    )
