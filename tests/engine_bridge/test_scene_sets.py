"""The three scene sets (engine_bridge/scene/sets.py) and the third-party scenes of examples/scenes/test/.

Checks: every test scene parses, loads, lasts >= 4 s and references only files under
``examples/scenes/test/assets/`` (glTF buffers and images included); no test asset has the bytes of a
team-made asset; SOURCES.md names every asset; the set's scenes together cover the TAA stress cases;
the sets are disjoint; ``--scenes`` parsing; the egg converter; and one small render per scene that shows
geometry, not background.
"""

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from engine_bridge.scene import sets
from engine_bridge.scene.model import Scene
from engine_bridge.scene.sets import (
    SceneSpec,
    resolve_scene_list,
    scene_set,
    split_of,
    test_scenes as list_test_scenes,
    training_scenes,
    validation_scenes,
)
from qwplugin.errors import InvalidArgument

REPO = Path(__file__).resolve().parents[2]
TEST_DIR = REPO / "examples" / "scenes" / "test"
TEST_ASSETS = TEST_DIR / "assets"
TEAM_ASSETS = REPO / "examples" / "scenes" / "assets"
MIN_DURATION_S = 4.0
MIN_TEST_SCENES = 4
RENDER_W, RENDER_H = 64, 48
MIN_COVERAGE = 0.4
"""Smallest fraction of pixels of a small render that must show geometry (not the cleared background)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scene_json(spec: SceneSpec) -> dict:
    return json.loads(Path(spec.source).read_text())


def _referenced_files(scene_file: Path) -> list[tuple[str, Path]]:
    """(where, resolved path) of every file a scene JSON names: mesh paths, texture paths (string or
    object form), and inside glTF files their buffer and image URIs."""
    data = json.loads(scene_file.read_text())
    found = []

    def texture(where, value):
        if isinstance(value, str):
            found.append((where, value))
        elif isinstance(value, dict) and "path" in value:
            found.append((where, value["path"]))

    def material(where, value):
        if isinstance(value, dict) and "texture" in value:
            texture(f"{where}.texture", value["texture"])

    for name, mat in data.get("materials", {}).items():
        material(f"materials.{name}", mat)
    for i, obj in enumerate(data["objects"]):
        if "path" in obj["mesh"]:
            found.append((f"objects[{i}].mesh", obj["mesh"]["path"]))
        material(f"objects[{i}].material", obj.get("material"))
    out = []
    for where, rel in found:
        path = (scene_file.parent / rel).resolve()
        out.append((where, path))
        if path.suffix == ".gltf":
            doc = json.loads(path.read_text())
            for j, entry in enumerate(doc.get("buffers", []) + doc.get("images", [])):
                out.append((f"{where} -> {path.name} uri {j}", (path.parent / entry["uri"]).resolve()))
    return out


@pytest.fixture(scope="module")
def specs() -> list[SceneSpec]:
    return list_test_scenes()


@pytest.fixture(scope="module")
def scenes(specs) -> dict[str, Scene]:
    return {s.name: s.load() for s in specs}


# --- the test scenes ---------------------------------------------------------------------------------

def test_test_set_is_every_json_in_the_folder(specs):
    stems = sorted(p.stem for p in TEST_DIR.glob("*.json"))
    assert len(stems) >= MIN_TEST_SCENES
    assert [s.name for s in specs] == stems
    assert all(s.split == "test" and s.variant is None for s in specs)
    assert all(Path(s.source).parent == TEST_DIR for s in specs)


def test_every_test_scene_loads_and_lasts_long_enough(specs, scenes):
    for spec in specs:
        scene = scenes[spec.name]
        assert isinstance(scene, Scene) and scene.name == spec.name
        assert scene.duration_s >= MIN_DURATION_S, f"{spec.name}: {scene.duration_s} s"
        assert scene.objects, spec.name
        for t in np.linspace(0.0, scene.duration_s, 9):
            state = scene.evaluate(float(t))
            assert np.isfinite(state.view).all() and all(np.isfinite(m).all() for m in state.model_matrices)


def test_test_scenes_reference_only_files_under_the_test_assets(specs):
    root = TEST_ASSETS.resolve()
    for spec in specs:
        refs = _referenced_files(Path(spec.source))
        assert refs, spec.name
        for where, path in refs:
            assert path.is_file(), f"{spec.name}: {where}: {path} missing"
            assert path.is_relative_to(root), f"{spec.name}: {where}: {path} is outside {root}"


def test_test_scenes_use_no_procedural_mesh_or_texture(specs):
    for spec in specs:
        data = _scene_json(spec)
        mats = list(data.get("materials", {}).values()) + [o.get("material") for o in data["objects"]]
        for obj in data["objects"]:
            assert "type" not in obj["mesh"], f"{spec.name}: procedural mesh {obj['mesh']}"
        for mat in mats:
            if isinstance(mat, dict) and isinstance(mat.get("texture"), dict):
                assert "type" not in mat["texture"], f"{spec.name}: procedural texture {mat['texture']}"


def test_test_assets_share_no_bytes_with_team_assets():
    team = {_sha256(p): p.name for p in TEAM_ASSETS.rglob("*") if p.is_file()}
    ours = [p for p in TEST_ASSETS.rglob("*") if p.is_file()]
    assert team and len(ours) > 10
    clashes = [(p.relative_to(TEST_ASSETS), team[h]) for p in ours if (h := _sha256(p)) in team]
    assert not clashes


def test_sources_md_names_every_asset_with_a_licence():
    text = (TEST_ASSETS / "SOURCES.md").read_text()
    for path in TEST_ASSETS.rglob("*"):
        if path.is_file() and path.name != "SOURCES.md":
            rel = path.relative_to(TEST_ASSETS).as_posix()
            stem = rel.rsplit(".", 1)[0]
            assert f"`{rel}`" in text or f"`{stem}.gltf` + `.bin`" in text, f"{rel} not in SOURCES.md"
    for words in ("BSD", "CC0", "panda3d", "1.10.16", "scikit-image", "0.26.0"):
        assert words in text


def test_test_set_covers_the_taa_stress_cases(scenes):
    """Across the set: camera translation and rotation, a cut, a moving object in front of others,
    alpha-tested cards, a tiled texture (grazing angles), a glossy specular material."""
    cuts = moves = translates = rotates = 0
    cutout = specular = tiled = False
    for scene in scenes.values():
        times = np.linspace(0.0, scene.duration_s, 41)
        cuts += scene.has_cut_between(-1.0, scene.duration_s)
        states = [scene.evaluate(float(t)) for t in times]
        positions = np.array([s.camera_position for s in states])
        forwards = np.array([-s.view[2, :3] for s in states])  # world-space view direction
        translates += np.ptp(positions, axis=0).max() > 1.0
        rotates += np.degrees(np.arccos(np.clip(forwards @ forwards[0], -1, 1))).max() > 15.0
        for i, obj in enumerate(scene.objects):
            if len(obj.keys) > 1:
                travel = np.ptp([s.model_matrices[i][:3, 3] for s in states], axis=0).max()
                moves += travel > 1.0
            m = obj.material
            cutout |= m.alpha_cutoff is not None and m.base_color_texture is not None and m.double_sided
            specular |= m.specular >= 0.8 and m.roughness <= 0.1
            tiled |= m.base_color_texture is not None and max(m.uv_scale) >= 10
    assert cuts >= 1 and moves >= 1 and translates >= 2 and rotates >= 2
    assert cutout and specular and tiled


# --- the three sets ----------------------------------------------------------------------------------

def test_sets_are_disjoint_by_name_and_source():
    by_set = {name: scene_set(name) for name in sets.SET_NAMES}
    assert all(by_set.values())
    for a in sets.SET_NAMES:
        for b in sets.SET_NAMES:
            if a < b:
                assert not {s.name for s in by_set[a]} & {s.name for s in by_set[b]}, (a, b)
                sources_a = {(s.source, s.variant) for s in by_set[a]}
                sources_b = {(s.source, s.variant) for s in by_set[b]}
                assert not sources_a & sources_b, (a, b)
                assert not {s.source for s in by_set[a]} & {s.source for s in by_set[b]}, (a, b)
    for name, specs in by_set.items():
        assert all(s.split == name for s in specs)
        assert all(split_of(s.source) == name for s in specs), name
    assert [s.name for s in training_scenes()] == list(sets.TRAINING_GENERATORS)
    assert [s.name for s in validation_scenes()] == ["mixed", "mixed@v1", "mixed@v2", "crate_yard"]


def test_resolve_scene_list_set_and_variant(specs):
    got = resolve_scene_list("set:test,mixed@v1")
    assert got == specs + [SceneSpec("mixed@v1", "mixed", 1, "validation")]
    # duplicates are dropped; a test scene named by path keeps its split
    path = specs[0].source
    again = resolve_scene_list(f"set:test, {path} ,mixed@v1,mixed@v1")
    assert again == got
    assert resolve_scene_list(path) == [SceneSpec(specs[0].name, path, None, "test")]


@pytest.mark.parametrize("text", ["set:bogus", "set:", "mixed,set:Test"])
def test_unknown_set_raises(text):
    with pytest.raises(InvalidArgument, match="unknown scene set"):
        resolve_scene_list(text)


def test_scene_set_unknown_name_and_bad_lists():
    with pytest.raises(InvalidArgument, match="unknown scene set") as info:
        scene_set("testing")
    assert info.value.field == "set" and "training" in info.value.expected
    for bad in ("", " , ", "mixed@v0", "mixed@vx"):
        with pytest.raises(InvalidArgument):
            resolve_scene_list(bad)


# --- the converter -----------------------------------------------------------------------------------

def _converter():
    spec = importlib.util.spec_from_file_location("make_test_assets", TEST_DIR / "make_test_assets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


MINI_EGG = """
<CoordinateSystem> { Z-Up }
// a comment
<Texture> leaf { "maps/leaf.png" <Scalar> wrapu { clamp } }
<Group> card {
  <VertexPool> card.verts {
    <Vertex> 1 { 0 0 0 <UV> { 0 0 } }
    <Vertex> 2 { 2 0 0 <UV> { 1 0 } <Normal> { 0 -1 0 } }
    <Vertex> 3 { 2 0 3 <UV> { 1 1 } }
    <Vertex> 4 { 0 0 3 <UV> { 0 1 } }
  }
  <Polygon> { <RGBA> { 1 1 1 1 } <TRef> { leaf } <VertexRef> { 1 2 3 4 <Ref> { card.verts } } }
  <Polygon> { <RGBA> { 0.5 0.5 0.5 1 } <VertexRef> { 1 2 3 <Ref> { card.verts } } }
}
"""


def test_egg_converter_triangulates_turns_z_up_and_flips_v():
    conv = _converter()
    meshes = conv.egg_meshes(conv.parse_egg(MINI_EGG))
    assert [m.name for m in meshes] == ["leaf", "untextured"]
    leaf, plain = meshes
    assert leaf.texture.path == "maps/leaf.png"
    assert (leaf.texture.wrap_u, leaf.texture.wrap_v) == ("clamp", "repeat")
    assert leaf.indices.tolist() == [[0, 1, 2], [0, 2, 3]]  # fan of the quad, order kept
    # Z-up (x, y, z) -> Y-up (x, z, -y): the card stands in the XY plane, 2 wide and 3 tall
    np.testing.assert_allclose(leaf.positions, [[0, 0, 0], [2, 0, 0], [2, 3, 0], [0, 3, 0]])
    np.testing.assert_allclose(leaf.uvs, [[0, 1], [1, 1], [1, 0], [0, 0]])  # glTF: v = 1 - v_egg
    # vertex 2 has a normal (egg -y -> +z); the others take the polygon's computed normal, also +z
    np.testing.assert_allclose(leaf.normals, [[0, 0, 1]] * 4, atol=1e-6)
    p = leaf.positions[leaf.indices]
    assert (np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])[:, 2] > 0).all()  # counter-clockwise seen from +z
    assert plain.texture is None and plain.rgba == (0.5, 0.5, 0.5, 1.0) and len(plain.indices) == 1


@pytest.mark.parametrize("text, match", [("<Group> g { <Polygon> { }", "unclosed"), ("}", "unbalanced"),
                                         ("<Group> g", "no { body }")])
def test_egg_parser_rejects_broken_text(text, match):
    with pytest.raises(ValueError, match=match):
        _converter().parse_egg(text)


def test_committed_gltf_matches_the_converter_on_its_own_output():
    """Re-export the committed environment (read back through trimesh) and compare the triangle count
    and bounds with the glTF's own accessors: the committed files are complete and self-consistent."""
    import trimesh

    doc = json.loads((TEST_ASSETS / "panda3d" / "environment.gltf").read_text())
    scene = trimesh.load_scene(TEST_ASSETS / "panda3d" / "environment.gltf")
    tris = sum(len(g.faces) for g in scene.geometry.values())
    accessors = doc["accessors"]
    assert tris == sum(accessors[p["indices"]]["count"] // 3 for m in doc["meshes"] for p in m["primitives"])
    masked = [m["name"] for m in doc["materials"] if m.get("alphaMode") == "MASK"]
    assert {"envir-reeds", "envir-bamboo", "envir-tree1", "envir-tree2"} <= set(masked)
    position = [accessors[m["primitives"][0]["attributes"]["POSITION"]] for m in doc["meshes"]]
    lo, hi = np.min([a["min"] for a in position], 0), np.max([a["max"] for a in position], 0)
    np.testing.assert_allclose(scene.bounds, [lo, hi], rtol=1e-6)


# --- rendering ---------------------------------------------------------------------------------------

@pytest.mark.gl
def test_each_test_scene_renders_geometry_not_background(specs, scenes):
    """Two G-buffer frames per scene at 64x48 (t = 0 and 70% of the duration): most pixels are covered
    by geometry (view depth below the far plane), the colours vary (textures and shading show), and
    the frame is finite and not black."""
    import engine_bridge.gl  # noqa: F401  (chooses PyOpenGL's platform before OpenGL is imported)
    from engine_bridge.gl import create_context
    from engine_bridge.raster import Renderer

    with create_context(width=RENDER_W, height=RENDER_H):
        for spec in specs:
            scene = scenes[spec.name]
            with Renderer(scene, RENDER_W, RENDER_H) as renderer:
                for t in (0.0, 0.7 * scene.duration_s):
                    renderer.render_gbuffer(t, None, renderer.jitter_for_frame(0))
                    frame = renderer.read_gbuffer()
                    far = scene.evaluate(t).far
                    covered = frame.depth_view < 0.999 * far
                    coverage = float(covered.mean())
                    color = frame.color[covered]
                    assert np.isfinite(frame.color).all(), spec.name
                    assert coverage >= MIN_COVERAGE, f"{spec.name} t={t:.2f}: {coverage:.0%} covered"
                    assert color.mean() > 0.02, f"{spec.name} t={t:.2f}: black"
                    assert color.std(axis=0).max() > 0.02, f"{spec.name} t={t:.2f}: flat colour"
