"""MAC counting at the dispatch level, and the analytical count of AsConvSR that it must agree with.

Module-hook counters (ptflops, the NTIRE 2023 ``model_summary.py``, PCSR's ``flops.py``) only see
``nn.Conv2d`` / ``nn.Linear`` modules; the assembled convolutions are ``F.conv2d`` calls with per-image
kernels and are invisible to them (seeds.md section 3: NTIRE's "9.062 G" almost certainly leaves them
out). :class:`DispatchMacCounter` is a ``TorchDispatchMode``: it sees every aten op the model executes,
whoever calls it.

Counting rules (1 MAC = one multiply-add; FLOPs = 2 x MAC; the same rules as
:mod:`qwplugin.analysis.macs`):

- ``aten.convolution``: ``numel(output) * (C_in / groups) * k_h * k_w`` (transposed:
  ``numel(input) * (C_out / groups) * k_h * k_w``); a grouped conv with per-sample kernels counts each
  sample's conv once. Bias excluded.
- ``aten.mm`` / ``addmm``: ``m * k * n``; ``aten.bmm`` / ``baddbmm``: ``b * m * k * n``.
- ``aten.mean`` (global average pooling): one MAC per input element.
- Everything else (ReLU, softmax, add, pixel-(un)shuffle, repeat, pad) is not a MAC; the counter lists
  those ops with their output element counts in ``other_elements`` (memory-bound work, not MACs).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from qwplugin.errors import InvalidArgument
from qwplugin.sr.asconvsr import UNSHUFFLE, AsConvSRConfig

_aten = torch.ops.aten

_VIEW_OPS = frozenset({"view", "_unsafe_view", "alias", "permute", "t", "transpose", "unsqueeze", "squeeze",
                       "expand", "slice", "select", "detach", "as_strided", "reshape"})
"""Ops that only make views (no memory traffic); not listed in ``other_elements``."""


class DispatchMacCounter(TorchDispatchMode):
    """Count MACs of every aten op run inside ``with DispatchMacCounter() as c:``.

    Attributes:
        by_category: MACs per category ("convolution", "matmul", "mean").
        by_op: MACs per aten op name.
        other_elements: output elements of the non-MAC ops, per op name (views excluded).

    Examples:
        >>> with DispatchMacCounter() as c:
        ...     _ = torch.nn.functional.conv2d(torch.ones(1, 2, 4, 4), torch.ones(3, 2, 3, 3), padding=1)
        >>> c.total
        864
    """

    def __init__(self):
        super().__init__()
        self.by_category: OrderedDict[str, int] = OrderedDict()
        self.by_op: OrderedDict[str, int] = OrderedDict()
        self.other_elements: OrderedDict[str, int] = OrderedDict()

    def _add(self, category: str, op_name: str, macs: int) -> None:
        self.by_category[category] = self.by_category.get(category, 0) + macs
        self.by_op[op_name] = self.by_op.get(op_name, 0) + macs

    @property
    def total(self) -> int:
        """All MACs counted."""
        return sum(self.by_category.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        name = str(packet.__name__)
        if packet is _aten.convolution:
            x, w = args[0], args[1]
            transposed, groups = bool(args[6]), int(args[8])
            if transposed:
                macs = x.numel() * w.shape[1] * math.prod(w.shape[2:])
            else:
                macs = out.numel() * w.shape[1] * math.prod(w.shape[2:])
            assert groups >= 1
            self._add("convolution", name, macs)
        elif packet in (_aten.mm, _aten.addmm):
            a, b = (args[0], args[1]) if packet is _aten.mm else (args[1], args[2])
            self._add("matmul", name, a.shape[0] * a.shape[1] * b.shape[1])
        elif packet in (_aten.bmm, _aten.baddbmm):
            a, b = (args[0], args[1]) if packet is _aten.bmm else (args[1], args[2])
            self._add("matmul", name, a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])
        elif packet is _aten.mean:
            self._add("mean", name, args[0].numel())
        elif isinstance(out, torch.Tensor) and name not in _VIEW_OPS:
            self.other_elements[name] = self.other_elements.get(name, 0) + out.numel()
        return out


def count_macs(fn, *args, **kwargs) -> tuple[object, DispatchMacCounter]:
    """Run ``fn(*args, **kwargs)`` under a :class:`DispatchMacCounter`; returns (result, counter)."""
    with DispatchMacCounter() as counter:
        result = fn(*args, **kwargs)
    return result, counter


@dataclass(frozen=True)
class SrMacRow:
    """One layer of the analytical count: ``macs`` for the whole batch; ``weight_side`` rows are per-frame
    work independent of the pixel count's scaling (kernel assembly, control module on pooled features)."""

    layer: str
    category: str
    macs: int
    weight_side: bool


def asconvsr_macs(config: AsConvSRConfig, height: int, width: int, batch: int = 1) -> tuple[SrMacRow, ...]:
    """Analytical per-layer MACs of :class:`~qwplugin.sr.asconvsr.AsConvSR` for (batch, 3, height, width)
    inputs, with the rules of this module.

    Raises:
        InvalidArgument: non-positive size or batch.
    """
    if height < 1 or width < 1 or batch < 1:
        raise InvalidArgument("input size and batch must be positive", field="size", expected=">= 1",
                              actual=f"batch {batch}, {height}x{width}")
    h = (height + UNSHUFFLE - 1) // UNSHUFFLE
    w = (width + UNSHUFFLE - 1) // UNSHUFFLE
    npx = batch * h * w
    c, e, s = config.channels, config.bases, config.scale
    hidden = max(1, c // config.reduction)
    rows = [SrMacRow("conv1", "convolution", npx * 9 * 3 * UNSHUFFLE ** 2 * c, False)]
    for i in range(config.assembled_layers):
        rows += [SrMacRow(f"asm{i}.pool", "mean", npx * c, False),
                 SrMacRow(f"asm{i}.control", "matmul", batch * (c * hidden + hidden * e * c), True),
                 SrMacRow(f"asm{i}.assemble", "matmul", batch * e * c * (c * 9 + 1), True),
                 SrMacRow(f"asm{i}.conv", "convolution", npx * 9 * c * c, False)]
    rows.append(SrMacRow("conv2", "convolution", npx * 9 * c * 3 * (UNSHUFFLE * s) ** 2, False))
    return tuple(rows)


def by_category(rows: tuple[SrMacRow, ...]) -> dict[str, int]:
    """Sum of analytical rows per category (the keys of :attr:`DispatchMacCounter.by_category`)."""
    out: dict[str, int] = {}
    for r in rows:
        out[r.category] = out.get(r.category, 0) + r.macs
    return out
