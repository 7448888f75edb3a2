"""Pieces shared by several built-in scenes: the sky colour, the duration, the fence, a moving object."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes
from engine_bridge.scene.model import Material, SceneObject, TransformKey
from engine_bridge.scene.variation import Variation, static


SKY = (0.55, 0.7, 1.0)
"""Linear RGB of the daylight sky the outdoor scenes scale for their background."""
DURATION_S = 4.0
"""Length of every built-in scene but ``mixed`` (seconds)."""
HOLD_S = 1e-3
"""A shot's last camera key sits this long before the cut key (the camera holds it until the cut)."""


def fence_objects(v: Variation, z: float = 0.0, length: float = 12.0) -> list[SceneObject]:
    """A chain-link-like fence (thin wires) and two poles with three sagging power cables."""
    wire = v.uniform(0.01, 0.005, 0.02)
    fence = meshes.fence(
        length=length,
        height=1.5,
        posts=5,
        post_width=0.08,
        cells=(v.integer(48, 24, 72), v.integer(10, 6, 16)),
        wire_width=wire,
    )
    metal = Material(base_color=v.colour((0.25, 0.25, 0.27)), specular=0.5, roughness=0.3)
    objs = [static(fence, metal, "fence", translation=(0.0, 0.0, z))]
    pole = meshes.cylinder(0.1, 6.0, 12)
    wood = Material(base_color=v.colour((0.25, 0.15, 0.08)), roughness=0.8)
    px = length / 2 + 2.0
    for x in (-px, px):
        objs.append(static(pole, wood, f"pole{x:+.0f}", translation=(x, 3.0, z - 4.0)))
    for i, y in enumerate((5.8, 5.4, 5.0)):
        c = meshes.cable(
            (-px, y, z - 4.0 + 0.3 * (i - 1)),
            (px, y, z - 4.0 + 0.3 * (i - 1)),
            sag=v.uniform(0.6, 0.2, 1.2),
            radius=v.uniform(0.012, 0.006, 0.02),
        )
        objs.append(
            static(c, Material(base_color=(0.05, 0.05, 0.05), specular=0.3, roughness=0.4), f"cable{i}")
        )
    return objs


def mover(
    mesh,
    material: Material,
    name: str,
    points,
    duration_s: float,
    rotation_speed=(0.0, 0.0, 0.0),
    steps: int = 8,
) -> SceneObject:
    """An object moving through ``points`` (piecewise linear, evenly in time) while spinning at
    ``rotation_speed`` degrees per second about X, Y, Z."""
    pts = np.asarray(points, np.float64)
    ts = np.linspace(0.0, duration_s, steps + 1)
    s = np.linspace(0.0, len(pts) - 1, steps + 1)
    keys = []
    for t, si in zip(ts, s):
        i = min(int(si), len(pts) - 2)
        p = pts[i] + (si - i) * (pts[i + 1] - pts[i])
        keys.append(TransformKey(float(t), tuple(p), tuple(float(r * t) for r in rotation_speed)))
    return SceneObject(mesh=mesh, material=material, keys=keys, name=name)
