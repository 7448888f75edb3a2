"""Command-line options shared by the two evaluation commands.

``python -m qwplugin.eval`` (``qw-eval-sequences``: sequences already on disk, no GL) and
``python -m engine_bridge.eval`` (``qw-eval``: renders the scenes first) take the same method, warm-up,
exposure and output options; they are declared here once.
"""

from __future__ import annotations

import argparse

__all__ = ["DEFAULT_METHODS", "add_common_arguments"]

DEFAULT_METHODS = "noaa,taa,taa-classic,unet-fp32,unet-int4,qwnet-fp32,qwnet-int4"
"""Methods scored when ``--methods`` is not given (names of :mod:`qwplugin.runtime.registry`)."""


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--methods``, ``--warmup``, ``--exposure``, ``--costly-every``, ``--out``, ``--no-progress``.

    Args:
        parser: the command's parser; gains the options above (``--out`` required).
    """
    from qwplugin.eval.run import DEFAULT_WARMUP

    parser.add_argument("--methods", default=DEFAULT_METHODS,
                        help="comma-separated methods: NAME, NAME=TAACONFIG.json or NAME=WEIGHTS.safetensors "
                        f"(default {DEFAULT_METHODS}); others are compared with 'taa'")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                        help=f"frames after each reset that are not scored (default {DEFAULT_WARMUP})")
    parser.add_argument("--exposure", type=float, default=1.0, help="display exposure (default 1)")
    parser.add_argument("--costly-every", type=int, default=1,
                        help="SSIM, FLIP and HDR-FLIP on every n-th scored frame only (default 1: all); "
                        "PSNR and the temporal metrics are always computed on every frame")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
