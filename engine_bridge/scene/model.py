"""The in-memory scene model the rasterizer consumes, and its evaluation in continuous time.

Units and spaces: world units are metres-ish and arbitrary; time in seconds; colours are linear HDR
(values above 1 allowed); angles in degrees; texture pixel arrays are top-down RGBA8. Animation is
keyframed and piecewise linear in time; a key with ``cut=True`` is reached by a jump (the previous value
is held until the key's time, then the new value applies): that is how camera cuts are written.

``Scene.evaluate(t)`` gives everything that changes with time (camera and object matrices); the
rasterizer evaluates it at ``t`` and at the previous frame's time to get motion vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine_bridge.scene import transforms


@dataclass
class Texture:
    """An RGBA8 image, top-down rows, shape ``(H, W, 4)`` uint8.

    ``srgb``: the RGB channels are sRGB-encoded (decoded to linear when sampled); alpha is linear.
    ``wrap``: "repeat" or "clamp". Mipmaps are always built; the renderer's mip bias applies.
    """

    pixels: np.ndarray
    name: str = ""
    srgb: bool = True
    wrap: str = "repeat"

    def __post_init__(self):
        assert self.pixels.ndim == 3 and self.pixels.shape[2] == 4 and self.pixels.dtype == np.uint8, (
            f"texture {self.name!r}: expected (H, W, 4) uint8, got {self.pixels.shape} {self.pixels.dtype}")
        assert self.wrap in ("repeat", "clamp")


@dataclass
class Material:
    """Base colour (times an optional texture), Blinn-Phong-style specular, emissive, alpha test.

    ``specular``: strength of the specular lobe in [0, 1]; ``roughness`` in (0, 1] sets its width
    (shininess = 2 / roughness^4 - 2, clamped); ``emissive``: linear HDR radiance added unlit;
    ``alpha_cutoff``: when set, fragments whose texture alpha is below it are discarded (cut-outs).
    ``uv_scale`` multiplies texture coordinates (tiling).
    """

    base_color: tuple[float, float, float] = (0.8, 0.8, 0.8)
    base_color_texture: Texture | None = None
    specular: float = 0.0
    roughness: float = 0.5
    emissive: tuple[float, float, float] = (0.0, 0.0, 0.0)
    alpha_cutoff: float | None = None
    uv_scale: tuple[float, float] = (1.0, 1.0)
    double_sided: bool = False


@dataclass
class Mesh:
    """Indexed triangles. positions/normals ``(N, 3)`` float32, uvs ``(N, 2)`` float32 (v up, OpenGL),
    indices ``(M, 3)`` uint32, counter-clockwise front faces."""

    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    indices: np.ndarray
    name: str = ""

    def __post_init__(self):
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float32)
        self.normals = np.ascontiguousarray(self.normals, dtype=np.float32)
        self.uvs = np.ascontiguousarray(self.uvs, dtype=np.float32)
        self.indices = np.ascontiguousarray(self.indices, dtype=np.uint32)
        n = len(self.positions)
        assert self.positions.shape == (n, 3) and self.normals.shape == (n, 3) and self.uvs.shape == (n, 2)
        assert self.indices.ndim == 2 and self.indices.shape[1] == 3
        assert self.indices.size == 0 or int(self.indices.max()) < n


def _sample_keys(keys, t: float, attributes: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Piecewise-linear sample of keyframed attributes; keys sorted by time, cut keys jump."""
    assert keys, "no keyframes"
    if t <= keys[0].time_s or len(keys) == 1:
        k = keys[0]
        return tuple(np.asarray(getattr(k, a), dtype=np.float64) for a in attributes)
    for k0, k1 in zip(keys[:-1], keys[1:]):
        if t < k1.time_s:
            if k1.cut:
                return tuple(np.asarray(getattr(k0, a), dtype=np.float64) for a in attributes)
            w = (t - k0.time_s) / (k1.time_s - k0.time_s)
            return tuple((1 - w) * np.asarray(getattr(k0, a), dtype=np.float64)
                         + w * np.asarray(getattr(k1, a), dtype=np.float64) for a in attributes)
    k = keys[-1]
    return tuple(np.asarray(getattr(k, a), dtype=np.float64) for a in attributes)


def _has_cut(keys, t0: float, t1: float) -> bool:
    return any(k.cut and t0 < k.time_s <= t1 for k in keys)


@dataclass
class TransformKey:
    """An object's pose at ``time_s``: translation, Euler XYZ rotation in degrees, scale."""

    time_s: float
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    cut: bool = False


@dataclass
class CameraKey:
    """The camera at ``time_s``: eye position, look-at target, vertical field of view."""

    time_s: float
    position: tuple[float, float, float]
    target: tuple[float, float, float]
    fov_y_deg: float = 60.0
    cut: bool = False


@dataclass
class Camera:
    keys: list[CameraKey]
    near: float = 0.1
    far: float = 100.0
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)

    def __post_init__(self):
        assert self.keys, "camera needs at least one key"
        self.keys = sorted(self.keys, key=lambda k: k.time_s)
        assert 0 < self.near < self.far


@dataclass
class SceneObject:
    mesh: Mesh
    material: Material
    keys: list[TransformKey] = field(default_factory=lambda: [TransformKey(0.0)])
    name: str = ""

    def __post_init__(self):
        assert self.keys, f"object {self.name!r} needs at least one transform key"
        self.keys = sorted(self.keys, key=lambda k: k.time_s)

    def model_matrix(self, t: float) -> np.ndarray:
        tr, rot, sc = _sample_keys(self.keys, t, ("translation", "rotation_deg", "scale"))
        return transforms.trs(tr, rot, sc)


@dataclass
class DirectionalLight:
    """Light travelling along ``direction`` (world space, need not be unit), radiance ``color * intensity``."""

    direction: tuple[float, float, float] = (-0.4, -1.0, -0.3)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 3.0


@dataclass
class SceneState:
    """Everything time-dependent at one instant. Matrices are float64 (4, 4), column-vector convention."""

    time_s: float
    view: np.ndarray
    fov_y_deg: float
    near: float
    far: float
    camera_position: np.ndarray
    model_matrices: list[np.ndarray]

    def projection(self, aspect: float) -> np.ndarray:
        """Unjittered OpenGL projection for ``aspect`` = width / height."""
        return transforms.perspective(self.fov_y_deg, aspect, self.near, self.far)


@dataclass
class Scene:
    """A renderable scene. ``duration_s`` is the length of its animation; ``background`` is the linear
    HDR colour of pixels no geometry covers; ``ambient`` is linear HDR irradiance added to every lit
    surface."""

    name: str
    objects: list[SceneObject]
    camera: Camera
    light: DirectionalLight = field(default_factory=DirectionalLight)
    ambient: tuple[float, float, float] = (0.15, 0.15, 0.18)
    background: tuple[float, float, float] = (0.35, 0.45, 0.6)
    duration_s: float = 2.0

    def evaluate(self, t: float) -> SceneState:
        position, target, fov = _sample_keys(self.camera.keys, t, ("position", "target", "fov_y_deg"))
        return SceneState(
            time_s=t,
            view=transforms.look_at(position, target, self.camera.up),
            fov_y_deg=float(fov),
            near=self.camera.near,
            far=self.camera.far,
            camera_position=position,
            model_matrices=[o.model_matrix(t) for o in self.objects],
        )

    def has_cut_between(self, t0: float, t1: float) -> bool:
        """True when a camera or object key with ``cut=True`` lies in ``(t0, t1]``: the frame at ``t1``
        must be rendered with ``reset`` (its motion vectors against ``t0`` are meaningless)."""
        return _has_cut(self.camera.keys, t0, t1) or any(_has_cut(o.keys, t0, t1) for o in self.objects)
