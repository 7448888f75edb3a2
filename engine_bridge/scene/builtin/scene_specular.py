"""Built-in scene ``specular``: tiny, very bright highlights on shiny spheres, columns and rods."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.builtin.common import DURATION_S
from engine_bridge.scene.model import Camera, Material, Scene, TransformKey
from engine_bridge.scene.variation import Variation, ground, orbit_camera, static, sun


def specular(rng: np.random.Generator | None = None) -> Scene:
    """Shiny spheres, upright columns and thin horizontal rods (roughness 0.03..0.15) under a strong
    sun against a dark background: tiny, very bright (HDR) highlights that flicker under motion."""
    v = Variation(rng)
    objs = [
        ground(
            v,
            size=30.0,
            texture=textures.checker(64, 8, (0.08, 0.08, 0.08), (0.03, 0.03, 0.03)),
            uv_tiles=4.0,
            specular=0.8,
            roughness=v.uniform(0.12, 0.05, 0.3),
        )
    ]
    ball = meshes.sphere(0.45, 40, 20)
    palette = [(0.8, 0.1, 0.05), (0.05, 0.3, 0.8), (0.9, 0.8, 0.6), (0.1, 0.6, 0.15), (0.6, 0.6, 0.65)]
    for i in range(9):
        x, z = (i % 3 - 1) * 1.4, (i // 3 - 1) * 1.4
        mat = Material(
            base_color=v.colour(palette[i % len(palette)]),
            specular=1.0,
            roughness=v.uniform(0.03 + 0.015 * i, 0.02, 0.2),
        )
        objs.append(static(ball, mat, f"ball{i}", translation=(x, 0.45, z)))
    column = meshes.cylinder(0.15, 2.5, 32)
    rod = meshes.cylinder(0.025, 5.0, 12)
    chrome = Material(base_color=(0.6, 0.6, 0.62), specular=1.0, roughness=v.uniform(0.06, 0.03, 0.15))
    for i, x in enumerate((-3.0, 3.0)):
        objs.append(static(column, chrome, f"column{i}", translation=(x, 1.25, -2.5)))
    for i in range(4):
        objs.append(
            static(
                rod, chrome, f"rod{i}", translation=(0.0, 0.6 + 0.45 * i, -2.5), rotation_deg=(0.0, 0.0, 90.0)
            )
        )
    bounce_hz = v.uniform(1.0, 0.5, 2.0)  # the middle ball bounces: moving highlight and contact shadow
    objs[5].keys = [
        TransformKey(float(t), (0.0, 0.45 + 0.6 * abs(np.sin(np.pi * bounce_hz * t)), 0.0))
        for t in np.linspace(0.0, DURATION_S, 33)
    ]
    sweep = v.uniform(90.0, 30.0, 180.0) * v.choice(1.0, [-1.0, 1.0])
    keys = orbit_camera(
        (0.0, 0.5, 0.0),
        v.uniform(6.0, 4.5, 9.0),
        v.uniform(2.0, 0.8, 4.0),
        v.uniform(-45.0, -180.0, 180.0),
        sweep,
        DURATION_S,
        fov_y_deg=v.uniform(45.0, 35.0, 60.0),
    )
    return Scene(
        name="specular",
        objects=objs,
        camera=Camera(keys, near=0.1, far=100.0),
        light=sun(v, azimuth_deg=-30.0, elevation_deg=40.0, intensity=10.0),
        ambient=v.colour((0.04, 0.04, 0.05)),
        background=v.colour((0.02, 0.02, 0.03)),
        duration_s=DURATION_S,
    )
