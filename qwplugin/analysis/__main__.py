"""CLI (``qw-macs``): print the MAC table of a model configuration in markdown.

Examples:
    python -m qwplugin.analysis --config paper --size 1920x1080
    python -m qwplugin.analysis --config fast --summary
    python -m qwplugin.analysis --config paper --kind unet --unet-structure v1 --summary
    python -m qwplugin.analysis --upscaling --size 1920x1080    # cost per display pixel per upscaling scale
    python -m qwplugin.analysis --config fast --routing         # routed QW-Net / TAA per heavy fraction
"""

from __future__ import annotations

import argparse
import sys

from qwplugin.analysis.macs import format_markdown, mac_report
from qwplugin.cli import command, prog_name
from qwplugin.model.config import PRESETS, UNET_STRUCTURES, ModelConfig


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return w, h


@command("qw-macs")
def main(argv: list[str] | None = None) -> int:
    """Print the MAC report. Returns the exit status (errors are reported by :mod:`qwplugin.cli`)."""
    parser = argparse.ArgumentParser(prog=prog_name("qw-macs", "qwplugin.analysis"), description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper",
                        help=f"preset name: {', '.join(PRESETS)} (default paper)")
    parser.add_argument("--kind", choices=["qwnet", "unet"], default="qwnet", help="model kind")
    parser.add_argument("--unet-structure", choices=list(UNET_STRUCTURES), default="released",
                        help="black-box U-Net variant with --kind unet (default released)")
    parser.add_argument("--size", type=_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
    parser.add_argument("--input-processing", action="store_true", help="enable the input processing unit")
    parser.add_argument("--depth", action="store_true", help="add the depth input channel")
    parser.add_argument("--no-warp", action="store_true", help="do not count the history warp")
    parser.add_argument("--summary", action="store_true", help="stage and precision tables only")
    parser.add_argument("--upscaling", action="store_true",
                        help="cost per display pixel and per frame at --size (the display size) for each upscaling "
                             "scale: the network at the render size plus the spatial upscaler")
    parser.add_argument("--spatial", choices=["bilinear", "bicubic", "lanczos"], default="lanczos",
                        help="with --upscaling: the spatial upscaler after the network (default lanczos)")
    parser.add_argument("--routing", action="store_true",
                        help="expected MACs per pixel of qwnet-routed (QW-Net on routed tiles over the TAA) per heavy "
                             "fraction, plus the classifier")
    parser.add_argument("--tile", type=int, default=64, help="with --routing: tile size (default 64)")
    parser.add_argument("--halo", type=int, default=16, help="with --routing: halo (default 16)")
    args = parser.parse_args(argv)
    config = ModelConfig.preset(args.config, kind=args.kind, input_processing=args.input_processing,
                                use_depth=args.depth, unet_structure=args.unet_structure)
    if args.upscaling:
        from qwplugin.analysis.upscaling import format_upscaling_markdown, upscaling_costs

        costs = upscaling_costs(config, args.size, args.spatial, include_warp=not args.no_warp)
        print(format_upscaling_markdown(costs, args.config, args.spatial))
        from qwplugin.analysis.upscaling import format_network_markdown, upscaling_network_costs

        print("\n" + format_network_markdown(upscaling_network_costs(args.size), args.size))
        return 0
    if args.routing:
        from qwplugin.analysis.routing import format_routing_markdown

        print(format_routing_markdown(config, args.size[0], args.size[1], tile=args.tile, halo=args.halo))
        return 0
    report = mac_report(config, args.size[1], args.size[0], include_warp=not args.no_warp)
    kind = f"{args.kind} ({args.unet_structure})" if args.kind == "unet" else args.kind
    print(f"MAC report: config {args.config}, kind {kind}, {args.size[0]}x{args.size[1]}\n")
    print(format_markdown(report, per_layer=not args.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
