"""Small analytic scenes whose images are known in closed form, for tests and the benchmark.

The camera sits at the origin looking down -Z with ``fov_y_deg``; :func:`screen_rect_mesh` builds a quad
at view depth ``depth`` covering an exact rectangle of (top-down, continuous) pixel coordinates, so
coverage, jitter and motion can be predicted to the sub-pixel.
"""

from __future__ import annotations

import math

import numpy as np

from engine_bridge.scene.model import (Camera, CameraKey, DirectionalLight, Material, Mesh, Scene, SceneObject,
                                       Texture, TransformKey)


def pixel_to_view(px: float, py: float, depth: float, width: int, height: int, fov_y_deg: float) -> np.ndarray:
    """View-space point (x, y, -depth) that projects to continuous pixel position (px, py) (top-down,
    origin at the image's top-left corner) for the probe camera."""
    half_h = depth * math.tan(math.radians(fov_y_deg) / 2.0)
    half_w = half_h * width / height
    return np.array([(2.0 * px / width - 1.0) * half_w, (1.0 - 2.0 * py / height) * half_h, -depth])


def screen_rect_mesh(x0: float, y0: float, x1: float, y1: float, depth: float, width: int, height: int,
                     fov_y_deg: float, name: str = "rect") -> Mesh:
    """A camera-facing quad covering pixel rectangle [x0, x1] x [y0, y1] (top-down pixel units) at view
    depth ``depth``, counter-clockwise as seen from the probe camera, normal +Z, uv (0,0) bottom-left."""
    corners = [pixel_to_view(x, y, depth, width, height, fov_y_deg)
               for x, y in ((x0, y1), (x1, y1), (x1, y0), (x0, y0))]  # bottom-left, bottom-right, top-right, top-left
    positions = np.array(corners, np.float32)
    normals = np.tile(np.array([0, 0, 1], np.float32), (4, 1))
    uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    return Mesh(positions, normals, uvs, np.array([[0, 1, 2], [0, 2, 3]], np.uint32), name=name)


def unlit(color) -> Material:
    """A material whose pixels are exactly ``color`` (black base, emissive colour)."""
    return Material(base_color=(0.0, 0.0, 0.0), emissive=tuple(float(c) for c in color))


def probe_camera(fov_y_deg: float = 60.0, keys: list[CameraKey] | None = None) -> Camera:
    """Camera at the origin looking down -Z (or the given keys), near 0.1, far 100."""
    return Camera(keys=keys or [CameraKey(0.0, (0.0, 0.0, 0.0), (0.0, 0.0, -1.0), fov_y_deg)], near=0.1, far=100.0)


def rect_scene(rects: list[tuple[tuple[float, float, float, float], tuple[float, float, float]]],
               width: int, height: int, depth: float = 5.0, fov_y_deg: float = 60.0,
               background=(0.0, 0.0, 0.0), object_keys: list[list[TransformKey]] | None = None) -> Scene:
    """Unlit screen rectangles ``[((x0, y0, x1, y1), colour), ...]`` on a background colour."""
    objects = []
    for i, (rect, color) in enumerate(rects):
        keys = object_keys[i] if object_keys else [TransformKey(0.0)]
        objects.append(SceneObject(screen_rect_mesh(*rect, depth, width, height, fov_y_deg), unlit(color), keys,
                                   name=f"rect{i}"))
    return Scene("probe_rects", objects, probe_camera(fov_y_deg), ambient=(0.0, 0.0, 0.0),
                 background=tuple(background))


def checker_texture(size: int = 64, cells: int = 8, name: str = "checker") -> Texture:
    """An sRGB checkerboard with a smooth colour ramp (so any warp error shows), (size, size, 4) uint8."""
    y, x = np.mgrid[0:size, 0:size]
    check = ((x * cells // size + y * cells // size) % 2).astype(np.float64)
    r = 60 + 150 * check + 40 * x / size
    g = 60 + 120 * check + 40 * y / size
    b = 80 + 100 * (1 - check)
    pixels = np.stack([r, g, b, np.full_like(r, 255)], axis=-1).clip(0, 255).astype(np.uint8)
    return Texture(pixels, name=name)


def box_mesh(size: float = 1.0, name: str = "box") -> Mesh:
    """An axis-aligned cube of edge ``size`` centred at the origin, 24 vertices with face normals."""
    h = size / 2.0
    faces = []  # (normal, u axis, v axis)
    for axis in range(3):
        for sign in (1.0, -1.0):
            n = np.zeros(3)
            n[axis] = sign
            u = np.zeros(3)
            u[(axis + 1) % 3] = 1.0
            v = np.cross(n, u)
            faces.append((n, u, v))
    positions, normals, uvs, indices = [], [], [], []
    for n, u, v in faces:
        base = len(positions)
        for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            positions.append(h * (n + du * u + dv * v))
            normals.append(n)
            uvs.append(((du + 1) / 2, (dv + 1) / 2))
        indices += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return Mesh(np.array(positions), np.array(normals), np.array(uvs), np.array(indices), name=name)


def plane_mesh(size: float = 10.0, name: str = "plane") -> Mesh:
    """A square in the XZ plane (y = 0), normal +Y, uv 0..1."""
    h = size / 2.0
    positions = np.array([[-h, 0, h], [h, 0, h], [h, 0, -h], [-h, 0, -h]], np.float32)
    normals = np.tile(np.array([0, 1, 0], np.float32), (4, 1))
    uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    return Mesh(positions, normals, uvs, np.array([[0, 1, 2], [0, 2, 3]], np.uint32), name=name)


def textured_ground_scene(camera_keys: list[CameraKey] | None = None,
                          box_keys: list[TransformKey] | None = None) -> Scene:
    """A checker-textured ground plane, back wall and box (diffuse, lit); default camera static.

    ``camera_keys`` / ``box_keys`` animate the camera / the box (for motion-vector tests).
    """
    tex = checker_texture()
    ground = SceneObject(plane_mesh(20.0), Material(base_color=(1.0, 1.0, 1.0), base_color_texture=tex,
                                                    uv_scale=(4.0, 4.0)), name="ground")
    wall_keys = [TransformKey(0.0, translation=(0.0, 3.0, -8.0), rotation_deg=(90.0, 0.0, 0.0))]
    wall = SceneObject(plane_mesh(12.0), Material(base_color=(0.9, 0.9, 0.9), base_color_texture=tex,
                                                  uv_scale=(0.5, 0.5)), keys=wall_keys, name="wall")
    box = SceneObject(box_mesh(1.2), Material(base_color=(1.0, 0.6, 0.4), base_color_texture=tex,
                                              uv_scale=(0.5, 0.5)),
                      keys=box_keys or [TransformKey(0.0, translation=(0.0, 0.6, -3.0), rotation_deg=(0, 30, 0))],
                      name="box")
    keys = camera_keys or [CameraKey(0.0, (0.0, 1.6, 2.0), (0.0, 0.8, -4.0), 60.0)]
    return Scene("probe_ground", [ground, wall, box], Camera(keys=keys, near=0.1, far=100.0),
                 light=DirectionalLight((-0.4, -1.0, -0.5), (1.0, 1.0, 1.0), 3.0))


def fine_checker_texture(size: int = 256, cell: int = 2, name: str = "fine_checker") -> Texture:
    """A black/white checkerboard of ``cell``-texel squares, (size, size, 4) uint8, not sRGB-encoded
    (texel values 0 and 1 in linear space): the highest frequencies a texture can hold, so every mip
    level above ``log2(cell)`` is flat grey and the texture LOD shows directly in the image."""
    y, x = np.mgrid[0:size, 0:size]
    check = ((x // cell + y // cell) % 2).astype(np.uint8) * 255
    pixels = np.stack([check, check, check, np.full_like(check, 255)], axis=-1)
    return Texture(pixels, srgb=False, name=name)


def grazing_plane_scene(cell: int = 2, texture_size: int = 256, uv_repeats: float = 8.0,
                        camera_height: float = 0.6) -> Scene:
    """An unlit (emissive-free, ambient-lit) ground plane textured with :func:`fine_checker_texture`, seen
    from ``camera_height`` above it looking at a point 6 units ahead: from near the bottom of the image
    to the horizon the texture goes from about texel-per-pixel to strongly minified at a grazing angle.
    The lighting is ambient only (irradiance 1, no direct light), so a pixel's value is the filtered
    texel average itself, in [0, 1]; the background above the horizon is black."""
    tex = fine_checker_texture(texture_size, cell)
    ground = SceneObject(plane_mesh(40.0), Material(base_color=(1.0, 1.0, 1.0), base_color_texture=tex,
                                                    uv_scale=(uv_repeats, uv_repeats), specular=0.0),
                         name="ground")
    keys = [CameraKey(0.0, (0.0, camera_height, 4.0), (0.0, 0.0, -2.0), 60.0)]
    return Scene("probe_grazing", [ground], Camera(keys=keys, near=0.1, far=100.0),
                 light=DirectionalLight((0.0, -1.0, 0.0), (1.0, 1.0, 1.0), 0.0), ambient=(1.0, 1.0, 1.0),
                 background=(0.0, 0.0, 0.0))
