"""Regenerate ``tests/data/golden_scores.json``: the scores ``tests/engine_bridge/test_golden_scores.py``
checks (a fixed tiny render of the canonical ``mixed`` scene, see ``engine_bridge.eval.GOLDEN_SETUP``).

Run it after an intentional change to the renderer, a TAA, the shipped weights or a metric, look at the
diff it prints, and commit the new file with that change::

    .venv/bin/python scripts/update_golden.py            # all of engine_bridge.eval.GOLDEN_METHODS
    .venv/bin/python scripts/update_golden.py --check    # print the differences, write nothing
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import engine_bridge.gl  # noqa: F401  (first: chooses PyOpenGL's platform before OpenGL is imported)
from engine_bridge.eval import GOLDEN_METHODS, golden_scores
from qwplugin.errors import QWPluginError

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden_scores.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=",".join(GOLDEN_METHODS),
                        help=f"comma-separated methods to record (default {','.join(GOLDEN_METHODS)})")
    parser.add_argument("--out", type=Path, default=GOLDEN_FILE, help=f"file to write (default {GOLDEN_FILE})")
    parser.add_argument("--backend", default="auto", choices=["auto", "glfw", "egl", "osmesa"])
    parser.add_argument("--check", action="store_true", help="only print the differences to --out")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as work:
            data = golden_scores(work, [m for m in args.methods.split(",") if m], args.backend)
    except QWPluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = {"format": "qwplugin-golden-scores", "version": 1,
            "regenerate": "python scripts/update_golden.py", **data}
    old = json.loads(args.out.read_text())["scores"] if args.out.is_file() else {}
    for method, scores in data["scores"].items():
        for metric, value in scores.items():
            before = old.get(method, {}).get(metric)
            change = "new" if before is None else f"{value - before:+.6g}"
            print(f"{method:12s} {metric:13s} {value:.6f} ({change})")
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from qwplugin.cli import run_main  # typed errors as one line, status 2/1 (qwplugin/cli.py)

    sys.exit(run_main(main))
