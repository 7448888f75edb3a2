"""Built-in scene ``foliage``: alpha-tested, swaying leaf cards in front of the sky."""

from __future__ import annotations

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.builtin.common import DURATION_S, SKY
from engine_bridge.scene.model import Camera, Material, Scene, SceneObject, TransformKey
from engine_bridge.scene.variation import Variation, ground, linear_camera, static, sun


def foliage(rng: np.random.Generator | None = None) -> Scene:
    """Alpha-tested, double-sided leaf cards (crossed quads) with a gentle sway, in front of the sky;
    the camera pans slowly through them."""
    v = Variation(rng)
    leaf_tex = textures.leaves(
        128, leaf_count=v.integer(24, 12, 40), seed=v.seed(5), color=v.colour((0.08, 0.3, 0.04), 0.4)
    )
    leaf = Material(
        base_color=(1.0, 1.0, 1.0),
        base_color_texture=leaf_tex,
        alpha_cutoff=v.uniform(0.5, 0.3, 0.7),
        double_sided=True,
        roughness=0.6,
        specular=0.1,
    )
    objs = [ground(v)]
    bushes = meshes.foliage_cards(
        count=v.integer(140, 60, 220), area=(14.0, 10.0), card_size=(0.8, 1.0), seed=v.seed(1)
    )
    objs.append(static(bushes, leaf, "bushes"))
    sway = v.uniform(4.0, 1.0, 8.0)  # degrees
    period = v.uniform(2.0, 1.0, 3.0)
    canopy = meshes.foliage_cards(
        count=v.integer(60, 30, 90), area=(10.0, 6.0), card_size=(1.6, 2.0), seed=v.seed(2)
    )
    times = np.linspace(0.0, DURATION_S, 9)
    keys = [
        TransformKey(
            float(t),
            (0.0, 1.6, -2.0),
            (sway * np.sin(2 * np.pi * t / period), 0.0, 0.5 * sway * np.cos(2 * np.pi * t / period)),
        )
        for t in times
    ]
    objs.append(SceneObject(mesh=canopy, material=leaf, keys=keys, name="canopy"))
    trunk = meshes.cylinder(0.12, 3.0, 10)
    bark = Material(base_color=v.colour((0.18, 0.11, 0.06)), roughness=0.9)
    for i, x in enumerate((-3.5, 0.5, 4.0)):
        objs.append(static(trunk, bark, f"trunk{i}", translation=(x, 1.5, -2.0)))
    y = v.uniform(1.3, 0.6, 2.5)
    pan = v.uniform(3.0, 1.0, 6.0)
    keys = linear_camera(
        (-pan, y, 7.5),
        (pan, y + 0.2, 6.5),
        (-pan * 0.3, 1.0, 0.0),
        (pan * 0.3, 1.2, 0.0),
        DURATION_S,
        fov_y_deg=v.uniform(55.0, 40.0, 70.0),
    )
    return Scene(
        name="foliage",
        objects=objs,
        camera=Camera(keys, near=0.1, far=150.0),
        light=sun(v, intensity=3.5),
        ambient=v.colour((0.2, 0.22, 0.28)),
        background=v.colour(tuple(1.3 * c for c in SKY), hi=4.0),
        duration_s=DURATION_S,
    )
