"""Procedural meshes and textures: exact geometry, documented triangle counts, winding, tiling."""

import numpy as np
import pytest
from PIL import Image

from engine_bridge.scene import meshes, textures, transforms
from qwplugin.errors import InvalidArgument


def winding_agrees(mesh) -> bool:
    """Every triangle's geometric normal (counter-clockwise) points the way its vertex normals do."""
    p, t = mesh.positions.astype(np.float64), mesh.indices
    g = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    return bool(np.all(np.einsum("ij,ij->i", g, mesh.normals[t].sum(axis=1)) > 0))


# (mesh, documented triangle count)
CASES = {
    "plane": (lambda: meshes.plane((2.0, 3.0), (4, 5)), 2 * 4 * 5),
    "box": (lambda: meshes.box((1.0, 2.0, 3.0)), 12),
    "sphere": (lambda: meshes.sphere(1.5, 20, 10), 2 * 20 * 9),
    "cylinder": (lambda: meshes.cylinder(0.5, 2.0, 16), 4 * 16),
    "cable": (lambda: meshes.cable((0, 5, 0), (10, 5, 0), sag=1.0, segments=12, sides=5), 2 * 5 * 12),
    "wire_grid": (lambda: meshes.wire_grid((2.0, 1.0), (6, 3)), 12 * (7 + 4)),
    "fence": (lambda: meshes.fence(posts=3, cells=(10, 4)), 12 * (3 + 2 + 11 + 5)),
    "foliage_cards": (lambda: meshes.foliage_cards(count=7, crossed=True), 2 * 2 * 7),
}


@pytest.mark.parametrize("name", list(CASES))
def test_mesh_counts_normals_winding(name):
    make, triangles = CASES[name]
    mesh = make()
    assert len(mesh.indices) == triangles
    np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-6)
    assert winding_agrees(mesh)
    assert np.all(np.isfinite(mesh.uvs)) and mesh.uvs.min() >= -1e-6 and mesh.uvs.max() <= 1 + 1e-6
    assert set(meshes.PROCEDURAL_MESHES) >= {
        "plane",
        "box",
        "sphere",
        "cylinder",
        "wire_grid",
        "fence",
        "foliage_cards",
        "cable",
    }


def test_plane_exact_vertices():
    m = meshes.plane((2.0, 4.0))
    # UV (0, 0) at (-x, +z), u along +x, v along -z; normal +y.
    expected = {
        (0.0, 0.0): (-1.0, 0.0, 2.0),
        (1.0, 0.0): (1.0, 0.0, 2.0),
        (0.0, 1.0): (-1.0, 0.0, -2.0),
        (1.0, 1.0): (1.0, 0.0, -2.0),
    }
    for uv, pos in zip(m.uvs.tolist(), m.positions.tolist()):
        assert tuple(pos) == expected[tuple(uv)]
    assert np.all(m.normals == (0.0, 1.0, 0.0))


def test_box_and_sphere_geometry():
    b = meshes.box((1.0, 2.0, 3.0))
    np.testing.assert_array_equal(b.positions.min(axis=0), (-0.5, -1.0, -1.5))
    np.testing.assert_array_equal(b.positions.max(axis=0), (0.5, 1.0, 1.5))
    s = meshes.sphere(1.5, 20, 10)
    np.testing.assert_allclose(np.linalg.norm(s.positions, axis=1), 1.5, rtol=1e-6)
    np.testing.assert_allclose(s.normals, s.positions / 1.5, atol=1e-6)  # smooth normals are radial


def test_cable_sags_by_the_given_amount():
    c = meshes.cable((0, 5, 0), (10, 5, 0), sag=1.0, radius=0.01, segments=12)
    # The centre line's lowest point is sag below the ends; the tube adds its radius.
    assert c.positions[:, 1].min() == pytest.approx(4.0 - 0.01, abs=1e-5)


def test_merge_transforms_normals_by_inverse_transpose():
    quad = meshes.plane((1.0, 1.0))
    shear_scale = transforms.rotation_euler_deg((30, 0, 0)) @ transforms.scaling((1.0, 3.0, 0.5))
    merged = meshes.merge([quad], [shear_scale])
    # Reference: the normal of the transformed plane is the cross product of two transformed edges.
    p = merged.positions.astype(np.float64)
    ref = np.cross(p[1] - p[0], p[2] - p[0])
    ref /= np.linalg.norm(ref)
    np.testing.assert_allclose(merged.normals, np.tile(ref, (4, 1)), atol=1e-6)


def test_mesh_parameter_errors():
    with pytest.raises(InvalidArgument) as info:
        meshes.sphere(segments=2)
    assert info.value.field == "segments"
    with pytest.raises(InvalidArgument):
        meshes.box((1.0, -1.0, 1.0))


def test_srgb_encoding_known_values():
    # IEC 61966-2-1 values: 0.18 -> 0.4614 -> 117.7, 0.5 -> 0.7354 -> 187.5, 0.002 (linear segment) -> 6.6
    np.testing.assert_array_equal(
        textures.linear_to_srgb8(np.array([0.0, 0.002, 0.18, 0.5, 1.0, 2.0])), [0, 7, 118, 188, 255, 255]
    )
    x = np.linspace(0, 1, 1001)
    # Round trip within half an 8-bit step of the encoded value, i.e. the slope times 0.5/255.
    back = textures.srgb8_to_linear(textures.linear_to_srgb8(x))
    assert np.all(np.abs(back - x) <= 12.92 * 0.5 / 255 + 1e-12)


def test_checker_exact_and_tiles():
    t = textures.checker(64, 8, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    assert t.pixels.shape == (64, 64, 4) and t.pixels.dtype == np.uint8 and t.srgb
    assert t.pixels[0, 0].tolist() == [255, 255, 255, 255] and t.pixels[0, 8].tolist() == [0, 0, 0, 255]
    assert t.pixels[7, 7, 0] == 255 and t.pixels[8, 8, 0] == 255 and t.pixels[8, 7, 0] == 0
    # Seamless tiling: two by two copies equal the checker of twice the size and cells.
    np.testing.assert_array_equal(
        np.tile(t.pixels, (2, 2, 1)), textures.checker(128, 16, (1, 1, 1), (0, 0, 0)).pixels
    )


def test_stripes_count_and_orientation():
    t = textures.stripes(64, count=8, angle_deg=0.0, color_a=(1, 1, 1), color_b=(0, 0, 0))
    row = t.pixels[5, :, 0]
    assert np.count_nonzero(np.diff(row.astype(int))) == 2 * 8 - 1  # 8 periods, first edge at 0
    assert np.all(t.pixels[:, :, 0] == row[None, :])  # vertical stripes: constant down each column
    h = textures.stripes(64, count=8, angle_deg=90.0)
    assert np.all(h.pixels[:, :, 0] == h.pixels[:, :1, 0])  # horizontal: constant along each row


def test_noise_range_determinism_and_seed():
    a = textures.noise(64, cells=4, seed=1, color_a=(1, 1, 1), color_b=(0, 0, 0))
    assert a.pixels[..., 0].min() == 0 and a.pixels[..., 0].max() == 255  # normalised to the full range
    np.testing.assert_array_equal(
        a.pixels, textures.noise(64, cells=4, seed=1, color_a=(1, 1, 1), color_b=(0, 0, 0)).pixels
    )
    assert not np.array_equal(
        a.pixels, textures.noise(64, cells=4, seed=2, color_a=(1, 1, 1), color_b=(0, 0, 0)).pixels
    )


def test_leaves_alpha_mask():
    t = textures.leaves(64, leaf_count=10, seed=0)
    alpha = t.pixels[..., 3]
    assert set(np.unique(alpha).tolist()) == {0, 255}
    assert 0.1 < (alpha == 255).mean() < 0.9 and t.wrap == "clamp"
    # Transparent texels carry the mean leaf colour (no dark fringes under mipmapping).
    clear = t.pixels[alpha == 0][:, :3]
    assert np.all(clear == clear[0])
    leaf_mean = textures.srgb8_to_linear(t.pixels[alpha == 255][:, :3]).mean(axis=0)
    np.testing.assert_allclose(textures.srgb8_to_linear(clear[0]), leaf_mean, rtol=0.05)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_load_image_exact(tmp_path, mode):
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    data = rng.integers(0, 256, (5, 7, channels), dtype=np.uint8)
    img = Image.fromarray(data[..., 0] if mode == "L" else data, mode)
    img.save(tmp_path / "t.png")
    t = textures.load_image(tmp_path / "t.png", srgb=False, wrap="clamp")
    assert t.pixels.shape == (5, 7, 4) and not t.srgb and t.wrap == "clamp"
    np.testing.assert_array_equal(t.pixels, np.asarray(img.convert("RGBA")))
    np.testing.assert_array_equal(
        t.pixels[..., :3], np.repeat(data, 3, axis=2) if mode == "L" else data[..., :3]
    )


def test_load_image_errors(tmp_path):
    with pytest.raises(InvalidArgument, match="not found"):
        textures.load_image(tmp_path / "none.png")
    (tmp_path / "x.png").write_text("text")
    with pytest.raises(InvalidArgument, match="cannot decode"):
        textures.load_image(tmp_path / "x.png")
