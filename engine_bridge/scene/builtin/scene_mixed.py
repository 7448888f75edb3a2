"""Built-in scene ``mixed``: every stress case in one scene, with one camera cut (the validation scene)."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.builtin.common import HOLD_S, SKY, fence_objects, mover
from engine_bridge.scene.model import Camera, Material, Scene
from engine_bridge.scene.variation import Variation, ground, linear_camera, static, sun


#: Canonical cut time of :func:`mixed` (seconds).
MIXED_CUT_TIME_S = 3.0


def mixed(rng: np.random.Generator | None = None) -> Scene:
    """A showcase combining the stress cases: fence and cables, foliage cards, shiny spheres, a
    grazing checker ground, a fast mover, and one camera cut at 3 s (two shots, 5 s in all)."""
    v = Variation(rng)
    duration = 5.0
    objs = [
        ground(
            v,
            size=80.0,
            texture=textures.checker(256, 32, (0.85, 0.85, 0.85), (0.03, 0.03, 0.03)),
            uv_tiles=20.0,
            specular=0.4,
            roughness=0.3,
        )
    ]
    objs += fence_objects(v, z=-4.0)
    leaf_tex = textures.leaves(128, seed=v.seed(8), color=v.colour((0.1, 0.32, 0.05), 0.4))
    objs.append(
        static(
            meshes.foliage_cards(80, (6.0, 3.0), (0.7, 0.9), seed=v.seed(9)),
            Material(
                base_color=(1.0, 1.0, 1.0), base_color_texture=leaf_tex, alpha_cutoff=0.5, double_sided=True
            ),
            "bushes",
            translation=(-4.0, 0.0, -1.5),
        )
    )
    ball = meshes.sphere(0.4, 32, 16)
    for i in range(4):
        objs.append(
            static(
                ball,
                Material(
                    base_color=v.colour((0.7, 0.1 + 0.2 * i, 0.1)), specular=1.0, roughness=0.04 + 0.03 * i
                ),
                f"ball{i}",
                translation=(2.0 + i, 0.4, 0.5),
            )
        )
    speed = v.uniform(1.0, 0.5, 2.0)
    objs.append(
        mover(
            meshes.box((0.8, 0.8, 0.8)),
            Material(base_color=v.colour((0.9, 0.6, 0.1))),
            "mover",
            [(-8.0, 0.6, 2.0), (8.0, 0.6, 2.0), (-8.0, 0.6, 2.0)],
            duration / speed,
            rotation_speed=(0.0, 120.0 * speed, 0.0),
        )
    )
    cut = v.uniform(MIXED_CUT_TIME_S, 2.0, 4.0)
    keys = linear_camera(
        v.offset((-5.0, 1.4, 8.0), 1.0),
        v.offset((1.0, 1.6, 7.0), 1.0),
        (-1.0, 1.0, 0.0),
        (1.5, 1.0, 0.0),
        cut - HOLD_S,
    )
    keys += linear_camera(
        v.offset((6.0, 0.7, 4.0), 1.0),
        v.offset((4.0, 0.9, 5.0), 1.0),
        (0.0, 0.5, -2.0),
        (0.0, 0.8, -2.0),
        duration - cut,
        t0=cut,
        cut=True,
    )
    return Scene(
        name="mixed",
        objects=objs,
        camera=Camera(keys, near=0.1, far=150.0),
        light=sun(v, intensity=4.0),
        ambient=v.colour((0.18, 0.2, 0.25)),
        background=v.colour(tuple(1.4 * c for c in SKY), hi=4.0),
        duration_s=duration,
    )
