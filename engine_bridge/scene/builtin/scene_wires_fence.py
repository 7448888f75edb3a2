"""Built-in scene ``wires_fence``: thin wires, a fence and cables against a bright sky."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes
from engine_bridge.scene.builtin.common import DURATION_S, SKY, fence_objects
from engine_bridge.scene.model import Camera, Material, Scene
from engine_bridge.scene.variation import Variation, ground, linear_camera, static, sun


def wires_fence(rng: np.random.Generator | None = None) -> Scene:
    """Thin wires and fences against a bright HDR sky; the camera trucks sideways along the fence."""
    v = Variation(rng)
    objs = [ground(v)] + fence_objects(v)
    grid = meshes.wire_grid(
        (4.0, 2.5), (v.integer(20, 10, 32), v.integer(12, 6, 20)), v.uniform(0.008, 0.004, 0.016)
    )
    objs.append(
        static(
            grid,
            Material(base_color=v.colour((0.6, 0.55, 0.5)), specular=0.3, roughness=0.3),
            "panel",
            translation=(2.0, 1.25, -2.5),
            rotation_deg=(0.0, v.uniform(30.0, -60, 60), 0.0),
        )
    )
    speed = v.uniform(2.0, 0.5, 4.0)  # metres per second sideways
    y = v.uniform(1.6, 0.8, 3.0)
    z = v.uniform(6.0, 3.5, 9.0)
    start = (-speed * DURATION_S / 2, y, z)
    end = (speed * DURATION_S / 2, y + v.uniform(0.3, -0.3, 0.6), z - v.uniform(0.5, -1.0, 1.0))
    keys = linear_camera(
        start,
        end,
        (start[0] * 0.5, 1.5, 0.0),
        (end[0] * 0.5, 1.8, 0.0),
        DURATION_S,
        fov_y_deg=v.uniform(50.0, 35.0, 70.0),
    )
    return Scene(
        name="wires_fence",
        objects=objs,
        camera=Camera(keys, near=0.1, far=200.0),
        light=sun(v),
        ambient=v.colour((0.2, 0.22, 0.28)),
        background=v.colour(tuple(1.5 * c for c in SKY), hi=4.0),
        duration_s=DURATION_S,
    )
