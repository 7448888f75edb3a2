"""Built-in scene ``camera_cut``: three shots of one yard separated by hard camera cuts."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.builtin.common import DURATION_S, HOLD_S, SKY, fence_objects
from engine_bridge.scene.model import Camera, Material, Scene
from engine_bridge.scene.variation import Variation, ground, linear_camera, static, sun


#: Canonical cut times of :func:`camera_cut` (seconds): ``Scene.has_cut_between`` is true across them.
CAMERA_CUT_TIMES_S = (1.5, 3.0)


def camera_cut(rng: np.random.Generator | None = None) -> Scene:
    """Three shots of one yard (boxes, spheres, a fence, a checker ground) separated by hard camera
    cuts: the frame after a cut must be rendered with ``reset`` (history is meaningless)."""
    v = Variation(rng)
    objs = [
        ground(
            v,
            texture=textures.checker(128, 8, v.colour((0.6, 0.6, 0.6)), v.colour((0.15, 0.15, 0.15))),
            uv_tiles=12.0,
        )
    ]
    objs += fence_objects(v, z=-3.0)
    for i in range(6):
        pos = v.offset(((i % 3 - 1) * 2.5, 0.5, (i // 3) * 2.5 - 1.0), (0.8, 0.0, 0.8))
        mesh = meshes.box((1.0, 1.0, 1.0)) if i % 2 == 0 else meshes.sphere(0.5, 24, 12)
        objs.append(
            static(
                mesh,
                Material(
                    base_color=v.colour((0.3 + 0.1 * i, 0.5, 0.8 - 0.1 * i)), specular=0.5, roughness=0.3
                ),
                f"prop{i}",
                translation=pos,
            )
        )
    cuts = (v.uniform(CAMERA_CUT_TIMES_S[0], 1.0, 1.8), v.uniform(CAMERA_CUT_TIMES_S[1], 2.4, 3.2))
    shots = [
        ((-6.0, 1.5, 7.0), (-3.0, 1.8, 6.0), (0.0, 0.5, 0.0)),
        ((7.0, 4.0, -1.0), (6.0, 4.0, 2.0), (0.0, 0.5, 0.0)),
        ((0.0, 0.8, 3.5), (1.0, 0.9, 3.0), (0.0, 1.5, -3.0)),
    ]
    bounds = (0.0, *cuts, DURATION_S)
    keys = []
    for s, (a, b, target) in enumerate(shots):
        a, b = v.offset(a, 1.0), v.offset(b, 1.0)
        t0, t1 = bounds[s], bounds[s + 1]
        end_t = t1 - HOLD_S if s < len(shots) - 1 else t1
        keys += linear_camera(
            a, b, target, target, end_t - t0, fov_y_deg=v.uniform(55.0, 40.0, 70.0), t0=t0, cut=s > 0
        )
    return Scene(
        name="camera_cut",
        objects=objs,
        camera=Camera(keys, near=0.1, far=150.0),
        light=sun(v),
        ambient=v.colour((0.2, 0.2, 0.24)),
        background=v.colour(SKY, hi=4.0),
        duration_s=DURATION_S,
    )
