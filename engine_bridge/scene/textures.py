"""Procedural textures generated with numpy, and image textures loaded with Pillow.

Every function returns a :class:`~engine_bridge.scene.model.Texture`: RGBA8, top-down rows. Colours are
given in *linear* RGB in [0, 1] and stored sRGB-encoded (``srgb=True``) so that 8 bits keep dark values;
the renderer decodes them when sampling. All procedural textures tile seamlessly (``wrap="repeat"``).
Deterministic: the same arguments give the same pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine_bridge.scene.model import Texture
from qwplugin.errors import InvalidArgument


def linear_to_srgb8(rgb_linear: np.ndarray) -> np.ndarray:
    """Encode linear RGB (any shape ``(..., 3)``, clipped to [0, 1]) to sRGB uint8 (IEC 61966-2-1 curve)."""
    x = np.clip(np.asarray(rgb_linear, dtype=np.float64), 0.0, 1.0)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)
    return np.round(s * 255.0).astype(np.uint8)


def srgb8_to_linear(rgb8: np.ndarray) -> np.ndarray:
    """Inverse of :func:`linear_to_srgb8` (up to 8-bit rounding): uint8 sRGB to linear float64."""
    s = np.asarray(rgb8, dtype=np.float64) / 255.0
    return np.where(s <= 0.04045, s / 12.92, np.power((s + 0.055) / 1.055, 2.4))


def from_linear(
    rgb_linear: np.ndarray, alpha: np.ndarray | None = None, name: str = "", wrap: str = "repeat"
) -> Texture:
    """Build an sRGB-encoded RGBA8 texture from a linear ``(H, W, 3)`` float image and optional
    ``(H, W)`` alpha in [0, 1] (default opaque)."""
    rgb8 = linear_to_srgb8(rgb_linear)
    h, w = rgb8.shape[:2]
    a8 = (
        np.full((h, w), 255, np.uint8)
        if alpha is None
        else np.round(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)
    )
    return Texture(pixels=np.ascontiguousarray(np.dstack([rgb8, a8])), name=name, srgb=True, wrap=wrap)


def _mix(mask: np.ndarray, color_a, color_b) -> np.ndarray:
    """Per-pixel ``mask * a + (1 - mask) * b`` for a ``(H, W)`` mask and two RGB colours."""
    a, b = np.asarray(color_a, np.float64), np.asarray(color_b, np.float64)
    return mask[..., None] * a + (1.0 - mask[..., None]) * b


def _check_size(size: int, field: str = "size") -> None:
    if not (isinstance(size, (int, np.integer)) and 1 <= size <= 4096):
        raise InvalidArgument(
            "texture size out of range", field=field, expected="int in [1, 4096]", actual=repr(size)
        )


def checker(size: int = 256, cells: int = 8, color_a=(0.9, 0.9, 0.9), color_b=(0.02, 0.02, 0.02)) -> Texture:
    """A ``cells x cells`` checkerboard of ``size x size`` pixels; the top-left cell has ``color_a``.

    Cell borders fall on pixel borders when ``size`` is a multiple of ``cells``.
    """
    _check_size(size)
    if not 1 <= cells <= size:
        raise InvalidArgument(
            "checker cells out of range", field="cells", expected=f"1..{size}", actual=repr(cells)
        )
    idx = (np.arange(size) * cells) // size
    mask = ((idx[:, None] + idx[None, :]) % 2 == 0).astype(np.float64)
    return from_linear(_mix(mask, color_a, color_b), name=f"checker{cells}")


def stripes(
    size: int = 256,
    count: int = 16,
    duty: float = 0.5,
    angle_deg: float = 0.0,
    color_a=(0.9, 0.9, 0.9),
    color_b=(0.02, 0.02, 0.02),
) -> Texture:
    """Parallel stripes: ``count`` periods across the texture, ``duty`` = fraction of each period in
    ``color_a``. ``angle_deg`` = 0 gives vertical stripes (varying along u); 90 horizontal. Only angles
    whose direction is a lattice vector tile exactly (0, 45, 90, ...); others tile approximately.
    """
    _check_size(size)
    if not (0.0 < duty < 1.0) or count < 1:
        raise InvalidArgument(
            "stripes: need 0 < duty < 1 and count >= 1",
            field="duty/count",
            actual=f"duty={duty}, count={count}",
        )
    c = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(c, c)  # u along columns, v along rows
    theta = np.radians(angle_deg)
    # Round the direction to a lattice vector so that the pattern tiles.
    dx, dy = np.round(np.cos(theta) * count), np.round(np.sin(theta) * count)
    if dx == 0 and dy == 0:
        dx = count
    phase = np.mod(u * dx + v * dy, 1.0)
    mask = (phase < duty).astype(np.float64)
    return from_linear(_mix(mask, color_a, color_b), name=f"stripes{count}")


def _value_noise_octave(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Tileable value noise: random values on a ``cells x cells`` lattice, smoothstep-interpolated."""
    lattice = rng.random((cells, cells))
    c = np.arange(size) * cells / size
    i0 = np.floor(c).astype(int)
    f = c - i0
    f = f * f * (3.0 - 2.0 * f)
    i1 = (i0 + 1) % cells
    i0 = i0 % cells
    top = lattice[i0][:, i0] * (1 - f[None, :]) + lattice[i0][:, i1] * f[None, :]
    bottom = lattice[i1][:, i0] * (1 - f[None, :]) + lattice[i1][:, i1] * f[None, :]
    return top * (1 - f[:, None]) + bottom * f[:, None]


def noise(
    size: int = 256,
    cells: int = 8,
    octaves: int = 4,
    seed: int = 0,
    color_a=(0.6, 0.6, 0.6),
    color_b=(0.05, 0.05, 0.05),
) -> Texture:
    """Fractal value noise (``octaves`` octaves, lattice ``cells``, doubling per octave, halving
    amplitude), normalised to [0, 1] and mapped from ``color_b`` (0) to ``color_a`` (1)."""
    _check_size(size)
    if cells < 1 or octaves < 1:
        raise InvalidArgument(
            "noise: need cells >= 1 and octaves >= 1",
            field="cells/octaves",
            actual=f"cells={cells}, octaves={octaves}",
        )
    rng = np.random.default_rng(seed)
    acc = np.zeros((size, size))
    amp, total = 1.0, 0.0
    for o in range(octaves):
        acc += amp * _value_noise_octave(size, min(cells * 2**o, size), rng)
        total += amp
        amp *= 0.5
    acc /= total
    lo, hi = acc.min(), acc.max()
    acc = (acc - lo) / (hi - lo) if hi > lo else np.zeros_like(acc)
    return from_linear(_mix(acc, color_a, color_b), name=f"noise{cells}")


def leaves(
    size: int = 128,
    leaf_count: int = 24,
    seed: int = 0,
    color=(0.08, 0.3, 0.04),
    color_variation: float = 0.4,
) -> Texture:
    """An alpha-tested foliage mask: ``leaf_count`` elliptical leaves (alpha 1) on transparent
    background (alpha 0), with a stem along the card's centre. Leaves do not wrap (``wrap="clamp"``).

    Transparent texels carry the mean leaf colour so that mipmapping does not darken leaf edges.
    """
    _check_size(size)
    rng = np.random.default_rng(seed)
    c = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(c, c)  # y grows downward (top-down rows)
    alpha = np.zeros((size, size))
    shade = np.zeros((size, size))
    stem = (np.abs(x - 0.5) < 0.012) & (y > 0.1)
    alpha[stem] = 1.0
    shade[stem] = -0.3
    for _ in range(leaf_count):
        cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.85)
        length, width = rng.uniform(0.12, 0.22), rng.uniform(0.04, 0.08)
        ang = rng.uniform(-1.2, 1.2) + (0.0 if cx > 0.5 else np.pi)
        ca, sa = np.cos(ang), np.sin(ang)
        dx, dy = x - cx, y - cy
        a, b = (dx * ca + dy * sa) / length, (-dx * sa + dy * ca) / width
        inside = a * a + b * b <= 1.0
        alpha[inside] = 1.0
        shade[inside] = rng.uniform(-1.0, 1.0) * color_variation
    rgb = np.asarray(color, np.float64) * (1.0 + shade[..., None])
    mean = rgb[alpha > 0].mean(axis=0) if (alpha > 0).any() else np.asarray(color, np.float64)
    rgb[alpha == 0] = mean
    tex = from_linear(rgb, alpha, name=f"leaves{seed}", wrap="clamp")
    return tex


def load_image(path: str | Path, srgb: bool = True, wrap: str = "repeat") -> Texture:
    """Load an image file (PNG, JPEG, ... anything Pillow reads) as a top-down RGBA8 texture.

    Raises:
        InvalidArgument: the file is missing or Pillow cannot decode it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(
            "texture file not found", field="path", expected="an existing image file", actual=str(path)
        )
    try:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGBA"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidArgument(f"cannot decode image: {exc}", field="path", actual=str(path)) from exc
    return Texture(pixels=np.ascontiguousarray(pixels), name=path.name, srgb=srgb, wrap=wrap)


def from_pil(image, name: str = "", srgb: bool = True, wrap: str = "repeat") -> Texture:
    """Wrap a Pillow image (as trimesh returns for material textures) as an RGBA8 texture."""
    pixels = np.asarray(image.convert("RGBA"), dtype=np.uint8)
    return Texture(pixels=np.ascontiguousarray(pixels), name=name, srgb=srgb, wrap=wrap)


#: Procedural texture generators by the ``type`` name used in scene files.
PROCEDURAL_TEXTURES = {"checker": checker, "stripes": stripes, "noise": noise, "leaves": leaves}
