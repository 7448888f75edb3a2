"""The methods the evaluation compares: built by name from :mod:`qwplugin.runtime.registry`.

The evaluation has no method family of its own: every method is a reconstructor of the registry
(:class:`~qwplugin.runtime.reconstructor.Reconstructor`: ``dispatch(frame)``, ``reset()``, ``close()``,
``info``), given :class:`~qwplugin.runtime.frame.Frame` objects of top-down numpy arrays. The names (``noaa``,
``taa``, ``taa-classic``, ``qwnet-fp32``, ``qwnet-int4``, ``unet-fp32``, ``unet-int4``) and the ``NAME=PATH``
form (a TAA configuration ``.json``, or network weights) are documented in :mod:`qwplugin.runtime.registry`.
"""

from __future__ import annotations

from qwplugin.runtime import registry
from qwplugin.runtime.methods import load_taa_config

METHOD_NAMES = registry.names("array")
"""The built-in method names (at import time; :func:`qwplugin.runtime.registry.register` adds more)."""

LABELS = {name: registry.label(name) for name in METHOD_NAMES}

BASELINE = "taa"
"""The method every other is compared with (win / tie / loss): the strongest TAA we have."""


def parse_method(spec: str) -> tuple[str, str | None]:
    """``"NAME"`` or ``"NAME=PATH"`` -> (name, path or None), refusing a bad spec before any work
    (:func:`qwplugin.runtime.registry.parse_spec`).

    Raises:
        InvalidArgument: an unknown name without a path, an empty name, a missing file, a bad TAA file.
    """
    return registry.parse_spec(spec)


def make_method(spec: str, size: tuple[int, int]):
    """The reconstructor named by ``spec`` for frames of ``size`` (W, H) (:func:`qwplugin.runtime.registry.make`).

    Raises:
        InvalidArgument: unknown name, bad weights or TAA configuration file.
    """
    return registry.make(spec, size)


def label_of(name: str) -> str:
    """Human label of a method name (the name itself for custom ones)."""
    return registry.label(name)


__all__ = ["BASELINE", "LABELS", "METHOD_NAMES", "label_of", "load_taa_config", "make_method", "parse_method"]
