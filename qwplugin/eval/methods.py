"""The methods the evaluation compares: built by name from :mod:`qwplugin.runtime.registry`.

The evaluation has no method family of its own: every method is a reconstructor of the registry
(:class:`~qwplugin.runtime.reconstructor.Reconstructor`: ``dispatch(frame)``, ``reset()``, ``close()``,
``info``), given :class:`~qwplugin.runtime.frame.Frame` objects of top-down numpy arrays. The names (``noaa``,
``taa``, ``taa-classic``, ``qwnet-fp32``, ``qwnet-int4``, ``unet-fp32``, ``unet-int4``) and the ``NAME=PATH``
form (a TAA configuration ``.json``, or network weights) are documented in :mod:`qwplugin.runtime.registry`,
as are the routed names with options after a colon (``qwnet-routed:k=0.5``, ``qwnet-routed:budget_ms=350``,
``qwnet-routed-rule:k=1``; :mod:`qwplugin.runtime.routed`), which ``--methods`` accepts like any name.
"""

from __future__ import annotations

from qwplugin.errors import InvalidArgument
from qwplugin.runtime import registry
from qwplugin.runtime.methods import load_taa_config

METHOD_NAMES = registry.names("array")
"""The built-in method names (at import time; :func:`qwplugin.runtime.registry.register` adds more)."""

LABELS = {name: registry.label(name) for name in METHOD_NAMES}

BASELINE = "taa"
"""The method every other is compared with (win / tie / loss): the strongest TAA we have."""

UPSCALING_BASELINE = "taau"
"""The baseline of an upscaling evaluation (no render-size ``taa`` there): the TAA in its upscaling form."""

UPSCALING_DEFAULT = "noaa+bilinear,noaa+lanczos,taa+lanczos,qwnet-fp32+lanczos,qwnet-int4+lanczos,taau"
"""Methods scored in upscaling mode when ``--methods`` is not given (``engine_bridge.eval --scale``)."""


def parse_method(spec: str) -> tuple[str, str | None]:
    """``"NAME"`` or ``"NAME=PATH"`` -> (name, path or None), refusing a bad spec before any work
    (:func:`qwplugin.runtime.registry.parse_spec`).

    Raises:
        InvalidArgument: an unknown name without a path, an empty name, a missing file, a bad TAA file.
    """
    return registry.parse_spec(spec)


def make_method(spec: str, size: tuple[int, int], display_size: tuple[int, int] | None = None):
    """The reconstructor named by ``spec`` for frames of ``size`` (W, H) (:func:`qwplugin.runtime.registry.make`),
    with output ``display_size`` (None: ``size``; the upscaling names).

    Raises:
        InvalidArgument: unknown name, bad weights or TAA configuration file; a display size for a method
            that does not upscale (field ``display_size``, naming the alternatives).
    """
    if display_size is None:
        return registry.make(spec, size)
    return registry.make(spec, size, display_size=display_size)


def check_upscaling_methods(specs: list[str]) -> None:
    """Refuse, before any work, methods that cannot produce a display size larger than the render size.

    Raises:
        InvalidArgument: field ``--methods``, naming the registry's upscaling names.
    """
    bad = [m for m in specs if not registry.upscales(m.strip())]  # the whole spec: NAME=PATH resolves its base
    if bad:
        names = ", ".join(n for n in registry.names("array") if registry.upscales(n))
        raise InvalidArgument("--methods: these methods do not upscale (the anti-aliasing QW-Net, no-AA and TAA run at "
                              "the render size; qwnet-fast-up2-* is the 2x upscaling QW-Net)", field="--methods",
                              expected=f"upscaling methods: {names}", actual=", ".join(bad))


def label_of(name: str) -> str:
    """Human label of a method name (the name itself for custom ones)."""
    return registry.label(name)


__all__ = ["BASELINE", "LABELS", "METHOD_NAMES", "UPSCALING_BASELINE", "UPSCALING_DEFAULT", "check_upscaling_methods",
           "label_of", "load_taa_config", "make_method", "parse_method"]
