"""Built-in scene ``grazing_textures``: high-frequency textures seen at grazing angles."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.builtin.common import DURATION_S
from engine_bridge.scene.model import Camera, Material, Scene
from engine_bridge.scene.variation import Variation, ground, linear_camera, static, sun


def _high_frequency_texture(v: Variation, kind: str) -> textures.Texture:
    """High-contrast checker, stripes or noise; white texels reach HDR values under the strong sun."""
    bright, dark = v.colour((0.9, 0.9, 0.9), 0.1), v.colour((0.02, 0.02, 0.02), 0.5)
    if kind == "checker":
        return textures.checker(256, cells=v.choice(16, [8, 16, 32]), color_a=bright, color_b=dark)
    if kind == "stripes":
        return textures.stripes(
            256,
            count=v.choice(32, [16, 32, 64]),
            angle_deg=v.choice(0.0, [0.0, 45.0, 90.0]),
            color_a=bright,
            color_b=dark,
        )
    return textures.noise(256, cells=32, octaves=2, seed=v.seed(11), color_a=bright, color_b=dark)


def grazing_textures(rng: np.random.Generator | None = None) -> Scene:
    """High-frequency, high-contrast textures on a huge ground plane and a side wall seen at grazing
    angles; a glossy ground under a strong low sun adds HDR highlights."""
    v = Variation(rng)
    floor_tex = _high_frequency_texture(v, v.choice("checker", ["checker", "stripes", "noise"]))
    floor = ground(
        v,
        size=120.0,
        texture=floor_tex,
        uv_tiles=v.uniform(30.0, 15.0, 60.0),
        specular=v.uniform(0.6, 0.2, 1.0),
        roughness=v.uniform(0.25, 0.1, 0.5),
    )
    wall_tex = _high_frequency_texture(v, v.choice("stripes", ["checker", "stripes"]))
    wall = static(
        meshes.plane((120.0, 4.0)),
        Material(
            base_color=(1.0, 1.0, 1.0),
            base_color_texture=wall_tex,
            uv_scale=(v.uniform(40.0, 20.0, 80.0), 1.0),
        ),
        "wall",
        translation=(v.uniform(6.0, 3.0, 10.0), 2.0, 0.0),
        rotation_deg=(90.0, -90.0, 0.0),
    )
    # The wall: the XZ plane stood up to XY (facing +z), then turned to face -x.
    height = v.uniform(0.6, 0.3, 1.5)
    speed = v.uniform(1.5, 0.5, 4.0)
    yaw = np.radians(v.uniform(12.0, -20.0, 25.0))
    look = np.array([np.sin(yaw), -0.12, -np.cos(yaw)]) * 10.0
    start = np.array([0.0, height, 20.0])
    end = start + np.array([0.0, 0.0, -speed * DURATION_S])
    keys = linear_camera(
        start, end, start + look, end + look, DURATION_S, fov_y_deg=v.uniform(60.0, 40.0, 75.0)
    )
    return Scene(
        name="grazing_textures",
        objects=[floor, wall],
        camera=Camera(keys, near=0.05, far=200.0),
        light=sun(v, azimuth_deg=180.0, elevation_deg=25.0, intensity=6.0),
        ambient=v.colour((0.1, 0.1, 0.12)),
        background=v.colour((0.8, 0.9, 1.2), hi=4.0),
        duration_s=DURATION_S,
    )
