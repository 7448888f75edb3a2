"""Built-in procedural scenes made to alias (no external files). Each is documented, with what it
stresses, in ``docs/scene_format.md``.

Every builtin is a function ``(rng: numpy.random.Generator | None) -> Scene``: ``None`` gives the
canonical scene (fixed; used by tests, benchmarks and pictures); a generator randomises the camera
path, animation speed, materials, textures and lighting within the ranges written next to each draw,
for training-data generation. The same seed gives the same scene.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine_bridge.scene import meshes, textures
from engine_bridge.scene.model import Camera, CameraKey, Material, Scene, SceneObject, TransformKey
from engine_bridge.scene.variation import Variation, ground, linear_camera, orbit_camera, static, sun

SKY = (0.55, 0.7, 1.0)
DURATION_S = 4.0


def _fence_objects(v: Variation, z: float = 0.0, length: float = 12.0) -> list[SceneObject]:
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


def wires_fence(rng: np.random.Generator | None = None) -> Scene:
    """Thin wires and fences against a bright HDR sky; the camera trucks sideways along the fence."""
    v = Variation(rng)
    objs = [ground(v)] + _fence_objects(v)
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


def _mover(
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
        _mover(
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
        _mover(
            meshes.sphere(0.6, 32, 16),
            Material(base_color=v.colour((0.1, 0.4, 0.9)), specular=0.8, roughness=0.15),
            "ball",
            back_and_forth((span, 1.8, 1.5), (-span, 0.6, 1.5)),
            DURATION_S,
            steps=4 * passes,
        )
    )
    objs.append(
        _mover(
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


#: Canonical cut times of :func:`camera_cut` (seconds): ``Scene.has_cut_between`` is true across them.
CAMERA_CUT_TIMES_S = (1.5, 3.0)
_HOLD_S = 1e-3  # a shot's last key sits this long before the cut key (the model holds it until the cut)


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
    objs += _fence_objects(v, z=-3.0)
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
        end_t = t1 - _HOLD_S if s < len(shots) - 1 else t1
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
    objs += _fence_objects(v, z=-4.0)
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
        _mover(
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
        cut - _HOLD_S,
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


#: Built-in scenes by name; each takes ``rng: numpy.random.Generator | None``.
BUILTIN_SCENES: dict[str, Callable[[np.random.Generator | None], Scene]] = {
    "wires_fence": wires_fence,
    "grazing_textures": grazing_textures,
    "foliage": foliage,
    "specular": specular,
    "fast_motion": fast_motion,
    "camera_cut": camera_cut,
    "mixed": mixed,
}

#: Canonical cut times per built-in (empty: no cut); tests check them with ``Scene.has_cut_between``.
CANONICAL_CUTS_S: dict[str, tuple[float, ...]] = {name: () for name in BUILTIN_SCENES}
CANONICAL_CUTS_S.update(camera_cut=CAMERA_CUT_TIMES_S, mixed=(MIXED_CUT_TIME_S,))


def builtin_names() -> list[str]:
    """Names of the built-in scenes, in documentation order."""
    return list(BUILTIN_SCENES)
