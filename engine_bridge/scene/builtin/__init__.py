"""Built-in procedural scenes made to alias (no external files). Each is documented, with what it
stresses, in ``docs/scene_format.md``.

Every builtin is a function ``(rng: numpy.random.Generator | None) -> Scene``: ``None`` gives the
canonical scene (fixed; used by tests, benchmarks and pictures); a generator randomises the camera
path, animation speed, materials, textures and lighting within the ranges written next to each draw,
for training-data generation. The same seed gives the same scene.

One module per scene (``scene_wires_fence.py`` ... ``scene_mixed.py``, each holding its scene's function;
the prefix keeps a module from being shadowed by the function of the same name), pieces used by several
in :mod:`.common`; this package holds the registry (:data:`BUILTIN_SCENES`) and re-exports every scene
function and cut-time constant: ``from engine_bridge.scene.builtin import mixed`` gives the function. Add a scene: a new module with one
``(rng) -> Scene`` function, an entry in :data:`BUILTIN_SCENES` (and :data:`CANONICAL_CUTS_S` if it cuts),
and its section in ``docs/scene_format.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine_bridge.scene.builtin.scene_camera_cut import CAMERA_CUT_TIMES_S, camera_cut
from engine_bridge.scene.builtin.common import DURATION_S, SKY  # noqa: F401  (re-exported)
from engine_bridge.scene.builtin.scene_fast_motion import fast_motion
from engine_bridge.scene.builtin.scene_foliage import foliage
from engine_bridge.scene.builtin.scene_grazing_textures import grazing_textures
from engine_bridge.scene.builtin.scene_mixed import MIXED_CUT_TIME_S, mixed
from engine_bridge.scene.builtin.scene_specular import specular
from engine_bridge.scene.builtin.scene_wires_fence import wires_fence
from engine_bridge.scene.model import Scene

#: Built-in scenes by name; each takes ``rng: numpy.random.Generator | None``.
BUILTIN_SCENES: dict[str, Callable[[np.random.Generator | None], Scene]] = {
    "wires_fence": wires_fence,
    "grazing_textures": grazing_textures,
    "foliage": foliage,
    "specular": specular,
    "fast_motion": fast_motion,
    "camera_cut": camera_cut,
    "mixed": mixed,
}

#: Canonical cut times per built-in (empty: no cut); tests check them with ``Scene.has_cut_between``.
CANONICAL_CUTS_S: dict[str, tuple[float, ...]] = {name: () for name in BUILTIN_SCENES}
CANONICAL_CUTS_S.update(camera_cut=CAMERA_CUT_TIMES_S, mixed=(MIXED_CUT_TIME_S,))


def builtin_names() -> list[str]:
    """Names of the built-in scenes, in documentation order."""
    return list(BUILTIN_SCENES)
