"""Per-pixel 3x3 kernel application: the filter network's only image operation.

Tap order: tap ``k = 3 * (dy + 1) + (dx + 1)`` for the row offset ``dy`` and column offset ``dx`` in
{-1, 0, 1}, i.e. row-major over the 3x3 window (the order ``F.unfold`` uses). Borders: the image is
extended by replicating its edge pixels (clamp to edge), so weights that sum to 1 never darken a border
(the released QW-Net code zero-pads; replicate avoids a dark seam the network would have to learn away).

Performance: a shift-and-add over 9 slices of one padded copy. Measured on the 2-core CPU dev machine,
N=1, C=3, 960x540, float32, 2 threads, median of 7 (see docs/model.md): shift-and-add 9.9 ms vs
``F.unfold`` + multiply + sum 90.4 ms, so shift-and-add is used. Without autograd (inference) the taps
reuse one product buffer, accumulate in place and go through the image in row strips that stay in cache:
the same float32 operations in the same order, so bit-identical. Measured interleaved, N=1, C=3,
960x544: buffer reuse alone 118 vs 178 ms (1 thread, load ~8); row strips on top 30-34 vs 59 ms
(1 thread, load ~4), so strips are used on one thread only (with 2 threads they gained 10% alone on a
quiet moment but lost badly inside the whole filter tail under load). ``addcmul_`` would be faster still
but fuses multiply and add (one rounding instead of two), changing the FP32 model's output in the last
bits: not used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument
from qwplugin.ops._checks import check_same_spatial, check_tensor

TAPS = 9
"""Number of taps of a 3x3 kernel."""

STRIP_ELEMENTS = 1 << 17
"""Values per row strip of the inference path of the kernel application (N * C * rows * W) on one CPU
thread: small enough that a strip's output, product buffer and 9 weight rows stay in a core's L2 cache,
large enough that one op's work is worth its overhead."""


def _apply3x3(image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    h, w = image.shape[-2:]
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    if torch.is_grad_enabled() and (image.requires_grad or weights.requires_grad):
        out = None
        for k in range(TAPS):
            dy, dx = divmod(k, 3)
            term = weights[:, k : k + 1] * padded[:, :, dy : dy + h, dx : dx + w]
            out = term if out is None else out + term
        return out
    # Inference: the same float32 products and sums in the same order (bit-identical to the branch above),
    # without allocating two tensors per tap (one product buffer reused, the sum accumulated in place), and
    # in row strips of about STRIP_ELEMENTS values so that a strip's output, products and weights stay in
    # cache across the 9 taps instead of streaming the whole image through memory 9 times.
    n, c = image.shape[:2]
    rows = max(1, min(h, STRIP_ELEMENTS // max(1, n * c * w)))
    if image.device.type != "cpu" or torch.get_num_threads() > 1:
        # GPU: strips would only add kernel launches. Several CPU threads: every op is an OpenMP fork/join,
        # and on a loaded machine 13x more ops cost more than the cache saves (measured: the filter tail at
        # 960x540, 2 threads, load ~6, went from ~1.0 s to ~4.0 s), so the whole image is one strip.
        rows = h
    out = torch.empty((n, c, h, w), dtype=torch.result_type(image, weights), device=image.device)
    term = torch.empty((n, c, rows, w), dtype=out.dtype, device=image.device)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        o, t = out[:, :, r0:r1], term[:, :, : r1 - r0]
        torch.mul(weights[:, 0:1, r0:r1], padded[:, :, r0:r1, 0:w], out=o)
        for k in range(1, TAPS):
            dy, dx = divmod(k, 3)
            torch.mul(weights[:, k : k + 1, r0:r1], padded[:, :, r0 + dy : r1 + dy, dx : dx + w], out=t)
            o.add_(t)
    return out


def apply_kernel3x3(image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Filter every pixel of ``image`` with its own 3x3 kernel (shared by the channels).

    ``out[n, c, i, j] = sum_k weights[n, k, i, j] * image_ext[n, c, i + dy_k, j + dx_k]`` where
    ``image_ext`` replicates edge pixels and ``(dy_k, dx_k) = divmod(k, 3) - 1``.

    Args:
        image: (N, C, H, W) float.
        weights: (N, 9, H, W) float, same dtype (e.g. a softmax over dim 1, but any values work).

    Returns:
        (N, C, H, W).

    Raises:
        InvalidArgument: wrong rank, tap count, or mismatched batch/spatial size.

    Examples:
        >>> img = torch.arange(9.0).view(1, 1, 3, 3)
        >>> centre = torch.zeros(1, 9, 3, 3); centre[:, 4] = 1.0  # identity kernel
        >>> torch.equal(apply_kernel3x3(img, centre), img)
        True
    """
    check_tensor(image, "image", 4)
    check_tensor(weights, "weights", 4, channels=TAPS)
    check_same_spatial(image, weights, "image", "weights")
    return _apply3x3(image, weights)


def apply_kernel3x3_pair(image_a: torch.Tensor, image_b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Joint 18-tap filter: 3x3 of ``image_a`` (taps 0-8) plus 3x3 of ``image_b`` (taps 9-17).

    QW-Net's full-resolution stage uses it with ``image_a`` = the aliased frame and ``image_b`` = the
    warped history, and one softmax over the 18 weights.

    Args:
        image_a, image_b: (N, C, H, W) float.
        weights: (N, 18, H, W) float.

    Returns:
        (N, C, H, W).

    Raises:
        InvalidArgument: wrong shapes.
    """
    check_tensor(image_a, "image_a", 4)
    check_tensor(image_b, "image_b", 4, channels=image_a.shape[1])
    check_tensor(weights, "weights", 4, channels=2 * TAPS)
    check_same_spatial(image_a, image_b, "image_a", "image_b")
    check_same_spatial(image_a, weights, "image_a", "weights")
    return _apply3x3(image_a, weights[:, :TAPS]) + _apply3x3(image_b, weights[:, TAPS:])


def apply_kernel3x3_skip(image: torch.Tensor, skip: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """10-tap filter of QW-Net's up stages: 3x3 of ``image`` (taps 0-8) plus ``weights[:, 9] * skip``.

    Args:
        image: (N, C, H, W) float, the upsampled coarser result.
        skip: (N, C, H, W) float, the same-level result of the down pass.
        weights: (N, 10, H, W) float.

    Returns:
        (N, C, H, W).

    Raises:
        InvalidArgument: wrong shapes.
    """
    check_tensor(image, "image", 4)
    check_tensor(skip, "skip", 4, channels=image.shape[1])
    check_tensor(weights, "weights", 4, channels=TAPS + 1)
    check_same_spatial(image, skip, "image", "skip")
    check_same_spatial(image, weights, "image", "weights")
    return _apply3x3(image, weights[:, :TAPS]) + weights[:, TAPS : TAPS + 1] * skip


def apply_kernel3x3_unfold(image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Same result as :func:`apply_kernel3x3` through ``F.unfold``; kept as a second reference and for
    the benchmark in docs/model.md (it is ~9x slower on CPU).

    Raises:
        InvalidArgument: wrong shapes.
    """
    check_tensor(image, "image", 4)
    check_tensor(weights, "weights", 4, channels=TAPS)
    check_same_spatial(image, weights, "image", "weights")
    n, c, h, w = image.shape
    if h < 1 or w < 1:
        raise InvalidArgument("image must not be empty", field="image", expected="H, W >= 1",
                              actual=f"{h}x{w}")
    patches = F.unfold(F.pad(image, (1, 1, 1, 1), mode="replicate"), kernel_size=3).view(n, c, TAPS, h, w)
    return (patches * weights.unsqueeze(1)).sum(dim=2)
