"""Mesh files (OBJ + MTL, glTF, GLB, and anything else trimesh reads) to :class:`Mesh` + :class:`Material`.

trimesh does the parsing, vertex splitting by UV seams and texture loading; this module only bakes the
file's node transforms into the vertices and maps trimesh's materials onto ours:

============================  =====================================================================
ours                          OBJ/MTL (``SimpleMaterial``)            glTF (``PBRMaterial``)
============================  =====================================================================
``base_color``                ``Kd``                                  ``baseColorFactor`` RGB
``base_color_texture``        ``map_Kd`` (sRGB)                       ``baseColorTexture`` (sRGB)
``specular``                  mean of ``Ks``                          ``0.04 + 0.96 * metallicFactor``
``roughness``                 ``(2 / (Ns + 2)) ** 0.25``              ``roughnessFactor`` (default 1)
``emissive``                  (0, 0, 0)                               ``emissiveFactor``
``alpha_cutoff``              0.5 if the texture has transparent      ``alphaCutoff`` (0.5) when
                              texels, else None                       ``alphaMode == "MASK"``
``double_sided``              False                                   ``doubleSided``
============================  =====================================================================

The roughness mapping inverts the renderer's ``shininess = 2 / roughness^4 - 2``; roughness is
clamped to [0.02, 1]. Colour factors are taken as linear (as glTF specifies; MTL does not say).
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine_bridge.scene import textures
from engine_bridge.scene.model import Material, Mesh
from qwplugin.errors import InvalidArgument

_MIN_ROUGHNESS = 0.02


@dataclass
class ImportedPart:
    """One triangle mesh of a file with its material; ``name`` is trimesh's geometry name."""

    mesh: Mesh
    material: Material
    name: str


def _roughness_from_shininess(ns: float) -> float:
    return float(np.clip((2.0 / (max(ns, 0.0) + 2.0)) ** 0.25, _MIN_ROUGHNESS, 1.0))


def _rgb(value, default) -> tuple[float, float, float]:
    """trimesh colours come as uint8 RGBA arrays or float lists; return linear RGB floats."""
    if value is None:
        return default
    arr = np.asarray(value)
    arr = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    return tuple(float(x) for x in arr[:3])


def _has_transparency(image) -> bool:
    if image is None or "A" not in image.getbands():
        return False
    return bool(np.asarray(image.getchannel("A")).min() < 255)


def convert_material(tm_material, name: str = "") -> Material:
    """Map a trimesh ``SimpleMaterial`` or ``PBRMaterial`` (or None) onto :class:`Material`."""
    from trimesh.visual.material import PBRMaterial, SimpleMaterial

    if isinstance(tm_material, PBRMaterial):
        image = tm_material.baseColorTexture
        cutoff = None
        if tm_material.alphaMode == "MASK":
            cutoff = float(tm_material.alphaCutoff) if tm_material.alphaCutoff is not None else 0.5
        metallic = float(tm_material.metallicFactor) if tm_material.metallicFactor is not None else 1.0
        roughness = float(tm_material.roughnessFactor) if tm_material.roughnessFactor is not None else 1.0
        return Material(
            base_color=_rgb(tm_material.baseColorFactor, (1.0, 1.0, 1.0)),
            base_color_texture=None if image is None else textures.from_pil(image, name=f"{name}.baseColor"),
            specular=0.04 + 0.96 * float(np.clip(metallic, 0.0, 1.0)),
            roughness=float(np.clip(roughness, _MIN_ROUGHNESS, 1.0)),
            emissive=_rgb(tm_material.emissiveFactor, (0.0, 0.0, 0.0)),
            alpha_cutoff=cutoff,
            double_sided=bool(tm_material.doubleSided),
        )
    if isinstance(tm_material, SimpleMaterial):
        extra = getattr(tm_material, "kwargs", None) or {}
        image = tm_material.image
        # Prefer the MTL's float values (kept by trimesh in kwargs) over its uint8 rounding.
        kd = extra.get("kd", None)
        ks = extra.get("ks", None)
        ns = extra.get("ns", tm_material.glossiness)
        return Material(
            base_color=_rgb(kd, None) if kd is not None else _rgb(tm_material.diffuse, (0.8, 0.8, 0.8)),
            base_color_texture=None if image is None else textures.from_pil(image, name=f"{name}.map_Kd"),
            specular=float(
                np.mean(_rgb(ks, None) if ks is not None else _rgb(tm_material.specular, (0, 0, 0)))
            ),
            roughness=_roughness_from_shininess(float(ns) if ns is not None else 0.0),
            alpha_cutoff=0.5 if _has_transparency(image) else None,
        )
    return Material()


def _nonfinite_obj_vertices(path: Path) -> int:
    """Count ``v`` lines of an OBJ file with a NaN/Inf coordinate (trimesh drops their faces on load)."""
    bad = 0
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"v ") or line.startswith(b"v\t"):
                try:
                    coords = [float(x) for x in line.split()[1:4]]
                except ValueError:
                    continue  # trimesh reports malformed lines itself
                bad += not all(math.isfinite(c) for c in coords)
    return bad


def _check_finite_vertices(path: Path, scene, trimesh) -> None:
    """Refuse NaN/Inf vertex positions instead of letting trimesh drop the faces that use them.

    Raises:
        InvalidArgument: ``field="path"``, naming the file and the number of bad vertices.
    """
    if path.suffix.lower() == ".obj":
        bad = _nonfinite_obj_vertices(path)
    else:  # trimesh's processing already removed them from ``scene``: look at the unprocessed data
        try:
            raw = trimesh.load_scene(path, process=False)
        except Exception:  # noqa: BLE001 - it loaded once with processing; the check cannot run
            return
        bad = sum(int((~np.isfinite(np.asarray(g.vertices, np.float64))).any(axis=1).sum())
                  for g in raw.geometry.values() if isinstance(g, trimesh.Trimesh))
    if bad:
        raise InvalidArgument(f"mesh file {path} has {bad} vertices with NaN or Inf coordinates",
                              field="path", expected="finite vertex positions", actual=f"{bad} non-finite vertices")


def load_mesh_file(path: str | Path) -> list[ImportedPart]:
    """Load every triangle mesh of a file, node transforms baked in, with UVs, normals and materials.

    Args:
        path: an OBJ (with its MTL and textures beside it), glTF or GLB file.

    Returns:
        One :class:`ImportedPart` per (geometry, node) instance, in trimesh's node order. Vertices
        without UVs get (0, 0); missing normals are computed by trimesh (area-weighted smooth).

    Raises:
        InvalidArgument: the file does not exist, trimesh cannot read it, it holds no triangles, or a
            vertex position is NaN/Inf (trimesh would silently drop the faces using it), naming the file.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(
            "mesh file not found", field="path", expected="an existing file", actual=str(path)
        )
    try:
        scene = trimesh.load_scene(path)
    except Exception as exc:  # trimesh raises many types (ValueError, KeyError, NotImplementedError, ...)
        raise InvalidArgument(
            f"trimesh cannot read the mesh file: {type(exc).__name__}: {exc}", field="path", actual=str(path)
        ) from exc
    _check_finite_vertices(path, scene, trimesh)
    parts = []
    for node in scene.graph.nodes_geometry:
        matrix, geom_name = scene.graph[node]
        geom = scene.geometry[geom_name]
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue  # points and lines are not rendered
        matrix = np.asarray(matrix, dtype=np.float64)
        positions = geom.vertices @ matrix[:3, :3].T + matrix[:3, 3]
        normals = geom.vertex_normals @ np.linalg.inv(matrix[:3, :3])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        faces = np.asarray(geom.faces)
        if np.linalg.det(matrix[:3, :3]) < 0:  # a mirroring node flips the winding
            faces = faces[:, ::-1]
        visual = geom.visual
        uv = getattr(visual, "uv", None)
        uvs = np.zeros((len(positions), 2)) if uv is None or len(uv) != len(positions) else np.asarray(uv)
        material = convert_material(getattr(visual, "material", None), name=str(geom_name))
        if uv is None and visual.kind in ("face", "vertex"):  # colour-only visuals: use the main colour
            material.base_color = _rgb(visual.main_color, material.base_color)
        mesh = Mesh(positions, normals, uvs, faces, name=str(geom_name))
        parts.append(ImportedPart(mesh=mesh, material=material, name=str(node)))
    if not parts:
        raise InvalidArgument("mesh file holds no triangles", field="path", actual=str(path))
    return parts
