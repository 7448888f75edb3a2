"""Every kind of bad scene file raises SceneError naming the file and the field path."""

import copy
import json

import pytest

from engine_bridge.scene.errors import SceneError
from engine_bridge.scene.loader import load_scene, load_scene_file
from qwplugin.errors import InvalidArgument

VALID = {
    "name": "t",
    "camera": {
        "keys": [
            {"time_s": 0.0, "position": [0, 1, 4], "target": [0, 0, 0]},
            {"time_s": 1.0, "position": [1, 1, 4], "target": [0, 0, 0]},
        ]
    },
    "materials": {"red": {"base_color": [0.8, 0.1, 0.1]}},
    "objects": [
        {"name": "floor", "mesh": {"type": "plane", "size": [10, 10]}, "material": "red"},
        {
            "name": "box",
            "mesh": {"type": "box"},
            "material": {"roughness": 0.3},
            "keys": [{"time_s": 0.0}, {"time_s": 1.0, "translation": [1, 0, 0]}],
        },
    ],
}


def _write(tmp_path, data, name="scene.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _error(path) -> SceneError:
    with pytest.raises(SceneError) as info:
        load_scene_file(path)
    err = info.value
    assert err.file == str(path)
    assert str(path) in str(err)
    return err


def _mutated(edit):
    data = copy.deepcopy(VALID)
    edit(data)
    return data


def test_valid_base_scene_loads(tmp_path):
    scene = load_scene_file(_write(tmp_path, VALID))
    assert [o.name for o in scene.objects] == ["floor", "box"]
    assert scene.objects[0].material.base_color == (0.8, 0.1, 0.1)


def test_scene_error_is_invalid_argument():
    assert issubclass(SceneError, InvalidArgument) and issubclass(SceneError, ValueError)


def test_missing_file(tmp_path):
    err = _error(tmp_path / "nope.json")
    assert "not found" in str(err) and err.field == ""


def test_bad_json_reports_line_and_column(tmp_path):
    text = '{\n  "name": "x",\n  "camera": {"keys": []\n  "objects": []\n}\n'  # missing comma after line 3
    err = _error(_write(tmp_path, text))
    assert (err.line, err.column) == (4, 3)
    assert "line 4 column 3" in str(err)


def test_nan_is_rejected(tmp_path):
    err = _error(_write(tmp_path, '{"duration_s": NaN}'))
    assert "NaN" in str(err)


def test_duplicate_field(tmp_path):
    err = _error(_write(tmp_path, '{"name": "a", "name": "b"}'))
    assert err.field == "name" and "duplicate" in str(err)


# (edit, expected field path, a word the message must contain)
CASES = {
    "unknown top-level field": (lambda d: d.update(objets=[]), "objets", "did you mean 'objects'"),
    "unknown nested field": (
        lambda d: d["objects"][1]["material"].update(rougness=0.2),
        "objects[1].material.rougness",
        "did you mean 'roughness'",
    ),
    "unknown procedural parameter": (
        lambda d: d["objects"][1]["mesh"].update(radius=1.0),
        "objects[1].mesh.radius",
        "unknown field",
    ),
    "unknown mesh type": (
        lambda d: d["objects"][1]["mesh"].update(type="teapot"),
        "objects[1].mesh.type",
        "unknown value",
    ),
    "missing required field": (
        lambda d: d["camera"]["keys"][1].pop("position"),
        "camera.keys[1].position",
        "missing required",
    ),
    "missing camera": (lambda d: d.pop("camera"), "camera", "missing required"),
    "wrong type number": (
        lambda d: d["camera"]["keys"][0].update(fov_y_deg="wide"),
        "camera.keys[0].fov_y_deg",
        "wrong type",
    ),
    "wrong type bool is not a number": (
        lambda d: d["objects"][1]["material"].update(specular=True),
        "objects[1].material.specular",
        "wrong type",
    ),
    "wrong vector length": (
        lambda d: d["objects"][1]["keys"][1].update(translation=[1, 2]),
        "objects[1].keys[1].translation",
        "wrong type",
    ),
    "wrong vector element": (
        lambda d: d["objects"][1]["keys"][1].update(translation=[1, "a", 2]),
        "objects[1].keys[1].translation[1]",
        "wrong type",
    ),
    "objects not an array": (lambda d: d.update(objects={}), "objects", "wrong type"),
    "roughness out of range": (
        lambda d: d["objects"][1]["material"].update(roughness=0.0),
        "objects[1].material.roughness",
        "out of range",
    ),
    "alpha cutoff out of range": (
        lambda d: d["objects"][1]["material"].update(alpha_cutoff=1.5),
        "objects[1].material.alpha_cutoff",
        "out of range",
    ),
    "fov out of range": (
        lambda d: d["camera"]["keys"][0].update(fov_y_deg=180),
        "camera.keys[0].fov_y_deg",
        "out of range",
    ),
    "far before near": (lambda d: d["camera"].update(near=1.0, far=0.5), "camera.far", "out of range"),
    "negative colour": (lambda d: d.update(background=[0.1, -0.1, 0.1]), "background[1]", "out of range"),
    "procedural value out of range": (
        lambda d: d["objects"][1].update(mesh={"type": "sphere", "segments": 2}),
        "objects[1].mesh.segments",
        "too small",
    ),
    "procedural texture out of range": (
        lambda d: d["objects"][1]["material"].update(texture={"type": "checker", "size": 0}),
        "objects[1].material.texture.size",
        "out of range",
    ),
    "keys not increasing": (
        lambda d: d["objects"][1]["keys"][1].update(time_s=0.0),
        "objects[1].keys[1].time_s",
        "increasing",
    ),
    "camera keys not increasing": (
        lambda d: d["camera"]["keys"][1].update(time_s=-1.0),
        "camera.keys[1].time_s",
        "increasing",
    ),
    "unknown material name": (
        lambda d: d["objects"][0].update(material="blue"),
        "objects[0].material",
        "unknown material",
    ),
    "mesh with path and type": (
        lambda d: d["objects"][0]["mesh"].update(path="x.obj"),
        "objects[0].mesh",
        "exactly one",
    ),
    "keys and transform": (lambda d: d["objects"][1].update(transform={}), "objects[1].transform", "either"),
    "time_s in a static transform": (
        lambda d: d["objects"][0].update(transform={"time_s": 1.0}),
        "objects[0].transform.time_s",
        "unknown field",
    ),
    "zero scale": (
        lambda d: d["objects"][0].update(transform={"scale": [1, 0, 1]}),
        "objects[0].transform.scale",
        "zero",
    ),
    "camera target equals position": (
        lambda d: d["camera"]["keys"][0].update(target=[0, 1, 4]),
        "camera.keys[0].target",
        "equals",
    ),
    "unsupported version": (lambda d: d.update(version=2), "version", "unsupported"),
    "wrap choice": (
        lambda d: d["objects"][1]["material"].update(texture={"type": "checker", "wrap": "mirror"}),
        "objects[1].material.texture.wrap",
        "unknown field",
    ),
    "missing texture file (string)": (
        lambda d: d["objects"][1]["material"].update(texture="bark.png"),
        "objects[1].material.texture",
        "texture file not found",
    ),
    "missing texture file (object)": (
        lambda d: d["objects"][1]["material"].update(texture={"path": "bark.png"}),
        "objects[1].material.texture.path",
        "texture file not found",
    ),
    "missing mesh file": (
        lambda d: d["objects"][1].update(mesh={"path": "meshes/tree.obj"}),
        "objects[1].mesh.path",
        "mesh file not found",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_names_file_and_field(tmp_path, case):
    edit, field, words = CASES[case]
    err = _error(_write(tmp_path, _mutated(edit)))
    assert err.field == field, str(err)
    assert f"{tmp_path / 'scene.json'}: {field}: " in str(err)
    assert words in str(err)


def test_undecodable_texture_names_field(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    err = _error(_write(tmp_path, _mutated(lambda d: d["objects"][1]["material"].update(texture="bad.png"))))
    assert err.field == "objects[1].material.texture" and "cannot decode" in str(err)


def test_unreadable_mesh_names_field(tmp_path):
    (tmp_path / "broken.glb").write_bytes(b"glTF garbage")
    err = _error(_write(tmp_path, _mutated(lambda d: d["objects"][1].update(mesh={"path": "broken.glb"}))))
    assert err.field == "objects[1].mesh.path" and "trimesh cannot read" in str(err)


def test_unknown_scene_name():
    with pytest.raises(SceneError) as info:
        load_scene("no_such_scene")
    assert "no_such_scene" in str(info.value) and "wires_fence" in str(info.value)
