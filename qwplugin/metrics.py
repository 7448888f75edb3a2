"""The project's image metrics, written once: PSNR, SSIM, temporal error and flicker on torch tensors.

Training validation (:mod:`qwplugin.train.evaluate`, batched tensors, any device) and the evaluation
(:mod:`qwplugin.eval.metrics`, numpy (H, W, 3) images, which adds the display domains and FLIP) both call
these. Images are (..., C, H, W) float tensors in a display domain with peak 1 (the callers pass the
tonemapped ``x / (1 + x)`` values of :func:`qwplugin.ops.colour.to_network`, or their sRGB encoding).
Every mean is accumulated in float64, so a figure does not depend on the input dtype's summation error.

- PSNR: ``-10 log10(max(MSE, PSNR_MSE_FLOOR))`` per image, MSE over pixels and channels, peak 1.
- SSIM: ``pytorch_msssim.ssim`` (11-pixel Gaussian window, sigma 1.5, data range 1), per image.
- Temporal error (the QW-Net paper's): mean ``|(o_t - W o_{t-1}) - (r_t - W r_{t-1})|`` where ``W`` is the
  backward warp by frame ``t``'s motion (:func:`qwplugin.ops.warp.warp_backward`).
- Flicker: mean ``max(0, |o_t - W o_{t-1}| - |r_t - W r_{t-1}|)``, the change of the output beyond the
  reference's own change.

Both temporal figures leave out the pixels whose motion leaves the previous frame (``inside_only``, the
evaluation's rule); training validation keeps them (``inside_only=False``, the rule of the temporal loss
term, whose warp clamps to the edge there).
"""

from __future__ import annotations

import torch

from qwplugin.errors import InvalidArgument
from qwplugin.ops._checks import check_same_spatial, check_tensor
from qwplugin.ops.warp import warp_backward

PSNR_MSE_FLOOR = 1e-10
"""MSE floor of the PSNR (caps a perfect image at 100 dB instead of infinity)."""

SSIM_WINDOW = 11
"""Side of SSIM's Gaussian window in pixels (``pytorch_msssim``'s default): the smallest image SSIM takes."""


def _check_pair(reference: torch.Tensor, test: torch.Tensor, min_dims: int = 3) -> None:
    for name, x in (("reference", reference), ("test", test)):
        check_tensor(x, name, max(x.dim(), min_dims) if isinstance(x, torch.Tensor) else min_dims)
    if reference.shape != test.shape:
        raise InvalidArgument("test and reference differ in shape", field="test",
                              expected=str(tuple(reference.shape)), actual=str(tuple(test.shape)))


def psnr_db(reference: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    """PSNR in dB (peak 1) of each image.

    Args:
        reference, test: (..., C, H, W) float tensors of equal shape, values with peak 1.

    Returns:
        (...) float64 tensor; 100 dB where the images are equal (MSE floored at :data:`PSNR_MSE_FLOOR`).

    Raises:
        InvalidArgument: not float tensors of rank >= 3, or different shapes.

    Examples:
        >>> ref = torch.full((2, 3, 4, 4), 0.5)
        >>> psnr_db(ref, ref + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)).round(decimals=3)
        tensor([20., 40.], dtype=torch.float64)
        >>> float(psnr_db(ref[0], ref[0]))
        100.0
    """
    _check_pair(reference, test)
    diff = reference.to(torch.float64) - test.to(torch.float64)
    mse = torch.mean(diff * diff, dim=(-3, -2, -1))
    return -10.0 * torch.log10(torch.clamp(mse, min=PSNR_MSE_FLOOR))


def ssim(reference: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    """SSIM of each image (``pytorch_msssim``, data range 1, computed in float64).

    Args:
        reference, test: (N, C, H, W) float tensors of equal shape, H and W at least :data:`SSIM_WINDOW`.

    Returns:
        (N,) float64 tensor, the mean over channels and pixels of SSIM's map; 1 for equal images.

    Raises:
        InvalidArgument: not (N, C, H, W), different shapes, or smaller than the window.
        ImportError: without ``pytorch-msssim`` (the ``eval`` extra).

    Examples:
        >>> x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> ssim(x, x).tolist()
        [1.0]
    """
    from pytorch_msssim import ssim as _ssim

    _check_pair(reference, test)
    if reference.dim() != 4:
        raise InvalidArgument("SSIM takes (N, C, H, W) images", field="reference", expected="4 dimensions",
                              actual=f"shape {tuple(reference.shape)}")
    h, w = reference.shape[-2:]
    if min(h, w) < SSIM_WINDOW:
        raise InvalidArgument(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels",
                              field="reference", expected=f">= {SSIM_WINDOW}x{SSIM_WINDOW}", actual=f"{w}x{h}")
    return _ssim(reference.to(torch.float64), test.to(torch.float64), data_range=1.0, size_average=False)


def frame_change(current: torch.Tensor, previous: torch.Tensor, motion_px: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``current - W(previous)`` and where the warp stays inside the previous frame.

    Args:
        current, previous: (N, C, H, W) float images.
        motion_px: (N, 2, H, W) motion of ``current`` to ``previous`` in render pixels (previous = current
            + motion, the input contract), converted to the images' dtype.

    Returns:
        ``(change, inside)``: (N, C, H, W) in the images' dtype and an (N, H, W) bool mask.

    Raises:
        InvalidArgument: wrong ranks or channel count, or mismatched sizes.

    Examples:
        >>> prev = torch.arange(6.0).view(1, 1, 2, 3)
        >>> mv = torch.zeros(1, 2, 2, 3); mv[:, 0] = 1.0  # each pixel was one pixel to the right
        >>> change, inside = frame_change(prev, prev, mv)
        >>> change[0, 0]
        tensor([[-1., -1.,  0.],
                [-1., -1.,  0.]])
        >>> inside[0]
        tensor([[ True,  True, False],
                [ True,  True, False]])
    """
    check_tensor(current, "current", 4)
    check_tensor(previous, "previous", 4)
    check_same_spatial(current, previous, "current", "previous")
    warped, valid = warp_backward(previous, motion_px.to(previous.dtype))
    return current - warped, valid[:, 0] > 0


def temporal_error_and_flicker(out_t: torch.Tensor, out_prev: torch.Tensor, ref_t: torch.Tensor,
                               ref_prev: torch.Tensor, motion_px: torch.Tensor, inside_only: bool = True
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal error and flicker of frame pairs (see the module docstring).

    Args:
        out_t, out_prev: (N, C, H, W) output at frame t and t - 1, display domain.
        ref_t, ref_prev: (N, C, H, W) reference at frame t and t - 1, same domain.
        motion_px: (N, 2, H, W) motion of frame t (render pixels, previous = current + motion).
        inside_only: leave out pixels whose motion leaves the previous frame; else average every pixel.

    Returns:
        ``(temporal, flicker)``: (N,) float64 tensors; NaN for a pair with no pixel inside the previous
        frame (only with ``inside_only``).

    Raises:
        InvalidArgument: as :func:`frame_change`, or the four images differ in shape.

    Examples:
        >>> ref = torch.zeros(1, 3, 4, 4)
        >>> mv = torch.zeros(1, 2, 4, 4)
        >>> temporal_error_and_flicker(ref + 0.25, ref, ref, ref, mv)  # a pop of 0.25 the reference lacks
        (tensor([0.2500], dtype=torch.float64), tensor([0.2500], dtype=torch.float64))
    """
    for name, x in (("out_prev", out_prev), ("ref_t", ref_t), ("ref_prev", ref_prev)):
        _check_pair(out_t, x)
    d_out, inside = frame_change(out_t, out_prev, motion_px)
    d_ref, _ = frame_change(ref_t, ref_prev, motion_px)
    d_out, d_ref = d_out.to(torch.float64), d_ref.to(torch.float64)
    weight = (inside if inside_only else torch.ones_like(inside)).to(torch.float64)[:, None]  # (N, 1, H, W)
    count = weight.sum(dim=(-3, -2, -1)) * d_out.shape[1]
    count = torch.where(count > 0, count, torch.full_like(count, float("nan")))
    temporal = (torch.abs(d_out - d_ref) * weight).sum(dim=(-3, -2, -1)) / count
    flicker = (torch.clamp_min(torch.abs(d_out) - torch.abs(d_ref), 0.0) * weight).sum(dim=(-3, -2, -1)) / count
    return temporal, flicker


def sequence_temporal_error(out: torch.Tensor, ref: torch.Tensor, motion_px: torch.Tensor,
                            resets: torch.Tensor | None = None, inside_only: bool = False) -> float:
    """Mean temporal error over the frame pairs of sequences, camera cuts left out.

    Args:
        out, ref: (N, T, C, H, W) output and reference sequences, display domain.
        motion_px: (N, T, 2, H, W) motion of each frame to its previous one.
        resets: optional (N, T) bool; a pair ending at a reset frame is left out (frame 0 never has one).
        inside_only: as :func:`temporal_error_and_flicker`; the default keeps every pixel (training's rule).

    Returns:
        The mean over the kept pairs of each pair's temporal error; 0.0 when no pair is kept (T == 1 or
        every frame a reset), NaN pairs (no pixel inside) skipped.

    Raises:
        InvalidArgument: not 5-D, or mismatched shapes.

    Examples:
        >>> ref = torch.zeros(1, 3, 3, 4, 4)
        >>> out = ref.clone(); out[:, 1:] = 0.5  # frame 1 steps up, frame 2 stays: pairs of 0.5 and 0
        >>> sequence_temporal_error(out, ref, torch.zeros(1, 3, 2, 4, 4))
        0.25
        >>> sequence_temporal_error(out, ref, torch.zeros(1, 3, 2, 4, 4), torch.tensor([[True, True, False]]))
        0.0
    """
    for name, x in (("out", out), ("ref", ref)):
        check_tensor(x, name, 5)
    if out.shape != ref.shape:
        raise InvalidArgument("out and ref differ in shape", field="ref", expected=str(tuple(out.shape)),
                              actual=str(tuple(ref.shape)))
    n, t, _, h, w = out.shape
    if tuple(motion_px.shape) != (n, t, 2, h, w):
        raise InvalidArgument("motion_px must be (N, T, 2, H, W)", field="motion_px",
                              expected=str((n, t, 2, h, w)), actual=str(tuple(motion_px.shape)))
    if resets is not None and tuple(resets.shape) != (n, t):
        raise InvalidArgument("resets must be (N, T)", field="resets", expected=str((n, t)),
                              actual=str(tuple(resets.shape)))
    if t < 2:
        return 0.0
    pairs = [p.reshape(n * (t - 1), *p.shape[2:]) for p in (out[:, 1:], out[:, :-1], ref[:, 1:], ref[:, :-1],
                                                           motion_px[:, 1:])]
    temporal, _ = temporal_error_and_flicker(*pairs, inside_only=inside_only)
    keep = torch.isfinite(temporal)
    if resets is not None:
        keep &= ~resets[:, 1:].reshape(-1).to(torch.bool).to(keep.device)
    return float(temporal[keep].mean()) if bool(keep.any()) else 0.0
