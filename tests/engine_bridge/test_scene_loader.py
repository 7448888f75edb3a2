"""The example scene files load to the expected objects; paths resolve relative to the scene file."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine_bridge.scene import meshes, textures, transforms
from engine_bridge.scene.builtin import BUILTIN_SCENES
from engine_bridge.scene.loader import load_scene, load_scene_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenes"


@pytest.fixture(scope="module")
def yard():
    return load_scene_file(EXAMPLES / "crate_yard.json")


def by_name(scene, name):
    (obj,) = [o for o in scene.objects if o.name == name]
    return obj


def test_crate_yard_objects(yard):
    # 8 JSON objects; each crate instance expands to its OBJ's two parts (wood, metal).
    assert sorted(o.name for o in yard.objects) == sorted(
        [
            "ground",
            "crate/wood",
            "crate/metal",
            "crate_moving/wood",
            "crate_moving/metal",
            "tower",
            "fence",
            "wall",
            "ball",
            "bush",
        ]
    )
    assert yard.name == "crate_yard" and yard.duration_s == 4.0
    assert yard.background == (0.6, 0.75, 1.1) and yard.light.intensity == 3.5
    assert len(yard.camera.keys) == 4 and yard.camera.far == 120.0


def test_crate_yard_meshes(yard):
    wood = by_name(yard, "crate/wood").mesh
    # The crate body is the unit box written by make_assets.py: same vertex set, same triangle count.
    ref = meshes.box((1.0, 1.0, 1.0))
    assert len(wood.indices) == 12
    assert sorted(map(tuple, np.round(wood.positions, 5))) == sorted(map(tuple, np.round(ref.positions, 5)))
    # The same file is loaded once and its meshes shared between instances.
    assert by_name(yard, "crate_moving/wood").mesh is wood
    sphere = by_name(yard, "ball").mesh
    assert len(sphere.indices) == 2 * 32 * 15
    np.testing.assert_allclose(np.linalg.norm(sphere.positions, axis=1), 0.5, rtol=1e-6)
    assert len(by_name(yard, "tower").mesh.indices) == 576


def test_crate_yard_materials(yard):
    ground = by_name(yard, "ground").material
    assert ground.uv_scale == (16.0, 16.0) and ground.specular == 0.3 and ground.roughness == 0.4
    ref = textures.checker(128, 8, (0.7, 0.7, 0.7), (0.08, 0.08, 0.08))
    np.testing.assert_array_equal(ground.base_color_texture.pixels, ref.pixels)
    ball = by_name(yard, "ball").material
    assert (ball.base_color, ball.specular, ball.roughness) == ((0.8, 0.1, 0.05), 1.0, 0.08)
    wall = by_name(yard, "wall").material
    png = np.asarray(Image.open(EXAMPLES / "assets" / "stripes.png").convert("RGBA"))
    np.testing.assert_array_equal(wall.base_color_texture.pixels, png)
    assert wall.uv_scale == (8.0, 1.0)
    bush = by_name(yard, "bush").material
    assert bush.alpha_cutoff == 0.5 and bush.double_sided
    np.testing.assert_array_equal(bush.base_color_texture.pixels, textures.leaves(128, seed=3).pixels)
    # Materials from the OBJ's MTL when the object gives none; the named material shared by reference.
    assert by_name(yard, "crate/metal").material.specular == pytest.approx(0.9)
    assert by_name(yard, "fence").material.roughness == 0.25


def test_crate_yard_animation(yard):
    crate = by_name(yard, "crate/wood")
    np.testing.assert_array_equal(
        crate.model_matrix(3.0), transforms.trs((-1.5, 0.5, 0.0), (0, 20, 0), (1, 1, 1))
    )
    moving = by_name(yard, "crate_moving/metal")
    np.testing.assert_allclose(
        moving.model_matrix(2.0), transforms.trs((0.0, 0.5, 2.0), (0, 90, 0), (1, 1, 1)), atol=1e-12
    )
    assert yard.has_cut_between(2.4, 2.5) and not yard.has_cut_between(2.5, 4.0)
    state = yard.evaluate(2.5)
    np.testing.assert_allclose(state.camera_position, (5.0, 1.0, 2.0))
    assert state.fov_y_deg == 45.0


def test_relative_paths_do_not_depend_on_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scene = load_scene(str(EXAMPLES / "crate_yard.json"))
    assert len(scene.objects) == 10


def test_minimal_defaults():
    scene = load_scene_file(EXAMPLES / "minimal.json")
    assert scene.name == "minimal" and scene.duration_s == 2.0
    (obj,) = scene.objects
    assert obj.name == "object0" and len(obj.mesh.indices) == 12
    assert obj.material.base_color == (0.9, 0.4, 0.1) and obj.material.roughness == 0.5
    np.testing.assert_array_equal(obj.model_matrix(0.0), np.eye(4))
    assert scene.camera.keys[0].fov_y_deg == 60.0 and scene.camera.near == 0.1


def test_load_scene_builtin_name_and_rng():
    a = load_scene("specular")
    assert a.name == "specular"
    b = load_scene("specular", np.random.default_rng(3))
    assert b.camera.keys[0].position != a.camera.keys[0].position
    assert set(BUILTIN_SCENES) >= {
        "wires_fence",
        "grazing_textures",
        "foliage",
        "specular",
        "fast_motion",
        "camera_cut",
    }


def test_every_procedural_type_loads_from_json(tmp_path):
    """Each generator's parameters are reachable from a scene file, vectors also as one number."""
    from engine_bridge.scene.meshes import PROCEDURAL_MESHES

    objects = [{"mesh": {"type": t}} for t in PROCEDURAL_MESHES]
    objects.append({"mesh": {"type": "cable", "start": [0, 3, 0], "end": [6, 3, 0], "sag": 1, "sides": 3}})
    objects.append({"mesh": {"type": "wire_grid", "size": 3, "cells": [2, 5]}})
    objects.append(
        {"mesh": {"type": "box"}, "material": {"texture": {"type": "stripes", "count": 4, "angle_deg": 90}}}
    )
    scene_json = {"camera": {"keys": [{"position": [0, 1, 5], "target": [0, 0, 0]}]}, "objects": objects}
    path = tmp_path / "all.json"
    path.write_text(__import__("json").dumps(scene_json))
    scene = load_scene_file(path)
    n = len(PROCEDURAL_MESHES)
    for obj, name in zip(scene.objects, PROCEDURAL_MESHES):
        assert obj.mesh.name == name
    cable = scene.objects[n].mesh
    assert len(cable.indices) == 2 * 3 * 24
    # Centre line sags from y = 3 to 2; a 3-sided tube of radius 0.01 reaches at most 0.01 lower.
    assert 2.0 - 0.01 - 1e-6 <= cable.positions[:, 1].min() < 2.0
    grid = scene.objects[n + 1].mesh
    assert len(grid.indices) == 12 * (3 + 6) and grid.positions[:, 0].max() == pytest.approx(1.5 + 0.01)
    np.testing.assert_array_equal(
        scene.objects[n + 2].material.base_color_texture.pixels,
        textures.stripes(count=4, angle_deg=90).pixels,
    )
