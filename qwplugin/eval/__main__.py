"""``python -m qwplugin.eval --sequences DIR[,DIR...] --methods noaa,taa,qwnet-int4 --out DIR``

Scores sequences already on disk (``python -m engine_bridge.render`` output, or a dataset's sequence
folders) with no OpenGL. To render scenes first, use ``python -m engine_bridge.eval``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qwplugin.errors import QWPluginError

DEFAULT_METHODS = "noaa,taa,taa-classic,unet-fp32,unet-int4,qwnet-fp32,qwnet-int4"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``python -m engine_bridge.eval``."""
    from qwplugin.eval.run import DEFAULT_WARMUP

    parser.add_argument("--methods", default=DEFAULT_METHODS,
                        help="comma-separated methods: NAME, NAME=TAACONFIG.json or NAME=WEIGHTS.safetensors "
                        f"(default {DEFAULT_METHODS}); others are compared with 'taa'")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                        help=f"frames after each reset that are not scored (default {DEFAULT_WARMUP})")
    parser.add_argument("--exposure", type=float, default=1.0, help="display exposure (default 1)")
    parser.add_argument("--costly-every", type=int, default=1,
                        help="SSIM, FLIP and HDR-FLIP on every n-th scored frame only (default 1: all); PSNR and "
                        "the temporal metrics are always computed on every frame")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(argv: list[str] | None = None) -> int:
    from qwplugin.eval import SceneInput, evaluate_and_report
    from qwplugin.io.sequence import read_sequence

    parser = argparse.ArgumentParser(prog="python -m qwplugin.eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", required=True, help="comma-separated sequence folders (one run each)")
    parser.add_argument("--set", default="other", dest="split", choices=["validation", "test", "training", "other"],
                        help="scene set the sequences belong to, printed in the report (default: other)")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    try:
        folders = [s for s in args.sequences.split(",") if s]
        seqs = [read_sequence(folder) for folder in folders]
        names = [seq.scene for seq in seqs]
        # The scene name labels each sequence; two sequences of one scene are told apart by their folder.
        scenes = [SceneInput(name if names.count(name) == 1 else f"{name} ({Path(folder).name})", [("run 0", seq)],
                             args.split, f"{seq.time_s[0]:.2f}-{seq.time_s[-1] + 1 / seq.fps:.2f} s "
                             f"({len(seq)} frames at {seq.fps:g} fps)")
                  for name, folder, seq in zip(names, folders, seqs)]
        command = "python -m qwplugin.eval " + " ".join(sys.argv[1:] if argv is None else argv)
        report = evaluate_and_report(scenes, [m for m in args.methods.split(",") if m], args.out, args.warmup,
                                     args.exposure, config=vars(args), command=command,
                                     progress=not args.no_progress, costly_every=args.costly_every)
    except QWPluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
