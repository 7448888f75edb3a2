"""The plugin at run time, with no OpenGL: :class:`ContextDesc` -> :class:`Context` -> ``dispatch(Frame)``.

Every method (QW-Net, TAA, no-AA, ...) follows one protocol (:mod:`qwplugin.runtime.reconstructor`) and is
built by name from one registry (:mod:`qwplugin.runtime.registry`: ``make("qwnet-int4", (w, h))``).
See docs/runtime.md for the integration guide (input table, conventions, a minimal example).

The names below are imported lazily (on first use), so that low-level modules (:mod:`qwplugin.taa`) can use
:mod:`qwplugin.runtime.validate` without importing the whole runtime.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BackendInfo": "qwplugin.runtime.backend",
    "Context": "qwplugin.runtime.context",
    "ContextStats": "qwplugin.runtime.context",
    "ContextDesc": "qwplugin.runtime.desc",
    "Frame": "qwplugin.runtime.frame",
    "FrameValues": "qwplugin.runtime.validate",
    "MethodInfo": "qwplugin.runtime.reconstructor",
    "Reconstructor": "qwplugin.runtime.reconstructor",
    "make": "qwplugin.runtime.registry",
    "register": "qwplugin.runtime.registry",
    "BudgetWarning": "qwplugin.runtime.warn",
    "DebugCheckWarning": "qwplugin.runtime.warn",
    "QWPluginWarning": "qwplugin.runtime.warn",
    "SpatialUpscale": "qwplugin.runtime.upscalers",
    "TAAU": "qwplugin.runtime.upscalers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qwplugin.runtime' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
