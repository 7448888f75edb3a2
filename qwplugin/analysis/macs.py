"""MAC count of a model configuration, per layer, in the manner of the project's sources (seeds.md).

Counting rules: 1 MAC = one multiply-add (FLOPs = 2 x MAC). Conv: ``k * k * C_in * C_out * H_out * W_out``
(bias and ReLU excluded). 3x3 kernel application: ``taps * 3`` per output pixel (18 / 9 / 10 taps). Warp and
bilinear upsampling: 4 taps x 3 channels per output pixel. 2x2 average pooling: 4 x 3 per output pixel.
Grayscale: 3; Sobel: 2 x 9; gradient magnitude: 2 (per image). Max-pooling and nearest upsampling are
comparisons / copies: listed with 0 MAC. Softmax (exponentials) is not a MAC and is not listed. The
counts use the padded resolution the network actually runs at (multiples of ``2 ** (levels - 1)``).

Precision labels: ``w4a4`` 4-bit weights x 4-bit activations; ``w8a8`` the first conv (8-bit weights,
8-bit input); ``w8a4`` the filter network's 1x1 convs (8-bit weights on 4-bit features); ``fp32``.

The released black-box U-Net (``kind="unet"``, ``unet_structure="released"``) replaces max-pool by 2x2
average pooling (4 MAC per channel per output pixel, fp32 then requantized) and nearest by bilinear x2
upsampling (4 taps per channel per output pixel, fp32), and its output conv is an FP32 1x1 conv over the
raw input and the level-0 features (``C_0 + in_channels -> 3``); the v1 baseline's output conv is ``w8a4``
on the features alone.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from qwplugin.errors import InvalidArgument
from qwplugin.model.config import INPUT_UNIT_CHANNELS, ModelConfig
from qwplugin.ops.padding import padded_size

FOUR_BIT = "w4a4"


@dataclass(frozen=True)
class MacRow:
    """One layer/op: ``macs`` per frame at output resolution ``height`` x ``width``."""

    layer: str
    op: str
    stage: str
    height: int
    width: int
    cin: int
    cout: int
    k: int
    macs: int
    precision: str


@dataclass(frozen=True)
class MacReport:
    """All rows for one configuration and frame size (``padded_*`` is what the network runs at)."""

    config: ModelConfig
    height: int
    width: int
    padded_height: int
    padded_width: int
    rows: tuple[MacRow, ...]

    @property
    def total(self) -> int:
        """MACs per frame."""
        return sum(r.macs for r in self.rows)

    @property
    def per_padded_pixel(self) -> float:
        """MACs per pixel of the padded frame (independent of the size for multiples of the padding)."""
        return self.total / (self.padded_height * self.padded_width)

    @property
    def per_output_pixel(self) -> float:
        """MACs per pixel of the requested (display) frame."""
        return self.total / (self.height * self.width)

    def by(self, key: str) -> OrderedDict[str, int]:
        """MACs summed by a row attribute (``"precision"`` or ``"stage"``), in first-seen order."""
        out: OrderedDict[str, int] = OrderedDict()
        for r in self.rows:
            out[getattr(r, key)] = out.get(getattr(r, key), 0) + r.macs
        return out

    @property
    def four_bit_share(self) -> float:
        """Fraction of MACs done with 4-bit weights and activations."""
        return self.by("precision").get(FOUR_BIT, 0) / self.total


def mac_report(config: ModelConfig, height: int, width: int, include_warp: bool = True) -> MacReport:
    """Per-layer MAC counts of ``config`` for ``height`` x ``width`` frames.

    Args:
        config: the model configuration.
        height, width: frame size in pixels (padded internally like the model does).
        include_warp: count the recurrent step's history warp (QW-Net and the baseline both use it).

    Raises:
        InvalidArgument: non-positive size.
    """
    if height < 1 or width < 1:
        raise InvalidArgument("frame size must be positive", field="size", expected="H, W >= 1",
                              actual=f"{height}x{width}")
    hp, wp = padded_size(height, width, config.size_multiple)
    chans, levels = config.encoder_channels, config.levels
    rows: list[MacRow] = []

    def res(d: int) -> tuple[int, int]:
        return hp >> d, wp >> d

    def add(layer, op, stage, d, cin, cout, k, macs_per_px, precision):
        h, w = res(d)
        rows.append(MacRow(layer, op, stage, h, w, cin, cout, k, macs_per_px * h * w, precision))

    def conv(layer, stage, d, cin, cout, k, precision):
        add(layer, f"conv{k}x{k}", stage, d, cin, cout, k, k * k * cin * cout, precision)

    if include_warp:
        add("warp", "bilinear warp", "warp + input", 0, 3, 3, 2, 4 * 3, "fp32")
    if config.input_processing:
        add("input_unit", "gray + Sobel + magnitude", "warp + input", 0, 6, INPUT_UNIT_CHANNELS, 3,
            2 * (3 + 2 * 9 + 2), "fp32")
    released_unet = config.kind == "unet" and config.unet_structure == "released"
    cin = config.in_channels
    for d in range(levels):
        if d > 0:
            if released_unet:
                add(f"pool{d}", "avgpool2x2", f"encoder {d}", d, chans[d - 1], chans[d - 1], 2, 4 * chans[d - 1],
                    "fp32")
            else:
                add(f"pool{d}", "maxpool2x2", f"encoder {d}", d, chans[d - 1], chans[d - 1], 2, 0, "int (codes)")
        for i in range(config.encoder_convs[d]):
            first = (d, i) == (0, 0)
            conv(f"enc{d}_{i}", f"encoder {d}", d, cin, chans[d], 3, "w8a8" if first else FOUR_BIT)
            cin = chans[d]
    for d in range(levels - 2, -1, -1):
        if released_unet:
            add(f"up{d + 1}to{d}", "bilinear x2", f"decoder {d}", d, chans[d + 1], chans[d + 1], 2, 4 * chans[d + 1],
                "fp32")
        else:
            add(f"up{d + 1}to{d}", "nearest x2", f"decoder {d}", d, chans[d + 1], chans[d + 1], 2, 0, "int (codes)")
        conv(f"dec{d}_proj", f"decoder {d}", d, chans[d] + chans[d + 1], chans[d], 1, FOUR_BIT)
        for i in range(config.decoder_convs[d]):
            conv(f"dec{d}_{i}", f"decoder {d}", d, chans[d], chans[d], 3, FOUR_BIT)
    if released_unet:
        conv("out", "output 1x1", 0, chans[0] + config.in_channels, 3, 1, "fp32")
        return MacReport(config, height, width, hp, wp, tuple(rows))
    if config.kind == "unet":
        conv("out", "output 1x1", 0, chans[0], 3, 1, "w8a4")
        return MacReport(config, height, width, hp, wp, tuple(rows))
    for d in range(levels):
        taps = 18 if d == 0 else 9
        conv(f"down{d}", "filter 1x1 (8-bit w)", d, chans[d], taps, 1, "w8a4")
        if d > 0:
            add(f"avgpool{d}", "avgpool2x2", "filter float ops", d, 3, 3, 2, 4 * 3, "fp32")
        add(f"kernel_down{d}", f"apply {taps} taps", "kernel application", d, 3, 3, 3, taps * 3, "fp32")
    for d in range(levels - 2, -1, -1):
        conv(f"up{d}", "filter 1x1 (8-bit w)", d, chans[d], 10, 1, "w8a4")
        add(f"bilinear{d}", "bilinear x2", "filter float ops", d, 3, 3, 2, 4 * 3, "fp32")
        add(f"kernel_up{d}", "apply 10 taps", "kernel application", d, 3, 3, 3, 10 * 3, "fp32")
    return MacReport(config, height, width, hp, wp, tuple(rows))


def format_markdown(report: MacReport, per_layer: bool = True) -> str:
    """The report as markdown: a per-layer table (optional), a per-stage table and a summary."""
    total = report.total
    npx = report.padded_height * report.padded_width
    lines = []
    if per_layer:
        lines += ["| layer | op | output res | Cin -> Cout | MAC / px | MAC / frame | share | precision |",
                  "|---|---|---|---|---:|---:|---:|---|"]
        for r in report.rows:
            lines.append(f"| {r.layer} | {r.op} | {r.height}x{r.width} | {r.cin} -> {r.cout} | "
                         f"{r.macs / npx:,.1f} | {r.macs:,} | {100 * r.macs / total:.2f}% | {r.precision} |")
        lines.append("")
    lines += ["| stage | MAC / px | GMAC / frame | share |", "|---|---:|---:|---:|"]
    for stage, macs in report.by("stage").items():
        lines.append(f"| {stage} | {macs / npx:,.1f} | {macs / 1e9:.3f} | {100 * macs / total:.2f}% |")
    lines += ["", "| precision | MAC / px | GMAC / frame | share |", "|---|---:|---:|---:|"]
    for prec, macs in report.by("precision").items():
        lines.append(f"| {prec} | {macs / npx:,.1f} | {macs / 1e9:.3f} | {100 * macs / total:.2f}% |")
    lines += ["",
              f"- frame {report.width}x{report.height}, network runs at {report.padded_width}x{report.padded_height}",
              f"- total: {total / 1e9:.2f} GMAC per frame ({2 * total / 1e9:.2f} GFLOP)",
              f"- {report.per_padded_pixel:,.0f} MAC per padded pixel, {report.per_output_pixel:,.0f} per output pixel",
              f"- 4-bit (w4a4) share of MACs: {100 * report.four_bit_share:.1f}%"]
    return "\n".join(lines)
