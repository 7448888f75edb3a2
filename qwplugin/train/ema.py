"""Exponential moving average of a model's weights (validation and export use it when it is on).

After every optimizer step ``ema = d * ema + (1 - d) * w`` for every floating-point entry of the model's
``state_dict`` (parameters and buffers, the quantizers' clipping maxima included), with the warm-up
``d = min(decay, (1 + n) / (10 + n))`` at the n-th update (n = 0, 1, ...), so the average is not held
at the initial weights for the first ~1 / (1 - decay) steps. Deterministic: plain elementwise float32
arithmetic in a fixed order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from qwplugin.errors import InvalidArgument


class WeightEMA:
    """The moving average of ``model``'s floating-point state (see the module docstring).

    Args:
        model: the model being trained (its current weights start the average).
        decay: in (0, 1), e.g. 0.999 (an average over roughly the last 1000 steps).

    Raises:
        InvalidArgument: ``decay`` outside (0, 1).
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise InvalidArgument("EMA decay must lie in (0, 1)", field="ema_decay", expected="(0, 1)",
                                  actual=repr(decay))
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    def current_decay(self) -> float:
        """The decay the next :meth:`update` applies."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average (call after each optimizer step)."""
        d = self.current_decay()
        state = model.state_dict()
        for k, avg in self.shadow.items():
            avg.mul_(d).add_(state[k].detach(), alpha=1.0 - d)
        self.updates += 1

    def state_dict(self) -> dict:
        """``{"shadow": {name: tensor}, "updates": n, "decay": d}`` (for checkpoints)."""
        return {"shadow": {k: v.clone() for k, v in self.shadow.items()}, "updates": self.updates,
                "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output.

        Raises:
            InvalidArgument: the saved average covers other tensors than this model's.
        """
        if set(state["shadow"]) != set(self.shadow):
            raise InvalidArgument("EMA state does not match the model", field="ema",
                                  expected=f"{len(self.shadow)} tensors of this model",
                                  actual=f"{len(state['shadow'])} tensors")
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)
        self.updates = int(state["updates"])

    def model_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """A full ``state_dict`` for ``model`` with the averaged tensors (non-float entries from ``model``)."""
        return {k: (self.shadow[k].clone() if k in self.shadow else v.detach().clone())
                for k, v in model.state_dict().items()}

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into ``model`` (restored bit for bit on exit)."""
        state = model.state_dict()
        backup = {k: state[k].detach().clone() for k in self.shadow}
        with torch.no_grad():
            for k, avg in self.shadow.items():
                state[k].copy_(avg)
        try:
            yield model
        finally:
            with torch.no_grad():
                for k, saved in backup.items():
                    state[k].copy_(saved)
