"""Built-in scenes: deterministic per seed, different across seeds, cuts where documented, finite and
rigid matrices over time, sensible size and framing."""

import hashlib

import numpy as np
import pytest

from engine_bridge.scene.builtin import BUILTIN_SCENES, CANONICAL_CUTS_S, builtin_names

NAMES = builtin_names()
FPS = 30.0
MAX_TRIANGLES = 50_000


def fingerprint(scene) -> str:
    """Hash of everything that defines a scene: geometry, textures, materials, keys, light, colours."""
    h = hashlib.sha256()
    for o in scene.objects:
        m = o.mesh
        for arr in (m.positions, m.normals, m.uvs, m.indices):
            h.update(arr.tobytes())
        mat = o.material
        h.update(
            repr(
                (
                    mat.base_color,
                    mat.specular,
                    mat.roughness,
                    mat.emissive,
                    mat.alpha_cutoff,
                    mat.uv_scale,
                    mat.double_sided,
                )
            ).encode()
        )
        if mat.base_color_texture is not None:
            h.update(mat.base_color_texture.pixels.tobytes())
        h.update(repr([(k.time_s, k.translation, k.rotation_deg, k.scale, k.cut) for k in o.keys]).encode())
    h.update(repr([(k.time_s, k.position, k.target, k.fov_y_deg, k.cut) for k in scene.camera.keys]).encode())
    h.update(repr((scene.light, scene.ambient, scene.background, scene.duration_s)).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def scenes():
    """Canonical plus two seeds of every builtin, built once."""
    return {
        (n, s): BUILTIN_SCENES[n](None if s is None else np.random.default_rng(s))
        for n in NAMES
        for s in (None, 1, 2)
    }


def test_at_least_five_builtins():
    assert len(NAMES) >= 5 and set(NAMES) == set(BUILTIN_SCENES)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed_and_different_across_seeds(name, scenes):
    f = BUILTIN_SCENES[name]
    assert fingerprint(f(None)) == fingerprint(scenes[name, None])
    assert fingerprint(f(np.random.default_rng(1))) == fingerprint(scenes[name, 1])
    prints = {fingerprint(scenes[name, s]) for s in (None, 1, 2)}
    assert len(prints) == 3
    # Randomisation reaches the camera path, the lighting and the materials.
    a, b = scenes[name, 1], scenes[name, 2]
    assert a.camera.keys[0].position != b.camera.keys[0].position
    assert (a.light.direction, a.light.intensity) != (b.light.direction, b.light.intensity)
    assert [o.material.base_color for o in a.objects] != [o.material.base_color for o in b.objects] or [
        o.material.roughness for o in a.objects
    ] != [o.material.roughness for o in b.objects]


@pytest.mark.parametrize("name", NAMES)
def test_canonical_cuts_where_documented(name, scenes):
    scene = scenes[name, None]
    dt = 1.0 / FPS
    for c in CANONICAL_CUTS_S[name]:
        assert scene.has_cut_between(c - dt, c) and scene.has_cut_between(c - 1e-6, c + 1e-6)
        assert not scene.has_cut_between(c, c + dt)
    times = np.arange(0.0, scene.duration_s + 1e-9, dt)
    flagged = [t1 for t0, t1 in zip(times[:-1], times[1:]) if scene.has_cut_between(t0, t1)]
    assert len(flagged) == len(CANONICAL_CUTS_S[name])
    # Randomised variants keep the same number of cuts (their times may move).
    for seed in (1, 2):
        s = scenes[name, seed]
        assert sum(s.has_cut_between(t0, t1) for t0, t1 in zip(times[:-1], times[1:])) == len(
            CANONICAL_CUTS_S[name]
        )


@pytest.mark.parametrize("name", NAMES)
def test_camera_moves_continuously_except_at_cuts(name, scenes):
    """A jump without a cut flag would give wrong motion vectors and poison the history."""
    for seed in (None, 1, 2):
        scene = scenes[name, seed]
        times = np.arange(0.0, scene.duration_s + 1e-9, 1.0 / FPS)
        pos = [scene.evaluate(t).camera_position for t in times]
        for i in range(1, len(times)):
            if not scene.has_cut_between(times[i - 1], times[i]):
                assert np.linalg.norm(pos[i] - pos[i - 1]) < 0.5, (name, seed, times[i])  # < 15 m/s


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_gives_finite_rigid_matrices(name, scenes):
    for seed in (None, 1):
        scene = scenes[name, seed]
        for t in np.linspace(-0.5, scene.duration_s + 0.5, 7):
            state = scene.evaluate(float(t))
            r = state.view[:3, :3]
            assert np.all(np.isfinite(state.view)) and np.allclose(r @ r.T, np.eye(3), atol=1e-9)
            assert np.allclose(state.view[3], (0, 0, 0, 1))
            assert 0 < state.fov_y_deg < 180 and 0 < state.near < state.far
            proj = state.projection(16 / 9)
            assert np.all(np.isfinite(proj))
            assert len(state.model_matrices) == len(scene.objects)
            for m in state.model_matrices:
                assert np.all(np.isfinite(m)) and abs(np.linalg.det(m[:3, :3])) > 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_size_and_assets_are_valid(name, scenes):
    for seed in (None, 1, 2):
        scene = scenes[name, seed]
        assert 0 < sum(len(o.mesh.indices) for o in scene.objects) < MAX_TRIANGLES
        for o in scene.objects:
            m = o.mesh
            assert np.all(np.isfinite(m.positions)) and np.all(np.isfinite(m.uvs))
            np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-5)
            mat = o.material
            assert 0 < mat.roughness <= 1 and 0 <= mat.specular <= 1
            assert min(mat.base_color) >= 0 and min(scene.background) >= 0
            if (
                mat.alpha_cutoff is not None
            ):  # an alpha-tested material has texels on both sides of the cutoff
                alpha = mat.base_color_texture.pixels[..., 3] / 255.0
                assert (alpha < mat.alpha_cutoff).any() and (alpha >= mat.alpha_cutoff).any()


@pytest.mark.parametrize("name", NAMES)
def test_camera_sees_most_objects(name, scenes):
    """Framing sanity: at five times, at least half of the objects have a vertex inside the frustum."""
    for seed in (None, 1, 2):
        scene = scenes[name, seed]
        for t in np.linspace(0.0, scene.duration_s, 5):
            state = scene.evaluate(float(t))
            vp = state.projection(16 / 9) @ state.view
            seen = 0
            for o, model in zip(scene.objects, state.model_matrices):
                p = np.c_[o.mesh.positions, np.ones(len(o.mesh.positions))] @ (vp @ model).T
                w = p[:, 3]
                inside = (w > 0) & np.all(np.abs(p[:, :3]) < w[:, None], axis=1)
                seen += bool(inside.any())
            assert seen >= len(scene.objects) / 2, (name, seed, t, seen)


def test_documented_stress_features(scenes):
    """Each stress case has the feature it is named for."""
    fence = scenes["wires_fence", None]
    assert any(o.name == "fence" for o in fence.objects)
    foliage = scenes["foliage", None]
    assert any(o.material.alpha_cutoff is not None and o.material.double_sided for o in foliage.objects)
    spec = scenes["specular", None]
    assert sum(o.material.roughness <= 0.15 and o.material.specular == 1.0 for o in spec.objects) >= 5
    assert spec.light.intensity >= 8
    fast = scenes["fast_motion", None]
    speeds = []
    for o in fast.objects:
        a, b = o.model_matrix(0.9)[:3, 3], o.model_matrix(1.0)[:3, 3]
        speeds.append(np.linalg.norm(b - a) / 0.1)
    assert max(speeds) >= 5.0  # metres per second
