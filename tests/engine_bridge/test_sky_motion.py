"""Background (sky) motion vectors: a direction at infinity moves with the camera's rotation and zoom only.

Under a pure rotation the expected motion of every pixel is computed here in numpy from the two cameras'
view matrices and fields of view (ray through the pixel's sample point, rotated into the previous camera,
projected with the previous field of view), independently of the renderer's homography; a far wall
drawn as geometry must get the same motion (rotation motion does not depend on depth). A static camera
and a pure translation give background motion exactly 0.
"""

import math

import numpy as np
import pytest

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.raster.probe_scenes import probe_camera, screen_rect_mesh, unlit
from engine_bridge.raster.sky import sky_reprojection
from engine_bridge.scene import transforms
from engine_bridge.scene.model import CameraKey, Scene, SceneObject, TransformKey
from qwplugin.errors import InvalidArgument

pytestmark = pytest.mark.gl
W, H = 64, 48
FOV = 60.0
JITTER = (0.3125, -0.1875)
BACKGROUND = (0.2, 0.3, 0.5)
WALL_DEPTH = 50.0


def scene_with(keys: list[CameraKey]) -> Scene:
    """A far unlit wall over the left 20 columns (as seen from the first key) on a plain background."""
    wall = screen_rect_mesh(0.0, 0.0, 20.0, float(H), WALL_DEPTH, W, H, FOV)
    objects = [SceneObject(wall, unlit((1.0, 1.0, 1.0)), [TransformKey(0.0)], name="wall")]
    return Scene("sky_probe", objects, probe_camera(FOV, keys), ambient=(0.0, 0.0, 0.0), background=BACKGROUND)


def direction_key(t: float, yaw_deg: float, pitch_deg: float, fov: float = FOV, eye=(0.0, 0.0, 0.0)) -> CameraKey:
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    d = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch), -math.cos(yaw) * math.cos(pitch)])
    return CameraKey(t, tuple(eye), tuple(np.asarray(eye) + d), fov)


def analytic_rotation_motion(scene: Scene, t0: float, t1: float, jitter) -> np.ndarray:
    """(H, W, 2) motion of the direction seen at each pixel's sample point (j + .5 + jx, i + .5 + jy):
    current camera ray from the field of view, to world by the transposed view rotation, into the previous
    camera, projected with the previous field of view, back to pixels; minus the sample point."""
    cur, prev = scene.evaluate(t1), scene.evaluate(t0)
    aspect = W / H
    ii, jj = np.mgrid[0:H, 0:W].astype(np.float64)
    px, py = jj + 0.5 + jitter[0], ii + 0.5 + jitter[1]
    tan1 = math.tan(math.radians(cur.fov_y_deg) / 2)
    tan0 = math.tan(math.radians(prev.fov_y_deg) / 2)
    ray = np.stack([(2 * px / W - 1) * tan1 * aspect, (1 - 2 * py / H) * tan1, -np.ones_like(px)], -1)
    world = ray @ cur.view[:3, :3]            # R1^T @ ray, row-vector form
    prev_ray = world @ prev.view[:3, :3].T    # R0 @ world
    assert (prev_ray[..., 2] < 0).all()       # every direction was in front of the previous camera
    x0 = prev_ray[..., 0] / -prev_ray[..., 2] / (tan0 * aspect)
    y0 = prev_ray[..., 1] / -prev_ray[..., 2] / tan0
    return np.stack([(x0 + 1) / 2 * W - px, (1 - y0) / 2 * H - py], -1)


def half_tolerance(expected: np.ndarray) -> np.ndarray:
    """One float16 step at the expected magnitude (RG16F storage; llvmpipe truncates on conversion), plus
    2e-3 px for float32 shader arithmetic (NDC error ~1e-6 x 32 px, and the homography's rounding)."""
    return np.spacing(np.abs(expected).astype(np.float16)).astype(np.float64) + 2e-3


def render_motion(scene: Scene, t0: float, t1: float, jitter=JITTER):
    from engine_bridge.raster import Renderer

    with Renderer(scene, W, H) as r:
        r.render_gbuffer(t1, t0, jitter)
        a = r.read_gbuffer()
        return a.color.copy(), a.motion_px.copy(), a.depth_view.copy()


@pytest.mark.parametrize("yaw1, pitch1, fov1", [(9.0, 4.0, FOV), (-6.0, -7.0, FOV), (5.0, 3.0, 48.0)],
                         ids=["yaw-pitch", "other-way", "rotate-and-zoom"])
def test_rotation_motion_matches_the_analytic_value(gl, yaw1, pitch1, fov1):
    scene = scene_with([direction_key(0.0, 0.0, 0.0), direction_key(1.0, yaw1, pitch1, fov1)])
    color, motion, depth = render_motion(scene, 0.0, 1.0)
    expected = analytic_rotation_motion(scene, 0.0, 1.0, JITTER)
    background = color[..., 1] < 0.9
    wall = ~background
    assert 0.1 * W * H < background.sum() < 0.95 * W * H and wall.sum() > 0.05 * W * H
    assert np.abs(expected).max() > 3.0  # a few pixels of motion, so a wrong sign or scale shows
    err = np.abs(motion - expected)
    tol = half_tolerance(expected)
    # Background: the sky pass. Tolerance: one half-float step at |motion| (2^-8 px for 4..8 px) + 2e-3 px.
    assert (err[background] <= tol[background]).all(), float(err[background].max())
    # The far wall (geometry, its own motion path): under a pure rotation its motion is the same function of
    # the pixel as the sky's, so sky and geometry agree across the silhouette.
    assert (err[wall] <= tol[wall]).all(), float(err[wall].max())
    # The pass writes only the motion target: background colour and view depth stay as cleared.
    np.testing.assert_allclose(color[background], np.broadcast_to(BACKGROUND, (background.sum(), 3)),
                               rtol=2.0 ** -10)
    np.testing.assert_array_equal(depth[background], scene.camera.far)
    # Evaluated at the sample point, like geometry's motion (the wall above): the same formula at the pixel
    # centre is off by far more than the tolerance (measured 0.10-0.14 px), so this pins the convention.
    at_centre = analytic_rotation_motion(scene, 0.0, 1.0, (0.0, 0.0))
    assert np.abs(motion - at_centre)[background].max() > 5 * tol.max()


def test_static_camera_and_pure_translation_give_zero_sky_motion(gl):
    static = scene_with([direction_key(0.0, 3.0, 2.0)])
    color, motion, _ = render_motion(static, 0.0, 1.0)
    np.testing.assert_array_equal(motion, 0.0)

    # the camera slides sideways and up, keeping its orientation: the sky does not move, the wall does
    moved = scene_with([direction_key(0.0, 3.0, 2.0), direction_key(1.0, 3.0, 2.0, eye=(2.0, 0.5, 0.0))])
    color, motion, _ = render_motion(moved, 0.0, 1.0)
    background = color[..., 1] < 0.9
    assert background.sum() > 0.1 * W * H
    np.testing.assert_array_equal(motion[background], 0.0)
    # 2 units sideways at depth 50 with a 41.6 px focal length: ~1.7 px on the wall
    assert np.abs(motion[~background][:, 0]).min() > 1.0


def test_sky_reprojection_contract():
    p = transforms.perspective(FOV, W / H, 0.1, 100.0)
    v0 = transforms.look_at((0, 0, 0), (0, 0, -1))
    v1 = transforms.look_at((0, 0, 0), (1, 0, -1))  # 45 degrees to the right
    h = sky_reprojection(v1, p, v0, p)
    # the current image centre looks 45 degrees right of the previous view axis: previous NDC x =
    # tan(45) / (tan(30) * aspect), y = 0
    x, y, w = h @ np.array([0.0, 0.0, 1.0])
    assert w > 0
    assert x / w == pytest.approx(1.0 / (math.tan(math.radians(30)) * W / H), rel=1e-12)
    assert y / w == pytest.approx(0.0, abs=1e-12)
    # a direction behind the previous camera has w <= 0 (the shader then writes motion 0)
    v_back = transforms.look_at((0, 0, 0), (0, 0, 1))
    assert (h_back := sky_reprojection(v_back, p, v0, p) @ np.array([0.0, 0.0, 1.0]))[2] <= 0, h_back
    with pytest.raises(InvalidArgument, match="4x4"):
        sky_reprojection(np.eye(3), p, v0, p)
