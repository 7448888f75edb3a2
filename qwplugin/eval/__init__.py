"""Evaluation against supersampled references: metrics (:mod:`.metrics`), the methods compared
(:mod:`.methods`), intervals and the win / tie / loss rule (:mod:`.stats`), the runner (:mod:`.run`) and
the report writer (:mod:`.report`).

No OpenGL here: ``python -m qwplugin.eval`` scores sequences already rendered to disk;
``python -m engine_bridge.eval`` renders scenes (whole scenes or a window, several starting jitter
phases) first and then calls :func:`evaluate_and_report`.
"""

from __future__ import annotations

from pathlib import Path

from qwplugin.eval.methods import BASELINE, METHOD_NAMES
from qwplugin.eval.run import DEFAULT_WARMUP, EvalResult, SceneInput, evaluate


def evaluate_and_report(scenes: list[SceneInput], methods: list[str], out_dir: str | Path,
                        warmup: int = DEFAULT_WARMUP, exposure: float = 1.0, config: dict | None = None,
                        command: str | None = None, progress: bool = True, costly_every: int = 1) -> Path:
    """:func:`~qwplugin.eval.run.evaluate` then :func:`~qwplugin.eval.report.write_report`; returns report.md.

    Raises:
        InvalidArgument: as :func:`~qwplugin.eval.run.evaluate`.
    """
    from qwplugin.eval.report import write_report

    result = evaluate(scenes, methods, warmup=warmup, exposure=exposure, progress=progress,
                      costly_every=costly_every)
    return write_report(result, out_dir, config=config, command=command)


__all__ = ["BASELINE", "METHOD_NAMES", "DEFAULT_WARMUP", "EvalResult", "SceneInput", "evaluate",
           "evaluate_and_report"]
