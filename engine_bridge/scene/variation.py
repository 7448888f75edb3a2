"""Randomisation helpers and shared building blocks for the built-in scenes.

:class:`Variation` returns the canonical value when it has no generator and a random draw in a
stated range when it has one, so that each built-in is written once and serves both as the fixed
test/benchmark scene (``rng=None``) and as a training-data generator (``rng=Generator``).
"""

from __future__ import annotations

import math

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.model import CameraKey, DirectionalLight, Material, SceneObject, TransformKey


class Variation:
    """Canonical values without an rng; random values in the given ranges with one."""

    def __init__(self, rng: np.random.Generator | None):
        self.rng = rng

    @property
    def random(self) -> bool:
        return self.rng is not None

    def uniform(self, canonical: float, lo: float, hi: float) -> float:
        return float(canonical) if self.rng is None else float(self.rng.uniform(lo, hi))

    def integer(self, canonical: int, lo: int, hi: int) -> int:
        """Canonical, or an integer in [lo, hi] inclusive."""
        return int(canonical) if self.rng is None else int(self.rng.integers(lo, hi + 1))

    def choice(self, canonical, options: list):
        return canonical if self.rng is None else options[int(self.rng.integers(len(options)))]

    def seed(self, canonical: int = 0) -> int:
        return int(canonical) if self.rng is None else int(self.rng.integers(0, 2**31 - 1))

    def colour(self, canonical, spread: float = 0.3, hi: float = 1.0) -> tuple[float, float, float]:
        """Canonical linear RGB, or each channel scaled by a factor in [1 - spread, 1 + spread]."""
        c = np.asarray(canonical, np.float64)
        if self.rng is not None:
            c = c * self.rng.uniform(1.0 - spread, 1.0 + spread, 3)
        return tuple(float(x) for x in np.clip(c, 0.0, hi))

    def offset(self, canonical, spread) -> tuple[float, float, float]:
        """Canonical point, or moved by up to ``spread`` (scalar or per axis) along each axis."""
        p = np.asarray(canonical, np.float64)
        if self.rng is not None:
            p = p + self.rng.uniform(-1.0, 1.0, 3) * np.broadcast_to(np.asarray(spread, np.float64), (3,))
        return tuple(float(x) for x in p)


def sun(
    v: Variation,
    azimuth_deg: float = 35.0,
    elevation_deg: float = 50.0,
    intensity: float = 3.0,
    color=(1.0, 0.95, 0.88),
) -> DirectionalLight:
    """A directional light coming *from* (azimuth, elevation); randomised: azimuth +-180, elevation
    15..75 degrees, intensity x0.5..x1.6, colour tint +-15%."""
    az = math.radians(v.uniform(azimuth_deg, azimuth_deg - 180.0, azimuth_deg + 180.0))
    el = math.radians(v.uniform(elevation_deg, 15.0, 75.0))
    towards_light = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    return DirectionalLight(
        direction=tuple(float(x) for x in -towards_light),
        color=v.colour(color, 0.15, hi=2.0),
        intensity=v.uniform(intensity, 0.5 * intensity, 1.6 * intensity),
    )


def ground(v: Variation, size: float = 40.0, texture=None, uv_tiles: float = 8.0, **material) -> SceneObject:
    """A square ground plane at y = 0 (8 x 8 quads, 128 triangles), textured and tiled ``uv_tiles`` times."""
    if texture is None:
        texture = textures.noise(
            128,
            cells=4,
            octaves=4,
            seed=v.seed(3),
            color_a=v.colour((0.25, 0.3, 0.12)),
            color_b=v.colour((0.06, 0.08, 0.03)),
        )
    mat = Material(
        base_color=(1.0, 1.0, 1.0), base_color_texture=texture, uv_scale=(uv_tiles, uv_tiles), **material
    )
    return SceneObject(mesh=meshes.plane((size, size), (8, 8)), material=mat, name="ground")


def static(
    mesh,
    material: Material,
    name: str,
    translation=(0.0, 0.0, 0.0),
    rotation_deg=(0.0, 0.0, 0.0),
    scale=(1.0, 1.0, 1.0),
) -> SceneObject:
    """An object with one fixed pose."""
    return SceneObject(
        mesh=mesh,
        material=material,
        name=name,
        keys=[TransformKey(0.0, tuple(translation), tuple(rotation_deg), tuple(scale))],
    )


def linear_camera(
    start,
    end,
    target_start,
    target_end,
    duration_s: float,
    fov_y_deg: float = 55.0,
    t0: float = 0.0,
    cut: bool = False,
) -> list[CameraKey]:
    """Two keys: the camera moves in a straight line from ``start`` to ``end`` over ``duration_s``,
    beginning at ``t0`` (the first key a cut when ``cut``)."""
    return [
        CameraKey(t0, tuple(start), tuple(target_start), fov_y_deg, cut=cut),
        CameraKey(t0 + duration_s, tuple(end), tuple(target_end), fov_y_deg),
    ]


def orbit_camera(
    centre,
    radius: float,
    height: float,
    start_deg: float,
    sweep_deg: float,
    duration_s: float,
    fov_y_deg: float = 50.0,
    steps: int = 16,
) -> list[CameraKey]:
    """``steps + 1`` keys on a circular arc around ``centre`` (looking at it); with 16 steps over a
    90-degree sweep the chord deviates from the arc by under 0.2% of the radius."""
    keys = []
    for i in range(steps + 1):
        a = math.radians(start_deg + sweep_deg * i / steps)
        pos = (centre[0] + radius * math.sin(a), centre[1] + height, centre[2] + radius * math.cos(a))
        keys.append(CameraKey(duration_s * i / steps, pos, tuple(centre), fov_y_deg))
    return keys
