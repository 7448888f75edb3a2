"""Built-in scene ``fast_motion``: fast objects crossing a textured wall, static camera."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.builtin.common import DURATION_S, SKY, mover
from engine_bridge.scene.model import Camera, CameraKey, Material, Scene
from engine_bridge.scene.variation import Variation, ground, static, sun


def fast_motion(rng: np.random.Generator | None = None) -> Scene:
    """Objects crossing the view at several metres per second in front of a detailed textured wall,
    with a static camera: large object motion vectors and wide disocclusions."""
    v = Variation(rng)
    wall_tex = textures.noise(
        256,
        cells=16,
        octaves=3,
        seed=v.seed(4),
        color_a=v.colour((0.8, 0.7, 0.5)),
        color_b=v.colour((0.05, 0.06, 0.1)),
    )
    objs = [
        ground(
            v,
            texture=textures.checker(128, 8, v.colour((0.7, 0.7, 0.7)), v.colour((0.1, 0.1, 0.1))),
            uv_tiles=10.0,
        ),
        static(
            meshes.plane((20.0, 8.0)),
            Material(base_color=(1.0, 1.0, 1.0), base_color_texture=wall_tex, uv_scale=(3.0, 1.2)),
            "wall",
            translation=(0.0, 4.0, -4.0),
            rotation_deg=(90.0, 0.0, 0.0),
        ),
    ]
    speed = v.uniform(1.0, 0.5, 2.0)  # multiplies every velocity below
    span = 7.0
    passes = max(1, int(round(2 * speed)))  # canonical: across and back, 2 x 14 m in 4 s

    def back_and_forth(a, b):
        return [a if k % 2 == 0 else b for k in range(passes + 1)]

    objs.append(
        mover(
            meshes.box((1.0, 1.0, 1.0)),
            Material(base_color=v.colour((0.8, 0.2, 0.1)), specular=0.3, roughness=0.4),
            "box",
            back_and_forth((-span, 0.8, 0.0), (span, 0.8, 0.0)),
            DURATION_S,
            rotation_speed=(0.0, 90.0 * speed, 45.0 * speed),
            steps=4 * passes,
        )
    )
    objs.append(
        mover(
            meshes.sphere(0.6, 32, 16),
            Material(base_color=v.colour((0.1, 0.4, 0.9)), specular=0.8, roughness=0.15),
            "ball",
            back_and_forth((span, 1.8, 1.5), (-span, 0.6, 1.5)),
            DURATION_S,
            steps=4 * passes,
        )
    )
    objs.append(
        mover(
            meshes.cylinder(0.08, 4.0, 12),
            Material(base_color=v.colour((0.9, 0.9, 0.2))),
            "spinner",
            [(0.0, 2.5, -1.5), (0.0, 2.5, -1.5)],
            DURATION_S,
            rotation_speed=(0.0, 0.0, 180.0 * speed),
            steps=16,
        )
    )
    cam = v.offset((0.0, 2.0, 9.0), (1.5, 0.8, 1.5))
    keys = [CameraKey(0.0, cam, (0.0, 1.5, 0.0), v.uniform(55.0, 40.0, 70.0))]
    return Scene(
        name="fast_motion",
        objects=objs,
        camera=Camera(keys, near=0.1, far=100.0),
        light=sun(v),
        ambient=v.colour((0.2, 0.2, 0.24)),
        background=v.colour(SKY, hi=4.0),
        duration_s=DURATION_S,
    )
