"""``python -m qwplugin.eval --sequences DIR[,DIR...] --methods noaa,taa,qwnet-int4 --out DIR``

Scores sequences already on disk (``python -m engine_bridge.render`` output, or a dataset's sequence
folders) with no OpenGL. To render scenes first, use ``python -m engine_bridge.eval``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qwplugin.cli import command, prog_name
from qwplugin.eval.cli_args import DEFAULT_METHODS, add_common_arguments

__all__ = ["DEFAULT_METHODS", "add_common_arguments", "main"]  # the first two re-exported for old callers


@command("qw-eval-sequences")
def main(argv: list[str] | None = None) -> int:
    """Score sequences on disk; returns the exit status (typed errors are reported by :mod:`qwplugin.cli`)."""
    from qwplugin.eval import SceneInput, evaluate_and_report
    from qwplugin.io.sequence import read_sequence

    parser = argparse.ArgumentParser(prog=prog_name("qw-eval-sequences", "qwplugin.eval"), description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", required=True, help="comma-separated sequence folders (one run each)")
    parser.add_argument("--set", default="other", dest="split", choices=["validation", "test", "training", "other"],
                        help="scene set the sequences belong to, printed in the report (default: other)")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    folders = [s for s in args.sequences.split(",") if s]
    seqs = [read_sequence(folder) for folder in folders]
    names = [seq.scene for seq in seqs]
    # The scene name labels each sequence; two sequences of one scene are told apart by their folder.
    scenes = [SceneInput(name if names.count(name) == 1 else f"{name} ({Path(folder).name})", [("run 0", seq)],
                         args.split, f"{seq.time_s[0]:.2f}-{seq.time_s[-1] + 1 / seq.fps:.2f} s "
                         f"({len(seq)} frames at {seq.fps:g} fps)")
              for name, folder, seq in zip(names, folders, seqs)]
    command_line = "python -m qwplugin.eval " + " ".join(sys.argv[1:] if argv is None else argv)
    report = evaluate_and_report(scenes, [m for m in args.methods.split(",") if m], args.out, args.warmup,
                                 args.exposure, config=vars(args), command=command_line,
                                 progress=not args.no_progress, costly_every=args.costly_every)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
