"""Procedural meshes: plane, box, sphere, cylinder, tube/cable, wire grid, fence, foliage cards.

All return a :class:`~engine_bridge.scene.model.Mesh` in object space (y up, centred as documented),
with per-vertex normals, UVs (v up, OpenGL convention) and counter-clockwise front faces seen from
outside. Sizes are in world units. Triangle counts are given per function so scenes can stay under
the CPU rasterizer's budget (~50k triangles per scene).
"""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import transforms
from engine_bridge.scene.model import Mesh
from qwplugin.errors import InvalidArgument


def _positive(name: str, value) -> None:
    if not np.all(np.asarray(value, dtype=np.float64) > 0):
        raise InvalidArgument(f"{name} must be positive", field=name, expected="> 0", actual=repr(value))


def _at_least(name: str, value, minimum: int) -> None:
    if not np.all(np.asarray(value) >= minimum):
        raise InvalidArgument(f"{name} too small", field=name, expected=f">= {minimum}", actual=repr(value))


def merge(meshes: list[Mesh], matrices: list[np.ndarray] | None = None, name: str = "") -> Mesh:
    """Concatenate meshes, optionally transforming each by a (4, 4) model matrix first (normals by the
    inverse transpose, renormalised)."""
    assert meshes
    pos, nrm, uv, idx, base = [], [], [], [], 0
    for i, m in enumerate(meshes):
        p, n = m.positions.astype(np.float64), m.normals.astype(np.float64)
        if matrices is not None:
            mat = np.asarray(matrices[i], dtype=np.float64)
            p = p @ mat[:3, :3].T + mat[:3, 3]
            n = n @ np.linalg.inv(mat[:3, :3])  # (M^-T n^T)^T = n M^-1
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        pos.append(p)
        nrm.append(n)
        uv.append(m.uvs)
        idx.append(m.indices.astype(np.int64) + base)
        base += len(m.positions)
    return Mesh(np.concatenate(pos), np.concatenate(nrm), np.concatenate(uv), np.concatenate(idx), name=name)


def plane(size=(1.0, 1.0), subdivisions=(1, 1)) -> Mesh:
    """A plane in XZ at y = 0 facing +y, centred at the origin, ``size`` = (x extent, z extent).

    UV (0, 0) at (-x/2, +z/2), u along +x, v along -z. ``2 * sx * sz`` triangles.
    """
    _positive("size", size)
    _at_least("subdivisions", subdivisions, 1)
    (w, d), (sx, sz) = size, (int(subdivisions[0]), int(subdivisions[1]))
    u, v = np.meshgrid(np.linspace(0, 1, sx + 1), np.linspace(0, 1, sz + 1))  # rows follow v
    pos = np.stack([(u - 0.5) * w, np.zeros_like(u), (0.5 - v) * d], axis=-1).reshape(-1, 3)
    uvs = np.stack([u, v], axis=-1).reshape(-1, 2)
    nrm = np.tile([0.0, 1.0, 0.0], (len(pos), 1))
    i = np.arange(sx)[None, :] + (sx + 1) * np.arange(sz)[:, None]
    a, b, c, e = i, i + 1, i + sx + 2, i + sx + 1  # (u,v), (u+1,v), (u+1,v+1), (u,v+1)
    # Seen from +y with u = +x and v = -z, (a, b, c) runs counter-clockwise.
    idx = np.stack([np.stack([a, b, c], -1), np.stack([a, c, e], -1)], axis=-2).reshape(-1, 3)
    return Mesh(pos, nrm, uvs, idx, name="plane")


def box(size=(1.0, 1.0, 1.0)) -> Mesh:
    """An axis-aligned box centred at the origin; 24 vertices (flat normals), 12 triangles, each face
    mapped to the full UV square."""
    _positive("size", size)
    half = np.asarray(size, dtype=np.float64) / 2.0
    faces = []
    # (normal axis, sign): build each face from a unit plane rotated onto it.
    for rot in ((0, 0, 0), (180, 0, 0), (90, 0, 0), (-90, 0, 0), (0, 0, -90), (0, 0, 90)):
        m = transforms.rotation_euler_deg(rot) @ transforms.translation((0, 0.5, 0))
        faces.append((plane((1.0, 1.0)), m))
    unit = merge([f for f, _ in faces], [m for _, m in faces])
    return Mesh(unit.positions * (2 * half), unit.normals, unit.uvs, unit.indices, name="box")


def sphere(radius: float = 1.0, segments: int = 32, rings: int = 16) -> Mesh:
    """A UV sphere centred at the origin: ``segments`` around y, ``rings`` pole to pole;
    ``2 * segments * (rings - 1)`` triangles (pole triangles are dropped).
    u follows longitude, v latitude (v = 1 at the top pole)."""
    _positive("radius", radius)
    _at_least("segments", segments, 3)
    _at_least("rings", rings, 2)
    u, v = np.meshgrid(np.linspace(0, 1, segments + 1), np.linspace(1, 0, rings + 1))
    phi, theta = 2 * np.pi * u, np.pi * (1 - v)  # theta from the top pole
    n = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), -np.sin(theta) * np.sin(phi)], -1)
    n = n.reshape(-1, 3)
    i = np.arange(segments)[None, :] + (segments + 1) * np.arange(rings)[:, None]
    a, b, c, e = i, i + segments + 1, i + segments + 2, i + 1  # top-left, below, below-right, right
    tri = np.stack([np.stack([a, b, c], -1), np.stack([a, c, e], -1)], axis=-2).reshape(-1, 3)
    p = n * radius
    # Drop the zero-area triangles that touch a pole.
    area = np.linalg.norm(np.cross(p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]]), axis=1)
    tri = tri[area > 1e-9 * radius * radius]
    mesh = Mesh(p, n, np.stack([u, v], -1).reshape(-1, 2), tri, name="sphere")
    _fix_winding(mesh)
    return mesh


def tube(points, radius: float, sides: int = 6) -> Mesh:
    """A tube of ``radius`` along the polyline ``points`` (K, 3); ``2 * sides * (K - 1)`` triangles.
    u runs around the tube, v along it (0 to 1 by arc length)."""
    pts = np.asarray(points, dtype=np.float64)
    assert pts.ndim == 2 and pts.shape[1] == 3 and len(pts) >= 2
    _positive("radius", radius)
    _at_least("sides", sides, 3)
    tangents = np.gradient(pts, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    ref = np.array([0.0, 1.0, 0.0]) if abs(tangents[0, 1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    rings_p, rings_n = [], []
    side = np.cross(tangents[0], ref)
    side /= np.linalg.norm(side)
    for t in tangents:  # parallel transport of the frame avoids twisting
        side = side - np.dot(side, t) * t
        side /= np.linalg.norm(side)
        up = np.cross(t, side)
        ang = 2 * np.pi * np.arange(sides + 1) / sides
        rings_n.append(np.cos(ang)[:, None] * side + np.sin(ang)[:, None] * up)
    for p, n in zip(pts, rings_n):
        rings_p.append(p + radius * n)
    pos, nrm = np.concatenate(rings_p), np.concatenate(rings_n)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    u, v = np.meshgrid(np.arange(sides + 1) / sides, arc / max(arc[-1], 1e-12))
    k = len(pts)
    i = np.arange(sides)[None, :] + (sides + 1) * np.arange(k - 1)[:, None]
    a, b, c, e = i, i + 1, i + sides + 2, i + sides + 1
    idx = np.stack([np.stack([a, c, b], -1), np.stack([a, e, c], -1)], axis=-2).reshape(-1, 3)
    mesh = Mesh(pos, nrm, np.stack([u, v], -1).reshape(-1, 2), idx, name="tube")
    _fix_winding(mesh)
    return mesh


def _fix_winding(mesh: Mesh) -> None:
    """Flip triangles whose geometric normal disagrees with their vertex normals (in place)."""
    p, t = mesh.positions, mesh.indices
    g = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    wrong = np.einsum("ij,ij->i", g, mesh.normals[t].sum(axis=1)) < 0
    mesh.indices[wrong] = mesh.indices[wrong][:, ::-1]


def cylinder(radius: float = 0.5, height: float = 1.0, segments: int = 32, caps: bool = True) -> Mesh:
    """A cylinder along y centred at the origin; ``2 * segments`` side triangles plus ``2 * segments``
    for the caps."""
    _positive("height", height)
    side = tube([(0, -height / 2, 0), (0, height / 2, 0)], radius, segments)
    if not caps:
        return Mesh(side.positions, side.normals, side.uvs, side.indices, name="cylinder")
    parts = [side]
    for y, sign in ((height / 2, 1.0), (-height / 2, -1.0)):
        ang = 2 * np.pi * np.arange(segments) / segments
        rim = np.stack([radius * np.cos(ang), np.full(segments, y), radius * np.sin(ang)], -1)
        pos = np.concatenate([[[0.0, y, 0.0]], rim])
        uvs = np.concatenate([[[0.5, 0.5]], 0.5 + 0.5 * np.stack([np.cos(ang), np.sin(ang)], -1)])
        j = np.arange(segments)
        idx = np.stack([np.zeros(segments, int), 1 + j, 1 + (j + 1) % segments], -1)
        cap = Mesh(pos, np.tile([0.0, sign, 0.0], (len(pos), 1)), uvs, idx)
        _fix_winding(cap)
        parts.append(cap)
    return merge(parts, name="cylinder")


def cable(
    start=(-2.0, 2.0, 0.0),
    end=(2.0, 2.0, 0.0),
    sag: float = 0.5,
    radius: float = 0.01,
    segments: int = 24,
    sides: int = 4,
) -> Mesh:
    """A hanging cable from ``start`` to ``end`` sagging by ``sag`` (parabola) at mid-span: a thin tube,
    ``2 * sides * segments`` triangles. The thin-wire stress case."""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    s = np.linspace(0.0, 1.0, segments + 1)[:, None]
    pts = (1 - s) * start + s * end
    pts[:, 1] -= 4.0 * sag * s[:, 0] * (1 - s[:, 0])
    mesh = tube(pts, radius, sides)
    mesh.name = "cable"
    return mesh


def wire_grid(size=(2.0, 2.0), cells=(8, 8), wire_width: float = 0.02) -> Mesh:
    """A grid of thin square-section wires in the XY plane (z = 0), centred: ``cells[0] + 1`` vertical
    and ``cells[1] + 1`` horizontal wires, 12 triangles each. The wire mesh / fence stress case."""
    _positive("size", size)
    _positive("wire_width", wire_width)
    _at_least("cells", cells, 1)
    (w, h), (nx, ny) = size, (int(cells[0]), int(cells[1]))
    unit = box((1.0, 1.0, 1.0))
    parts, mats = [], []
    for x in np.linspace(-w / 2, w / 2, nx + 1):
        parts.append(unit)
        mats.append(transforms.translation((x, 0, 0)) @ transforms.scaling((wire_width, h, wire_width)))
    for y in np.linspace(-h / 2, h / 2, ny + 1):
        parts.append(unit)
        mats.append(transforms.translation((0, y, 0)) @ transforms.scaling((w, wire_width, wire_width)))
    return merge(parts, mats, name="wire_grid")


def fence(
    length: float = 6.0,
    height: float = 1.2,
    posts: int = 4,
    post_width: float = 0.08,
    cells=(24, 8),
    wire_width: float = 0.012,
) -> Mesh:
    """A fence along x (centred, standing on y = 0, in the plane z = 0): ``posts`` square posts, a top
    and bottom rail, and a wire grid of ``cells`` between; about ``12 * (posts + 2 + cells + 2)``
    triangles."""
    _at_least("posts", posts, 2)
    _positive("length", length)
    _positive("height", height)
    unit = box((1.0, 1.0, 1.0))
    parts, mats = [], []
    for x in np.linspace(-length / 2, length / 2, posts):
        parts.append(unit)
        mats.append(
            transforms.translation((x, height / 2, 0)) @ transforms.scaling((post_width, height, post_width))
        )
    for y in (0.1 * height, height):
        parts.append(unit)
        mats.append(
            transforms.translation((0, y, 0)) @ transforms.scaling((length, post_width / 2, post_width / 2))
        )
    parts.append(wire_grid((length, 0.9 * height), cells, wire_width))
    mats.append(transforms.translation((0, 0.55 * height, 0)))
    return merge(parts, mats, name="fence")


def foliage_cards(
    count: int = 40, area=(4.0, 4.0), card_size=(0.6, 0.8), seed: int = 0, crossed: bool = True
) -> Mesh:
    """``count`` upright leaf cards scattered over an XZ ``area`` centred at the origin, standing on
    y = 0, each a quad (two if ``crossed``, at 90 degrees) with UVs over the full square. Use with an
    alpha-tested, double-sided material; ``2 * count`` (x2 if crossed) triangles."""
    _at_least("count", count, 1)
    _positive("area", area)
    _positive("card_size", card_size)
    rng = np.random.default_rng(seed)
    quad = plane((1.0, 1.0))
    # Stand the XZ quad up into XY (facing +z), bottom edge at y = 0, v up.
    upright = transforms.translation((0, 0.5, 0)) @ transforms.rotation_euler_deg((90, 0, 0))
    parts, mats = [], []
    for _ in range(count):
        x, z = rng.uniform(-area[0] / 2, area[0] / 2), rng.uniform(-area[1] / 2, area[1] / 2)
        yaw, scale = rng.uniform(0, 180), rng.uniform(0.7, 1.3)
        base = (
            transforms.translation((x, 0, z))
            @ transforms.rotation_euler_deg((0, yaw, 0))
            @ transforms.scaling((card_size[0] * scale, card_size[1] * scale, 1.0))
        )
        for extra in (0, 90) if crossed else (0,):
            parts.append(quad)
            mats.append(base @ transforms.rotation_euler_deg((0, extra, 0)) @ upright)
    return merge(parts, mats, name="foliage_cards")


#: Procedural mesh generators by the ``type`` name used in scene files.
PROCEDURAL_MESHES = {
    "plane": plane,
    "box": box,
    "sphere": sphere,
    "cylinder": cylinder,
    "cable": cable,
    "wire_grid": wire_grid,
    "fence": fence,
    "foliage_cards": foliage_cards,
}
