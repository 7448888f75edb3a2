"""Image-quality and temporal-stability metrics against supersampled references, on (H, W, 3) images.

The numpy front of the core metrics (:mod:`qwplugin.metrics`, which training validation uses too): it
checks the images, converts them to the metric's domain and calls the one implementation; FLIP (NVIDIA
``flip-evaluator``, numpy only) lives here.

**Domains.** Each metric is computed in one of three domains (:data:`DOMAINS`, printed as the report's
legend):

- ``tonemapped``: linear HDR times the exposure (default 1), tonemapped with ``x / (1 + x)`` (the network's
  own domain, :func:`qwplugin.ops.colour.to_network`), values in [0, 1) with peak 1. Still linear in light
  below the shoulder: dark-region errors weigh little.
- ``srgb``: the ``tonemapped`` values encoded with the sRGB transfer function (IEC 61966-2-1 OETF), in
  [0, 1]: the code values a display receives, closer to perceived brightness (dark errors weigh more).
- ``linear``: linear HDR times the exposure, negatives clamped to 0.

Metrics (per frame; all are 0 / perfect for an output equal to the reference):

- ``psnr_db`` (tonemapped): ``-10 log10(MSE)`` over pixels and channels, peak 1 (MSE floored at 1e-10:
  100 dB cap).
- ``psnr_srgb_db`` (srgb): the same PSNR on the sRGB-encoded display values.
- ``ssim`` (tonemapped): SSIM from ``pytorch-msssim`` (11-pixel Gaussian window, sigma 1.5, data range 1).
- ``flip`` (srgb): mean LDR-FLIP error (NVIDIA ``flip-evaluator``, default 67 pixels per degree); FLIP's
  LDR mode expects sRGB-encoded images.
- ``hdr_flip`` (linear): mean HDR-FLIP error (same package, its automatic exposure range).
- ``temporal`` (tonemapped): the QW-Net paper's temporal error, mean
  ``|(o_t - W o_{t-1}) - (r_t - W r_{t-1})|`` where ``W`` warps by frame ``t``'s motion vectors; pixels
  whose motion leaves the previous frame are left out. Undefined for the first frame after a reset.
- ``flicker`` (tonemapped): mean ``max(0, |o_t - W o_{t-1}| - |r_t - W r_{t-1}|)``: the frame-to-frame
  change of the output beyond what the reference itself changes (crawling edges, shimmering highlights).
  Same masks.

Both temporal metrics are computed after the warm-up rule of the caller. Every mean is accumulated in
float64 (:mod:`qwplugin.metrics`).
"""

from __future__ import annotations

import numpy as np
import torch

from qwplugin import metrics as core
from qwplugin.errors import InvalidArgument
from qwplugin.metrics import PSNR_MSE_FLOOR  # noqa: F401  (re-exported: the one PSNR cap)
from qwplugin.ops.colour import to_network

METRIC_NAMES = ("psnr_db", "psnr_srgb_db", "ssim", "flip", "hdr_flip", "temporal", "flicker")
HIGHER_IS_BETTER = {"psnr_db": True, "psnr_srgb_db": True, "ssim": True, "flip": False, "hdr_flip": False,
                    "temporal": False, "flicker": False}
LABELS = {"psnr_db": "PSNR dB", "psnr_srgb_db": "PSNR-sRGB dB", "ssim": "SSIM", "flip": "FLIP",
          "hdr_flip": "HDR-FLIP", "temporal": "temporal error", "flicker": "flicker"}
DOMAIN_OF = {"psnr_db": "tonemapped", "psnr_srgb_db": "srgb", "ssim": "tonemapped", "flip": "srgb",
             "hdr_flip": "linear", "temporal": "tonemapped", "flicker": "tonemapped"}
"""The domain each metric is computed in (keys of :data:`DOMAINS`)."""
DOMAINS = {"tonemapped": "linear HDR x exposure, tonemapped x / (1 + x), in [0, 1)",
           "srgb": "the tonemapped values encoded with the sRGB OETF (IEC 61966-2-1), in [0, 1]",
           "linear": "linear HDR x exposure (negatives clamped to 0), unbounded"}


def _as_hwc(name: str, image) -> np.ndarray:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 3 or a.shape[2] != 3:
        raise InvalidArgument(f"{name} must be an (H, W, 3) image", field=name, expected="(H, W, 3)",
                              actual=str(a.shape))
    if not np.isfinite(a).all():
        raise InvalidArgument(f"{name} contains NaN or Inf", field=name, expected="finite values",
                              actual="non-finite values")
    return a


def _check_pair(reference, test) -> tuple[np.ndarray, np.ndarray]:
    ref, out = _as_hwc("reference", reference), _as_hwc("test", test)
    if ref.shape != out.shape:
        raise InvalidArgument("test and reference differ in shape", field="test", expected=str(ref.shape),
                              actual=str(out.shape))
    return ref, out


def _chw(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) float32 numpy -> (1, C, H, W) torch view (no copy)."""
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]


def to_display(linear, exposure: float = 1.0) -> np.ndarray:
    """Linear HDR (H, W, 3) -> display values ``e x / (1 + e x)`` in [0, 1) (negatives clamped to 0)."""
    t = torch.from_numpy(np.ascontiguousarray(linear, dtype=np.float32))
    return to_network(t.clamp_min(0.0), exposure).numpy()


def srgb_encode(display: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1 OETF) on values clamped to [0, 1]; float32, same shape."""
    x = np.clip(display, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def psnr_db(reference_display, test_display) -> float:
    """PSNR (peak 1, MSE floored at ``PSNR_MSE_FLOOR``) of two (H, W, 3) images in [0, 1].

    Raises:
        InvalidArgument: not (H, W, 3), different shapes, or NaN / Inf.
    """
    ref, out = _check_pair(reference_display, test_display)
    return float(core.psnr_db(_chw(ref), _chw(out))[0])


def psnr_srgb_db(reference_display, test_display) -> float:
    """PSNR (peak 1) of two (H, W, 3) tonemapped display images after the sRGB OETF (:func:`srgb_encode`).

    Raises:
        InvalidArgument: not (H, W, 3), different shapes, or NaN / Inf.
    """
    ref, out = _check_pair(reference_display, test_display)
    return psnr_db(srgb_encode(ref), srgb_encode(out))


def ssim(reference_display, test_display) -> float:
    """SSIM (:func:`qwplugin.metrics.ssim`: ``pytorch_msssim``, data range 1) of two (H, W, 3) display images.

    Raises:
        InvalidArgument: not (H, W, 3), different shapes, NaN / Inf, or smaller than the 11-pixel window.
    """
    ref, out = _check_pair(reference_display, test_display)
    return float(core.ssim(_chw(ref), _chw(out))[0])


def flip_ldr(reference_display, test_display, with_map: bool = False):
    """Mean LDR-FLIP of two display-domain images (sRGB-encoded before FLIP).

    Returns:
        the mean error, or ``(mean, error map (H, W, 3) magma-coloured float in [0, 1])`` with ``with_map``.
    """
    import flip_evaluator

    ref, out = _check_pair(reference_display, test_display)
    error_map, mean, _ = flip_evaluator.evaluate(srgb_encode(ref), srgb_encode(out), "LDR", inputsRGB=True,
                                                 applyMagma=with_map, computeMeanError=True)
    return (float(mean), np.asarray(error_map)) if with_map else float(mean)


def flip_hdr(reference_linear, test_linear, exposure: float = 1.0, with_map: bool = False):
    """Mean HDR-FLIP of two linear HDR images (times ``exposure``, negatives clamped to 0)."""
    import flip_evaluator

    ref, out = _check_pair(reference_linear, test_linear)
    ref = np.clip(ref * np.float32(exposure), 0.0, None)
    out = np.clip(out * np.float32(exposure), 0.0, None)
    error_map, mean, _ = flip_evaluator.evaluate(ref, out, "HDR", inputsRGB=False, applyMagma=with_map,
                                                 computeMeanError=True)
    return (float(mean), np.asarray(error_map)) if with_map else float(mean)


def frame_change(current_display: np.ndarray, previous_display: np.ndarray, motion_px: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``current - W(previous)`` with ``W`` the backward warp by ``motion_px`` (H, W, 2), and the (H, W) bool
    mask of pixels whose motion stays inside the previous frame (:func:`qwplugin.metrics.frame_change`)."""
    change, inside = core.frame_change(_chw(current_display), _chw(previous_display), _chw(motion_px))
    return change[0].permute(1, 2, 0).numpy(), inside[0].numpy()


def temporal_metrics(out_t, out_prev, ref_t, ref_prev, motion_px) -> tuple[float, float]:
    """(temporal error, flicker) of one frame pair, display domain (see the module docstring).

    Args:
        out_t, out_prev, ref_t, ref_prev: (H, W, 3) display images of frames t and t - 1.
        motion_px: (H, W, 2) motion of frame t in render pixels (previous = current + motion).

    Returns NaN for both when no pixel's motion stays inside the previous frame (NaN values propagate).

    Raises:
        InvalidArgument: an image not (H, W, 3) or of another shape than ``ref_t``, or motion not (H, W, 2).
    """
    images = [np.asarray(x, dtype=np.float32) for x in (out_t, out_prev, ref_t, ref_prev)]
    for name, a in zip(("out_t", "out_prev", "ref_t", "ref_prev"), images):
        if a.ndim != 3 or a.shape[2] != 3 or a.shape != images[2].shape:
            raise InvalidArgument(f"{name} must be an (H, W, 3) image like ref_t", field=name,
                                  expected=str(images[2].shape), actual=str(a.shape))
    mv = np.asarray(motion_px, dtype=np.float32)
    if mv.shape != images[2].shape[:2] + (2,):
        raise InvalidArgument("motion_px must be (H, W, 2)", field="motion_px",
                              expected=str(images[2].shape[:2] + (2,)), actual=str(mv.shape))
    temporal, flicker = core.temporal_error_and_flicker(*(_chw(a) for a in images), _chw(mv), inside_only=True)
    return float(temporal[0]), float(flicker[0])
