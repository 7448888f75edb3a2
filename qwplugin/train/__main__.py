"""``python -m qwplugin.train --config FILE``: train (or resume) a run; also under ``torchrun``.

Examples:
    python -m qwplugin.train --config configs/qwnet_paper_cpu.json
    python -m qwplugin.train --config configs/qwnet_fast_cpu.json --time-budget-s 3600
    torchrun --nproc_per_node=2 -m qwplugin.train --config configs/tiny_test.json --out runs/tiny_ddp
"""

from __future__ import annotations

import argparse
import json
import sys

from qwplugin.cli import command, prog_name
from qwplugin.train.config import load_config
from qwplugin.train.loop import train


@command("qw-train")
def main(argv: list[str] | None = None) -> int:
    """Train or resume; prints the result as JSON. Returns the exit status (errors: :mod:`qwplugin.cli`)."""
    parser = argparse.ArgumentParser(prog=prog_name("qw-train", "qwplugin.train"), description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="training config JSON (see configs/)")
    parser.add_argument("--out", default=None, help="run folder (default runs/<config name>); resumes if it holds a checkpoint")
    parser.add_argument("--data", default=None, help="override data.root of the config")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this global step as if killed (no checkpoint at the stop)")
    parser.add_argument("--time-budget-s", type=float, default=None,
                        help="stop cleanly after this many seconds of wall time (evaluation + checkpoint at the "
                             "first episode end past it); rerun to continue")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.data:
        config.data.root = args.data
    result = train(config, args.out, device=args.device, progress=not args.no_progress,
                   stop_after=args.stop_after, time_budget_s=args.time_budget_s)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
