"""OBJ and GLB import through trimesh: UVs, normals, textures, materials, node transforms."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial
from trimesh.visual.texture import TextureVisuals

from engine_bridge.scene import meshes
from engine_bridge.scene.trimesh_import import load_mesh_file
from qwplugin.errors import InvalidArgument

ASSETS = Path(__file__).resolve().parents[2] / "examples" / "scenes" / "assets"


def _make_assets_module():
    spec = importlib.util.spec_from_file_location("make_assets", ASSETS.parent / "make_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _winding_agrees(mesh) -> bool:
    p, t = mesh.positions.astype(np.float64), mesh.indices
    g = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    return bool(np.all(np.einsum("ij,ij->i", g, mesh.normals[t].sum(axis=1)) > 0))


def test_obj_parts_uvs_normals_texture():
    parts = {p.name: p for p in load_mesh_file(ASSETS / "crate.obj")}
    assert set(parts) == {"wood", "metal"}
    wood, metal = parts["wood"], parts["metal"]
    assert len(wood.mesh.indices) == 12 and len(metal.mesh.indices) == 24
    # Box faces map to the full UV square: every vertex UV is a corner.
    assert set(map(tuple, wood.mesh.uvs.tolist())) == {(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)}
    # Flat box: unit normals along an axis, front faces counter-clockwise (agree with the normals).
    np.testing.assert_allclose(np.linalg.norm(wood.mesh.normals, axis=1), 1.0, rtol=1e-6)
    assert np.all(np.sort(np.abs(wood.mesh.normals), axis=1)[:, :2] == 0)
    assert _winding_agrees(wood.mesh) and _winding_agrees(metal.mesh)
    # map_Kd texture equals the PNG on disk, top-down rows.
    png = np.asarray(Image.open(ASSETS / "crate_planks.png").convert("RGBA"))
    np.testing.assert_array_equal(wood.material.base_color_texture.pixels, png)
    assert wood.material.base_color_texture.srgb


def test_obj_material_mapping():
    parts = {p.name: p for p in load_mesh_file(ASSETS / "crate.obj")}
    metal = parts["metal"].material
    assert metal.base_color == pytest.approx((0.3, 0.3, 0.32))  # Kd
    assert metal.specular == pytest.approx(0.9)  # mean Ks
    # Ns 400 -> roughness with 2 / r^4 - 2 = 400
    assert 2 / metal.roughness**4 - 2 == pytest.approx(400.0)
    assert metal.base_color_texture is None and metal.alpha_cutoff is None


def test_glb_matches_generator_geometry_and_material():
    (part,) = load_mesh_file(ASSETS / "tower.glb")
    ref = _make_assets_module().tower_mesh()
    # GLB stores float32 positions in the generator's vertex order.
    np.testing.assert_allclose(part.mesh.positions, ref.positions, atol=1e-6)
    np.testing.assert_array_equal(part.mesh.indices, ref.indices)
    np.testing.assert_allclose(part.mesh.uvs, ref.uvs, atol=1e-6)
    m = part.material
    assert m.roughness == pytest.approx(0.35) and m.specular == pytest.approx(0.04 + 0.96 * 0.2)
    assert m.base_color_texture.pixels.shape == (64, 64, 4)


def _export_glb(path, matrix, material):
    box = meshes.box((1.0, 2.0, 3.0))
    tm = trimesh.Trimesh(
        vertices=box.positions,
        faces=box.indices,
        vertex_normals=box.normals,
        visual=TextureVisuals(uv=box.uvs, material=material),
        process=False,
    )
    scene = trimesh.Scene()
    scene.add_geometry(tm, node_name="n", geom_name="g", transform=matrix)
    path.write_bytes(scene.export(file_type="glb"))
    return box


def test_node_transform_is_baked_and_mirror_keeps_winding(tmp_path):
    matrix = np.diag([-1.0, 1.0, 1.0, 1.0])  # a mirror
    matrix[:3, 3] = (5.0, 0.0, -2.0)
    texture = Image.fromarray(np.full((4, 4, 4), (10, 200, 30, 100), np.uint8), "RGBA")
    material = PBRMaterial(
        baseColorTexture=texture,
        baseColorFactor=[0.5, 0.25, 1.0, 1.0],
        alphaMode="MASK",
        alphaCutoff=0.3,
        doubleSided=True,
        roughnessFactor=0.5,
        metallicFactor=0.0,
        emissiveFactor=[2.0, 0.0, 0.0],
    )
    box = _export_glb(tmp_path / "m.glb", matrix, material)
    (part,) = load_mesh_file(tmp_path / "m.glb")
    expected = box.positions * np.array([-1.0, 1.0, 1.0]) + np.array([5.0, 0.0, -2.0])
    np.testing.assert_allclose(part.mesh.positions, expected, atol=1e-6)
    np.testing.assert_allclose(part.mesh.normals, box.normals * np.array([-1.0, 1.0, 1.0]), atol=1e-6)
    assert _winding_agrees(part.mesh)
    m = part.material
    assert m.alpha_cutoff == pytest.approx(0.3) and m.double_sided and m.roughness == pytest.approx(0.5)
    # glTF factors are linear floats; trimesh keeps them as uint8, so 1/255 precision.
    np.testing.assert_allclose(m.base_color, (0.5, 0.25, 1.0), atol=1 / 255)
    assert m.emissive[0] > 1.0  # HDR emissive survives
    assert m.base_color_texture.pixels[0, 0].tolist() == [10, 200, 30, 100]


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(InvalidArgument, match="not found"):
        load_mesh_file(tmp_path / "none.obj")
    (tmp_path / "bad.glb").write_bytes(b"\x00" * 20)
    with pytest.raises(InvalidArgument, match="trimesh cannot read"):
        load_mesh_file(tmp_path / "bad.glb")


def test_committed_assets_match_the_generator(tmp_path):
    """The committed OBJ/MTL are what make_assets.py writes; the PNG decodes to the same pixels."""
    module = _make_assets_module()
    module.write_crate(tmp_path)
    for name in ("crate.obj", "crate.mtl"):
        assert (tmp_path / name).read_bytes() == (ASSETS / name).read_bytes(), name
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "crate_planks.png")),
        np.asarray(Image.open(ASSETS / "crate_planks.png")),
    )
