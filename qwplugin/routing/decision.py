"""PCSR's inference knobs (Jeong et al., ECCV 2024; seeds.md section 2): the cost-weighted decision, the
automatic per-frame threshold (2-cluster k-means) and the 3x3 refinement of easy pixels next to hard ones.

Classes are indexed ``LIGHT = 0``, ``HEAVY = 1``. With two classes every decision is a threshold on
``p_heavy``: ``argmax_j p_j / cost_j^k`` picks heavy exactly when
``p_heavy > tau(k) = 1 / (1 + (c_light / c_heavy)^k) = sigmoid(k * log(c_heavy / c_light))``, so k shifts the
decision boundary in logit space by ``k * log(c_heavy / c_light)``: k = 0 is plain argmax, k > 0 fewer
heavy pixels, k -> -inf all heavy (PCSR validates with k = -25). Hysteresis and the budget controller
work on that threshold.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from qwplugin.errors import InvalidArgument

LIGHT = 0
HEAVY = 1
PROB_EPS = 1e-6
"""Probabilities are clamped to [PROB_EPS, 1 - PROB_EPS] before logs and logits."""
KMEANS_ITERATIONS = 20
"""Iterations of the 1-D k-means of the automatic threshold (PCSR: 20)."""


def normalised_costs(costs) -> torch.Tensor:
    """Costs per class (any positive unit: MACs, ms) normalised to sum 1, as PCSR's ``cost_list``.

    Raises:
        InvalidArgument: fewer than 2 classes or a non-positive cost.
    """
    c = torch.as_tensor(costs, dtype=torch.float64).flatten()
    if c.numel() < 2 or not bool(torch.all(c > 0)):
        raise InvalidArgument("costs must be >= 2 positive numbers", field="costs", expected="(M >= 2,) > 0",
                              actual=str(c.tolist()))
    return c / c.sum()


def cost_weighted_decision(probs: torch.Tensor, costs, k: float) -> torch.Tensor:
    """PCSR's decision ``argmax_j p_j / cost_j^k``, evaluated as ``argmax_j log p_j - k log cost_j``.

    Args:
        probs: (N, M, h, w) class probabilities (per pixel or per tile).
        costs: (M,) cost of each class's path.
        k: the cost exponent (0: plain argmax; larger: cheaper classes win more often).

    Returns:
        (N, h, w) int64 class index.

    Raises:
        InvalidArgument: probs not 4-D, or M different from the number of costs.
    """
    c = normalised_costs(costs)
    if probs.dim() != 4 or probs.shape[1] != c.numel():
        raise InvalidArgument("probs must be (N, M, h, w) with one class per cost", field="probs",
                              expected=f"(N, {c.numel()}, h, w)", actual=str(tuple(probs.shape)))
    score = probs.clamp(PROB_EPS, 1.0 - PROB_EPS).log() - k * c.log().to(probs).view(1, -1, 1, 1)
    return score.argmax(dim=1)


def _log_cost_ratio(costs) -> float:
    c = normalised_costs(costs)
    if c.numel() != 2:
        raise InvalidArgument("a heavy threshold needs exactly two classes", field="costs", expected="(2,)",
                              actual=str(tuple(c.shape)))
    ratio = math.log(float(c[HEAVY]) / float(c[LIGHT]))
    if ratio == 0.0:
        raise InvalidArgument("heavy and light costs are equal: k has no effect", field="costs",
                              expected="cost_heavy != cost_light", actual=str(c.tolist()))
    return ratio


def heavy_threshold(k: float, costs) -> float:
    """``tau(k)``: with two classes, ``cost_weighted_decision == HEAVY`` iff ``p_heavy > tau(k)``.

    Raises:
        InvalidArgument: not two classes, or equal costs.
    """
    z = k * _log_cost_ratio(costs)
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def k_for_threshold(tau: float, costs) -> float:
    """The k whose :func:`heavy_threshold` is ``tau`` (clamped into the open interval (0, 1))."""
    tau = min(max(tau, PROB_EPS), 1.0 - PROB_EPS)
    return math.log(tau / (1.0 - tau)) / _log_cost_ratio(costs)


def k_for_fraction(p_heavy: torch.Tensor, fraction: float, costs) -> float:
    """The k at which this frame routes ``floor(fraction * n)`` of its n pixels/tiles heavy (the most
    likely-hard ones; fewer when values tie at the boundary).

    The threshold is placed midway between the m-th and (m+1)-th largest ``p_heavy`` (m = the heavy count),
    so float rounding in the decision does not move the boundary element.

    Args:
        p_heavy: any shape, heavy probabilities of one frame.
        fraction: wanted heavy fraction in [0, 1].
        costs: (2,) costs (light, heavy).

    Raises:
        InvalidArgument: fraction outside [0, 1]; as :func:`heavy_threshold`.
    """
    if not 0.0 <= fraction <= 1.0:
        raise InvalidArgument("fraction must be in [0, 1]", field="fraction", expected="[0, 1]", actual=repr(fraction))
    p = p_heavy.detach().flatten().double().clamp(PROB_EPS, 1.0 - PROB_EPS)
    n = p.numel()
    m = int(math.floor(fraction * n + 1e-9))
    s = torch.sort(p, descending=True).values
    if m == 0:
        tau = (float(s[0]) + 1.0) / 2.0
    elif m == n:
        tau = float(s[-1]) / 2.0
    else:
        tau = (float(s[m - 1]) + float(s[m])) / 2.0
    return k_for_threshold(tau, costs)


def top_count_mask(score: torch.Tensor, count: int) -> torch.Tensor:
    """Bool mask of ``score``'s shape with exactly ``count`` True: its ``count`` largest elements (over the
    whole tensor; ``count`` in [0, numel], checked by the caller)."""
    mask = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
    if count > 0:
        mask[score.flatten().topk(count).indices] = True
    return mask.view(score.shape)


def kmeans_threshold(p_heavy: torch.Tensor, iterations: int = KMEANS_ITERATIONS) -> torch.Tensor:
    """PCSR's automatic per-image threshold (ADM): min-max normalise ``p_heavy``, 1-D k-means with two
    clusters (initialised at 0 and 1), hard = the cluster of the larger centroid.

    Returns the threshold in ``p_heavy`` units (midway between the two centroids), so hard is
    ``p_heavy > tau``; an image with constant ``p_heavy`` gets ``tau = max`` (all easy).

    Args:
        p_heavy: (N, h, w) heavy probabilities.

    Returns:
        (N,) thresholds.

    Raises:
        InvalidArgument: p_heavy not 3-D.
    """
    if p_heavy.dim() != 3:
        raise InvalidArgument("p_heavy must be (N, h, w)", field="p_heavy", expected="3 dimensions",
                              actual=str(tuple(p_heavy.shape)))
    p = p_heavy.detach().flatten(1).double()
    lo, hi = p.min(dim=1).values, p.max(dim=1).values
    span = hi - lo
    q = (p - lo[:, None]) / span.clamp_min(1e-12)[:, None]
    centres = torch.stack([torch.zeros_like(lo), torch.ones_like(lo)], dim=1)  # (N, 2)
    for _ in range(iterations):
        upper = (q - centres[:, :1]).abs() > (q - centres[:, 1:]).abs()  # nearer the upper centre
        cnt_u = upper.sum(1)
        cnt_l = q.shape[1] - cnt_u
        mean_u = torch.where(cnt_u > 0, (q * upper).sum(1) / cnt_u.clamp_min(1), centres[:, 1])
        mean_l = torch.where(cnt_l > 0, (q * ~upper).sum(1) / cnt_l.clamp_min(1), centres[:, 0])
        centres = torch.stack([mean_l, mean_u], dim=1)
    tau = lo + span * centres.mean(dim=1)
    return torch.where(span > 0, tau, hi).to(p_heavy.dtype)


def expand_mask(mask: torch.Tensor, factor: int) -> torch.Tensor:
    """A per-tile (N, th, tw) mask as a per-pixel (N, th*factor, tw*factor) mask (each tile a block)."""
    return mask.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)


def refine_boundary(output: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
    """PCSR's pixel-wise refinement: an easy pixel with a hard pixel in its 3x3 neighbourhood takes the 3x3
    mean of ``output``; pixels on the image border are left as they are (as PCSR).

    Args:
        output: (N, C, H, W) routed output.
        hard: (N, H, W) bool, True where the heavy path produced the pixel (per-tile masks: use
            :func:`expand_mask` first and crop to H, W).

    Returns:
        (N, C, H, W).

    Raises:
        InvalidArgument: shapes that do not match.
    """
    if output.dim() != 4 or tuple(hard.shape) != (output.shape[0], *output.shape[2:]):
        raise InvalidArgument("hard must be (N, H, W) of output (N, C, H, W)", field="hard",
                              expected=str((output.shape[0], *output.shape[2:])), actual=str(tuple(hard.shape)))
    h = hard.to(output.dtype).unsqueeze(1)
    near_hard = F.max_pool2d(h, 3, stride=1, padding=1) > 0
    interior = torch.zeros_like(near_hard)
    interior[:, :, 1:-1, 1:-1] = True
    target = near_hard & ~hard.unsqueeze(1) & interior
    mean = F.avg_pool2d(output, 3, stride=1, padding=1, count_include_pad=False)
    return torch.where(target, mean, output)
