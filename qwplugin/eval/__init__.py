"""Evaluation against supersampled references: metrics (:mod:`.metrics`), the methods compared
(:mod:`.methods`), the runner (:mod:`.run`) and the report writer (:mod:`.report`).

No OpenGL here: ``python -m qwplugin.eval`` scores sequences already rendered to disk;
``python -m engine_bridge.eval`` renders scenes first and then calls :func:`evaluate_and_report`.
"""

from __future__ import annotations

from pathlib import Path

from qwplugin.eval.methods import METHOD_NAMES
from qwplugin.eval.run import DEFAULT_WARMUP, EvalResult, evaluate


def evaluate_and_report(scenes, methods, out_dir, warmup: int = DEFAULT_WARMUP, exposure: float = 1.0,
                        config: dict | None = None, command: str | None = None, progress: bool = True) -> Path:
    """:func:`~qwplugin.eval.run.evaluate` then :func:`~qwplugin.eval.report.write_report`; returns report.md."""
    from qwplugin.eval.report import write_report

    result = evaluate(scenes, methods, warmup=warmup, exposure=exposure, progress=progress)
    return write_report(result, out_dir, config=config, command=command)


__all__ = ["METHOD_NAMES", "DEFAULT_WARMUP", "EvalResult", "evaluate", "evaluate_and_report"]
