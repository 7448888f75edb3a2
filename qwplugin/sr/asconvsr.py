"""AsConvSR (Guo et al., CVPRW 2023, NTIRE 2023 real-time SR winner): a spatial-only integer-scale upscaler.

Pipeline for scale ``s`` (sources and their status in ``reference/seeds.md`` section 1)::

    x (N, 3, H, W)
      -> pixel-unshuffle 2         (N, 12, H/2, W/2)        all work runs on a quarter of the input pixels
      -> conv1 3x3 12 -> C, ReLU
      -> 3 x AssembledConv2d C -> C, ReLU   kernels assembled per image from E bases
      -> conv2 3x3 C -> 3 (2s)^2
      -> pixel-shuffle 2s          (N, 3, sH, sW)
      + nearest(x, s)              global residual; no local skips

The global residual is nearest upsampling by ``repeat_interleave`` on both spatial axes. The sources'
"repeat upscaling" (repeat the input along channels, then pixel-shuffle) is the same thing only when the
channels are repeated *interleaved* (``R R R R G G G G B B B B``); ``torch.cat((x, x, x, x), 1)`` gives
``R G B R G B ...`` and pixel-shuffle then mixes colours (seeds.md "Pitfall").

Choices where the sources are silent or disagree (seeds.md marks the paper internals [U]): one control
module per assembled conv (as the PyTorch re-implementation's three ``DynamicConv`` layers), ReLU after
conv1 and after each assembled conv, biases kept (also mixed from E bias bases), C = 32 and E = 3 (the
consensus), softmax temperature 30 fixed (not annealed). ``conv2`` starts at zero, so an untrained model is
exactly nearest upsampling; conv1 and the bases start with He init (ReLU gain), so the body's activations keep
their scale and conv2 gets a useful gradient from the first step. Frames whose size is not a multiple of 2
are padded (replicate) and cropped.

Assembled convolution (CondConv / DynamicConv style): per image ``n`` and output channel ``o``,
``W_n[o] = sum_e c[n, e, o] W_e[o]`` with ``c[n, :, o]`` a softmax over the E bases of the control
module's logits / temperature. A batch runs as one grouped convolution (``groups = N``) with the N
assembled kernels stacked, so per-sample kernels cost one conv call, not N.

Temporal smoothing: kernels that follow global image statistics can flicker in video; with
``coefficient_decay = d`` each layer's coefficients become ``d * previous + (1 - d) * current`` (a convex
combination, so they stay on the simplex), reset on a camera cut. :class:`AsConvSRUpscaler` carries that
state from frame to frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from qwplugin.errors import InvalidArgument
from qwplugin.ops._checks import check_tensor

UNSHUFFLE = 2
"""Pixel-unshuffle factor of the body (fixed by the architecture)."""

DEFAULT_TEMPERATURE = 30.0
"""Softmax temperature of the control modules (seeds.md: "temperature 30")."""

DEFAULT_COEFFICIENT_DECAY = 0.8
"""Default EMA factor for frame-to-frame smoothing of the control coefficients: weight of the previous
frame's coefficients. 0.8 is a time constant of ~4.5 frames (150 ms at 30 fps): slow enough to damp
frame-to-frame jitter of the global statistics, fast enough to follow a lighting change within a few
frames. 0 disables smoothing."""


@dataclass(frozen=True)
class AsConvSRConfig:
    """Shape of an :class:`AsConvSR` network.

    Attributes:
        scale: integer upscaling factor (2 is the NTIRE 2023 track; 3 and 4 cost only a wider conv2).
        channels: body width C.
        bases: E, number of kernel bases per assembled conv.
        assembled_layers: number of assembled convs in the body.
        reduction: the control module's hidden width is ``max(1, C // reduction)``.
        temperature: softmax temperature of the control modules.
    """

    scale: int = 2
    channels: int = 32
    bases: int = 3
    assembled_layers: int = 3
    reduction: int = 4
    temperature: float = DEFAULT_TEMPERATURE

    def validate(self) -> None:
        """Raises InvalidArgument on a value outside its range."""
        for name, lo in (("scale", 1), ("channels", 1), ("bases", 1), ("assembled_layers", 0), ("reduction", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise InvalidArgument(f"{name} must be an integer >= {lo}", field=name, expected=f"int >= {lo}",
                                      actual=repr(v))
        if not self.temperature > 0:
            raise InvalidArgument("temperature must be > 0", field="temperature", expected="> 0",
                                  actual=repr(self.temperature))

    def to_dict(self) -> dict:
        return asdict(self)


class ControlModule(nn.Module):
    """Global average pool -> linear C_in -> hidden -> ReLU -> linear -> E * C_out -> softmax over E / T.

    Shape:
        input (N, C_in, H, W) -> coefficients (N, E, C_out), summing to 1 over E.
    """

    def __init__(self, in_channels: int, out_channels: int, bases: int, reduction: int, temperature: float):
        super().__init__()
        hidden = max(1, in_channels // reduction)
        self.fc1 = nn.Linear(in_channels, hidden)
        self.fc2 = nn.Linear(hidden, bases * out_channels)
        self.bases, self.out_channels, self.temperature = bases, out_channels, temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        logits = self.fc2(F.relu(self.fc1(pooled))).view(x.shape[0], self.bases, self.out_channels)
        return torch.softmax(logits / self.temperature, dim=1)


class AssembledConv2d(nn.Module):
    """A 3x3 ('same' zero padding) convolution whose kernel is mixed per image from E bases.

    Args:
        in_channels, out_channels: channel counts.
        bases: E.
        kernel_size: odd kernel size.
        reduction, temperature: of the control module.

    Shape:
        input (N, C_in, H, W) -> (N, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, bases: int = 3, kernel_size: int = 3,
                 reduction: int = 4, temperature: float = DEFAULT_TEMPERATURE):
        super().__init__()
        assert kernel_size % 2 == 1
        self.in_channels, self.out_channels, self.bases, self.kernel_size = in_channels, out_channels, bases, kernel_size
        self.weight = nn.Parameter(torch.empty(bases, out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(bases, out_channels))
        for e in range(bases):  # He init per basis: activations keep their scale through the ReLU body
            nn.init.kaiming_normal_(self.weight.data[e], nonlinearity="relu")
        self.control = ControlModule(in_channels, out_channels, bases, reduction, temperature)

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """(N, E, C_out) mixing coefficients for input ``x`` (N, C_in, H, W)."""
        return self.control(x)

    def assemble(self, coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image kernels and biases from (N, E, C_out) coefficients.

        One batched matmul over output channels: for each o, (N, E) @ (E, C_in*k*k + 1), the extra
        column carrying the bias. Per frame this is ``N * E * C_out * (C_in k^2 + 1)`` MACs.

        Returns:
            weight (N, C_out, C_in, k, k), bias (N, C_out).
        """
        n = coefficients.shape[0]
        e, co, ci, k = self.bases, self.out_channels, self.in_channels, self.kernel_size
        table = torch.cat([self.weight.reshape(e, co, ci * k * k), self.bias.unsqueeze(-1)], dim=2)  # (E, Co, F+1)
        mixed = torch.bmm(coefficients.permute(2, 0, 1), table.permute(1, 0, 2))  # (Co, N, F+1)
        mixed = mixed.permute(1, 0, 2)  # (N, Co, F+1)
        return mixed[..., :-1].reshape(n, co, ci, k, k), mixed[..., -1]

    def forward(self, x: torch.Tensor, coefficients: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the conv with kernels assembled from ``coefficients`` (computed from ``x`` when None)."""
        if coefficients is None:
            coefficients = self.coefficients(x)
        n, ci, h, w = x.shape
        weight, bias = self.assemble(coefficients)
        out = F.conv2d(x.reshape(1, n * ci, h, w), weight.reshape(n * self.out_channels, ci, *weight.shape[3:]),
                       bias.reshape(-1), padding=self.kernel_size // 2, groups=n)
        return out.view(n, self.out_channels, h, w)


def nearest_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor: each pixel becomes a ``scale`` x ``scale`` block
    of its own colour (``repeat_interleave`` on H and W; channels untouched)."""
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)


class AsConvSR(nn.Module):
    """The AsConvSR network (module docstring).

    Args:
        config: network shape (default: x2, C 32, E 3, three assembled convs).

    Shape:
        input (N, 3, H, W) -> (N, 3, scale H, scale W); the colour domain is the caller's (the trainer
        uses the network domain x/(1+x) of :mod:`qwplugin.ops.colour`).

    Raises:
        InvalidArgument: invalid config; from :meth:`forward`, an input that is not (N, 3, H, W) float.

    Examples:
        >>> net = AsConvSR()
        >>> tuple(net(torch.rand(2, 3, 8, 10)).shape)
        (2, 3, 16, 20)
    """

    def __init__(self, config: AsConvSRConfig | None = None):
        super().__init__()
        config = config or AsConvSRConfig()
        config.validate()
        self.config = config
        c, s = config.channels, config.scale
        self.conv1 = nn.Conv2d(3 * UNSHUFFLE ** 2, c, 3, padding=1)
        nn.init.kaiming_normal_(self.conv1.weight, nonlinearity="relu")
        nn.init.zeros_(self.conv1.bias)
        self.body = nn.ModuleList(AssembledConv2d(c, c, config.bases, 3, config.reduction, config.temperature)
                                  for _ in range(config.assembled_layers))
        self.conv2 = nn.Conv2d(c, 3 * (UNSHUFFLE * s) ** 2, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward_with_coefficients(self, x: torch.Tensor, previous: list[torch.Tensor] | None = None,
                                  decay: float = 0.0) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Upscale ``x`` and return the (smoothed) coefficients each assembled conv used.

        Args:
            x: (N, 3, H, W) float.
            previous: coefficients returned for the previous frame (one (N, E, C) tensor per assembled
                conv), or None (first frame / after a cut).
            decay: EMA weight of ``previous`` in [0, 1).

        Returns:
            (output (N, 3, sH, sW), coefficients used per layer).

        Raises:
            InvalidArgument: bad ``x``, ``decay`` outside [0, 1) or ``previous`` of the wrong shape.
        """
        check_tensor(x, "x", 4, 3)
        if not 0.0 <= decay < 1.0:
            raise InvalidArgument("coefficient decay must be in [0, 1)", field="decay", expected="0 <= decay < 1",
                                  actual=repr(decay))
        if previous is not None:
            want = [(x.shape[0], layer.bases, layer.out_channels) for layer in self.body]
            got = [tuple(p.shape) for p in previous]
            if got != want:
                raise InvalidArgument("previous coefficients do not match this network and batch", field="previous",
                                      expected=str(want), actual=str(got))
        s = self.config.scale
        h, w = x.shape[2:]
        ph, pw = (-h) % UNSHUFFLE, (-w) % UNSHUFFLE
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        feat = F.relu(self.conv1(F.pixel_unshuffle(xp, UNSHUFFLE)))
        used = []
        for i, layer in enumerate(self.body):
            coeff = layer.coefficients(feat)
            if previous is not None and decay > 0.0:
                coeff = decay * previous[i].to(coeff) + (1.0 - decay) * coeff
            used.append(coeff)
            feat = F.relu(layer(feat, coeff))
        out = F.pixel_shuffle(self.conv2(feat), UNSHUFFLE * s) + nearest_upsample(xp, s)
        return out[:, :, :s * h, :s * w], used

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale a batch of independent images (no smoothing); see :meth:`forward_with_coefficients`."""
        return self.forward_with_coefficients(x)[0]


class AsConvSRUpscaler:
    """Frame-by-frame AsConvSR with EMA-smoothed control coefficients (state across frames).

    Args:
        net: the network (used in eval mode, without gradients).
        decay: EMA weight of the previous frame's coefficients, in [0, 1); 0 = no smoothing.

    Raises:
        InvalidArgument: decay outside [0, 1).
    """

    def __init__(self, net: AsConvSR, decay: float = DEFAULT_COEFFICIENT_DECAY):
        if not 0.0 <= decay < 1.0:
            raise InvalidArgument("coefficient decay must be in [0, 1)", field="decay", expected="0 <= decay < 1",
                                  actual=repr(decay))
        self.net, self.decay = net, decay
        self._previous: list[torch.Tensor] | None = None

    def reset(self) -> None:
        """Forget the smoothed coefficients (camera cut)."""
        self._previous = None

    @property
    def coefficients(self) -> list[torch.Tensor] | None:
        """The coefficients used for the last frame (None before the first or after a reset)."""
        return self._previous

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, reset: bool = False) -> torch.Tensor:
        """Upscale one frame (batch = independent streams); ``reset`` drops the history first.

        Raises:
            InvalidArgument: as :meth:`AsConvSR.forward_with_coefficients`; a batch size that changed
                without a reset.
        """
        if reset:
            self.reset()
        if self._previous and self._previous[0].shape[0] != x.shape[0]:
            raise InvalidArgument("batch size changed without a reset", field="x",
                                  expected=f"batch {self._previous[0].shape[0]}", actual=f"batch {x.shape[0]}")
        out, self._previous = self.net.forward_with_coefficients(x, self._previous, self.decay)
        return out
