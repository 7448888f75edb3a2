"""The three scene sets that never mix: training, validation and test.

=============  ==============================================================================================
``training``   the procedural built-in generators (all but ``mixed``), randomised per sequence by
               ``numpy.random.default_rng([seed, i])`` with any ``seed`` except :data:`VALIDATION_SEED`
               (dataset generation refuses that one). Used to fit weights and to tune the TAA.
``validation`` every decision (training recipes, penalties, ablations, model size): the held-out
               ``mixed`` generator (canonical and :data:`VALIDATION_VARIANTS` randomised variants seeded
               from :data:`VALIDATION_SEED`) and the team-made ``examples/scenes/crate_yard.json``.
``test``       scenes built only from third-party assets (``examples/scenes/test/*.json``; their sources
               and licences are recorded next to them in ``examples/scenes/test/assets/SOURCES.md``). They
               share no generator, mesh or texture with training. Reported, never used to choose anything.
=============  ==============================================================================================

A scene of a set is a :class:`SceneSpec`; its ``name`` is what reports print (``mixed``, ``mixed@v1``,
``crate_yard``, ...). Command lines name a whole set as ``set:validation`` (see :func:`resolve_scene_list`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qwplugin.errors import InvalidArgument

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SCENES = REPO_ROOT / "examples" / "scenes"
TEST_SCENE_DIR = EXAMPLE_SCENES / "test"

TRAINING_GENERATORS = ("wires_fence", "grazing_textures", "foliage", "specular", "fast_motion", "camera_cut")
"""Built-in generators whose randomised variants make the training set."""

VALIDATION_GENERATORS = ("mixed",)
"""Built-in generators held out of training entirely (canonical scene and validation-seeded variants)."""

VALIDATION_SEED = 7_000_001
"""Seed of the validation variants; training data generation refuses it, so the sets cannot overlap."""

VALIDATION_VARIANTS = 2
"""Randomised variants per validation generator, besides the canonical scene."""

VALIDATION_FILES = ("crate_yard.json",)
"""Team-made scene files (in ``examples/scenes/``) that belong to validation."""

SET_NAMES = ("training", "validation", "test")


@dataclass(frozen=True)
class SceneSpec:
    """One scene of a set.

    Attributes:
        name: report name (``mixed``, ``mixed@v1``, ``crate_yard``, ``test/<stem>``-free stems).
        source: a built-in generator name, or the path of a scene JSON file.
        variant: ``None`` for the canonical scene (or a file); ``k >= 1`` for the randomised variant
            built with ``default_rng([VALIDATION_SEED, k])``.
        split: the set it belongs to (one of :data:`SET_NAMES`).
    """

    name: str
    source: str
    variant: int | None
    split: str

    def load(self):
        """Build the :class:`~engine_bridge.scene.Scene`. Raises SceneError for a bad file."""
        from engine_bridge.scene.loader import load_scene

        rng = None if self.variant is None else np.random.default_rng([VALIDATION_SEED, self.variant])
        return load_scene(self.source, rng)


def validation_scenes() -> list[SceneSpec]:
    """The validation set, in a fixed order."""
    specs = []
    for gen in VALIDATION_GENERATORS:
        specs.append(SceneSpec(gen, gen, None, "validation"))
        specs += [SceneSpec(f"{gen}@v{k}", gen, k, "validation") for k in range(1, VALIDATION_VARIANTS + 1)]
    specs += [SceneSpec(Path(f).stem, str(EXAMPLE_SCENES / f), None, "validation") for f in VALIDATION_FILES]
    return specs


def test_scenes() -> list[SceneSpec]:
    """The test set: every ``examples/scenes/test/*.json``, sorted by name (empty if none is there)."""
    return [SceneSpec(p.stem, str(p), None, "test") for p in sorted(TEST_SCENE_DIR.glob("*.json"))]


def training_scenes() -> list[SceneSpec]:
    """The canonical (un-randomised) training scenes: for TAA tuning and pictures. Training sequences
    themselves are randomised variants made by ``engine_bridge.dataset``."""
    return [SceneSpec(g, g, None, "training") for g in TRAINING_GENERATORS]


def scene_set(name: str) -> list[SceneSpec]:
    """The scenes of set ``name`` (``training``, ``validation`` or ``test``).

    Raises:
        InvalidArgument: unknown set name.
    """
    if name == "training":
        return training_scenes()
    if name == "validation":
        return validation_scenes()
    if name == "test":
        return test_scenes()
    raise InvalidArgument("unknown scene set", field="set", expected=", ".join(SET_NAMES), actual=repr(name))


def split_of(source: str) -> str | None:
    """Which set a scene source (built-in name or file path) belongs to, or None if it is in none."""
    if source in TRAINING_GENERATORS:
        return "training"
    if source in VALIDATION_GENERATORS:
        return "validation"
    path = Path(source).resolve() if source.endswith(".json") else None
    if path is not None:
        if path.parent == TEST_SCENE_DIR.resolve():
            return "test"
        if path.parent == EXAMPLE_SCENES.resolve() and path.name in VALIDATION_FILES:
            return "validation"
    return None


def resolve_scene_list(text: str) -> list[SceneSpec]:
    """Parse a ``--scenes`` value: comma-separated entries, each ``set:NAME`` (a whole set), a built-in
    name, ``NAME@vK`` (validation variant K of a built-in) or a scene JSON path. Duplicates are dropped.

    Raises:
        InvalidArgument: an empty list, an unknown set, or a malformed ``@v`` suffix.
    """
    specs: list[SceneSpec] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        if entry.startswith("set:"):
            specs += scene_set(entry[4:])
            continue
        base, sep, var = entry.partition("@v")
        if sep:
            if not var.isdigit() or int(var) < 1:
                raise InvalidArgument("bad scene variant", field="--scenes", expected="NAME@vK with K >= 1",
                                      actual=entry)
            specs.append(SceneSpec(entry, base, int(var), split_of(base) or "other"))
        else:
            name = Path(entry).stem if entry.endswith(".json") else entry
            specs.append(SceneSpec(name, entry, None, split_of(entry) or "other"))
    if not specs:
        raise InvalidArgument("no scene given", field="--scenes", expected="set:NAME, names or files",
                              actual=repr(text))
    seen, unique = set(), []
    for s in specs:
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    return unique
