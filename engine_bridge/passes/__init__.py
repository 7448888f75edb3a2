"""GL passes sharing one protocol (:class:`RenderPass`): the anti-aliasing toggle swaps pass objects.

Importing this package registers the GL implementations of the built-in methods in the one registry
(:mod:`qwplugin.runtime.registry`, target ``"gl"``): :func:`make_pass` ``("taa", 960, 540)`` builds a
:class:`TAAPass`, ``("qwnet-int4", ...)`` a :class:`QWNetPass`, and so on. Importing it imports OpenGL
(through ``engine_bridge.gl``, which picks the platform first).
"""

from __future__ import annotations

import functools

from engine_bridge.passes.base import PassFrame, Port, RenderPass
from engine_bridge.passes.noaa_pass import NoAAPass
from engine_bridge.passes.qwnet_pass import QWNetPass
from engine_bridge.passes.taa_pass import TAAPass
from qwplugin.runtime import registry


def make_pass(spec: str, width: int, height: int, **options) -> RenderPass:
    """The GL pass of a registered method: ``registry.make(spec, (width, height), target="gl", **options)``.

    Raises:
        InvalidArgument: unknown name or option, bad size.
        UnsupportedHardware: an impossible backend or transfer.
    """
    return registry.make(spec, (width, height), target="gl", **options)


def _noaa(name, size, **_):
    return NoAAPass(*size, name=name, label=registry.label(name))


def _taa(name, size, *, classic: bool = False, config=None, history_format=None, **_):
    from qwplugin.taa import TAAConfig

    if config is None:
        config = TAAConfig.classic() if classic else TAAConfig()
    return TAAPass(*size, config, history_format or "RGBA16F", name=name, label=registry.label(name))


def _network(name, size, *, default_model: str, precision: str, display_size=None, model=None, backend=None,
             transfer=None, int4_backend=None, seed=None, timing_window=None, **_):
    given = {"backend": backend, "transfer": transfer, "int4_backend": int4_backend, "seed": seed,
             "timing_window": timing_window}
    return QWNetPass(*size, model=model or default_model, precision=precision, display_size=display_size,
                     name=name, label=registry.label(name), **{k: v for k, v in given.items() if v is not None})


def _register() -> None:
    if "taa" in registry.names("gl"):  # a reload of this module
        return
    registry.register("noaa", _noaa, target="gl")
    registry.register("taa", _taa, target="gl")
    registry.register("taa-classic", functools.partial(_taa, classic=True), target="gl")
    for model in ("unet", "qwnet", "qwnet-fast"):
        for precision in ("fp32", "int4"):
            registry.register(f"{model}-{precision}", functools.partial(_network, default_model=model,
                                                                        precision=precision), target="gl")
    for precision in ("fp32", "int4"):
        registry.register(f"qwnet-fast-up2-{precision}",
                          functools.partial(_network, default_model="qwnet-fast-up2", precision=precision),
                          target="gl")


_register()

import engine_bridge.passes.upscale_passes  # noqa: E402,F401  (registers taau and the +spatial upscalers, target gl)
import engine_bridge.passes.routed_pass  # noqa: E402,F401  (registers qwnet-routed and qwnet-routed-rule, target gl)

__all__ = ["NoAAPass", "PassFrame", "Port", "QWNetPass", "RenderPass", "TAAPass", "make_pass"]
