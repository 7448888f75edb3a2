"""One registry of reconstruction methods by name: ``make("taa", (w, h))``, ``make("qwnet-int4", (w, h))``.

The demo, the benchmarks and the evaluation build every method here and never parse a method name
themselves. Each name may have an implementation per *target*:

==========  ==================================================================================
target      what ``make`` returns
==========  ==================================================================================
``array``   a reconstructor on top-down arrays (:class:`~qwplugin.runtime.Context`,
            :class:`~qwplugin.runtime.methods.TAA`, :class:`~qwplugin.runtime.methods.NoAA`);
            registered here
``gl``      a GL pass (``engine_bridge.passes``), registered when ``engine_bridge.passes`` is
            imported (the core never imports GL)
==========  ==================================================================================

Built-in names:

==============  ==========================================================================================
``noaa``        the aliased, jittered input itself
``taa``         the strong TAA baseline: :class:`~qwplugin.taa.TAAConfig` defaults (tuned on training
                scenes), given the frame's linear view depth when the configuration uses depth
``taa-classic`` the textbook TAA the project started with (:meth:`~qwplugin.taa.TAAConfig.classic`)
``qwnet-fp32``  QW-Net through :class:`~qwplugin.runtime.Context` (the product path), FP32
``qwnet-int4``  the same with the 4-bit extractor on the fastest exact integer backend available
``qwnet-fast-*`` the ``fast`` preset (~4.9k MAC/px, with the TAA candidate: ``ModelConfig.taa_candidate``),
                ``qwnet-fast-fp32`` and ``qwnet-fast-int4``
``unet-fp32``   the black-box U-Net baseline (colour predicted directly), FP32
``unet-int4``   its 4-bit version
==============  ==========================================================================================

Routed names (:mod:`qwplugin.runtime.routed`, array target only): ``qwnet-routed`` (QW-Net int4 on the tiles
a trained classifier picks, the tuned TAA elsewhere) and ``qwnet-routed-rule`` (the same with a hand-set,
untrained rule). They take options after the name, ``NAME:key=value[:key=value]`` (e.g.
``qwnet-routed:k=0.5``, ``qwnet-routed:budget_ms=350``), with the keys of :data:`ROUTED_SPEC_OPTIONS`.

Upscaling names (``make(..., display_size=(W, H))``: inputs at the render size, output at the display size,
1x to 3x per axis; :mod:`qwplugin.runtime.upscalers`):

=======================  =================================================================================
``taau``                 temporal upscaling, :class:`qwplugin.taau.TemporalUpscaler` (history at display
                         size, a reconstruction kernel that knows each sample's position)
``noaa+bilinear``        the aliased input, upscaled (also ``+bicubic``, ``+lanczos``)
``taa+lanczos``          the TAA at the render size, then upscaled (also ``+bilinear``, ``+bicubic``)
``qwnet-fast-up2-int4``   QW-Net trained for 2x temporal upscaling (``model="qwnet-fast-up2"``,
                         :mod:`qwplugin.model.upscale`): samples placed on the display grid, history at display
                         size, a TAAU candidate; also ``qwnet-fast-up2-fp32``. Render size
                         ``floor(display / 2)``: ``display_size`` is required (the render size is refused)
``qwnet-int4+lanczos``   QW-Net 4-bit at the render size, then Lanczos-3 (also ``qwnet-fp32+lanczos``): the
                         network never sees the display grid
=======================  =================================================================================

Any other name asked for ``display_size != render_size`` is refused with
an InvalidArgument (field ``display_size``) naming the alternatives. Without ``display_size`` (or with the render size) every name runs at the render size.

A method may also be given as a *spec* ``NAME=PATH`` (the evaluation's ``--methods``):

- ``PATH.json``: a TAA configuration (:func:`~qwplugin.runtime.methods.load_taa_config`), e.g.
  ``taa=runs/sweep/cfg_012.json`` or ``taa-nodilate=cfg.json``; for ``taau`` and names starting with
  ``taau`` a :class:`~qwplugin.taau.TAAUConfig` (``taau-unsharpened=configs/taau_unsharpened.json``);
- any other path: network weights (e.g. ``qwnet-fp32=runs/x/w.safetensors`` or ``ablation-nodepth=...``),
  run at the precision of the registered name, or for a name of one's own by its suffix (``-int4`` ->
  int4, otherwise fp32); a name of one's own containing ``-up2`` runs as the upscaling QW-Net
  (``mine-up2-int4=runs/x/w.safetensors``).

Options (keywords of :func:`make`) are shared by all methods; each factory uses those that apply to it and
ignores the others, so a caller can pass the same options to every name:

=================  =======================================================================================
``model``          network methods: model name or weights path instead of the registered one
``backend``        network methods: ``ContextDesc.backend`` (``auto``, ``cpu``, ``cuda``)
``int4_backend``   network methods: ``ContextDesc.int4_backend``
``seed``           network methods: seed of the random initialisation when no trained weights exist
``timing_window``  network methods: frames the context's timing medians cover (``ContextDesc``)
``transfer``       GL network passes: the bridge's transfer (``auto``, ``readback``, ``cuda_interop``)
``config``         TAA methods: a :class:`~qwplugin.taa.TAAConfig` instead of the registered one
``source``         TAA methods: where ``config`` came from (for the description)
``history_format`` GL TAA passes: ``RGBA16F`` or ``RGBA32F``
``k``              routed methods: PCSR's cost exponent (default 0; -25 all heavy, +25 all light)
``budget_ms``      routed methods: a time budget per frame; a controller picks k each frame
``tile``, ``halo`` routed methods: tile size (multiple of 16, default 64) and halo (multiple of 8, default 16)
``hysteresis``     routed methods: temporal hysteresis on the decision (default True)
``precision``      routed methods: QW-Net ``int4`` (default) or ``fp32``
=================  =======================================================================================

Registering a new method is one call::

    register("my-taa", lambda name, size, **options: TAA(size, MY_CONFIG, name=name), label="my TAA")
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwplugin.errors import InvalidArgument

TARGETS = ("array", "gl")
"""Where a method runs (see the module docstring)."""

OPTIONS = ("model", "backend", "int4_backend", "seed", "timing_window", "transfer", "config", "source",
           "history_format", "k", "budget_ms", "tile", "halo", "hysteresis", "precision")
"""The option keywords :func:`make` accepts (see the module docstring); any other keyword is refused."""

Factory = Callable[..., Any]
"""``factory(name, render_size, **options) -> reconstructor``: ``name`` is what ``info.name`` reports."""


@dataclass
class _Entry:
    label: str
    factories: dict[str, Factory] = field(default_factory=dict)
    path_option: str | None = None
    upscales: bool = False
    spec_options: tuple[str, ...] = ()


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, factory: Factory, *, target: str = "array", label: str | None = None,
             path_option: str | None = None, replace: bool = False, upscales: bool | None = None,
             spec_options: tuple[str, ...] | None = None) -> None:
    """Register ``factory`` under ``name`` for ``target`` (one call per name and target).

    Args:
        name: the method name, e.g. ``"taau"`` (non-empty, no ``=`` or ``,``).
        factory: ``factory(name, render_size, **options)`` returning a reconstructor.
        target: one of :data:`TARGETS`.
        label: human label (kept from an earlier registration of the name when None; default the name).
        path_option: what ``NAME=PATH`` means for this name: ``"config"`` (a TAA JSON file) or ``"model"``
            (weights); None keeps an earlier registration's (and otherwise the suffix rule of the module
            docstring applies).
        replace: allow replacing an existing factory for (name, target).
        upscales: the method produces a display size larger than the render size; its factory is then
            called with the keyword ``display_size=(W, H)``. None keeps an earlier registration's (default
            False: :func:`make` refuses a different display size for it, and never passes one).
        spec_options: option keywords a spec may set after the name, ``NAME:key=value[:key=value]`` (e.g.
            ``qwnet-routed:k=1``); None keeps an earlier registration's (default none).

    Raises:
        InvalidArgument: bad name or target, or (name, target) already registered without ``replace``.
    """
    if not isinstance(name, str) or not name or any(c in name for c in "=, :"):
        raise InvalidArgument("bad method name", field="name", expected="a non-empty name without '=', ',', ':' "
                              "or spaces", actual=repr(name))
    if target not in TARGETS:
        raise InvalidArgument("unknown target", field="target", expected=" or ".join(TARGETS), actual=repr(target))
    if not callable(factory):
        raise InvalidArgument("factory must be callable", field="factory", expected="a callable",
                              actual=type(factory).__name__)
    entry = _REGISTRY.setdefault(name, _Entry(label or name))
    if target in entry.factories and not replace:
        raise InvalidArgument(f"method {name!r} is already registered for target {target!r}", field="name",
                              expected="a new name (or replace=True)", actual=name)
    entry.factories[target] = factory
    if label is not None:
        entry.label = label
    if path_option is not None:
        assert path_option in ("config", "model"), path_option
        entry.path_option = path_option
    if upscales is not None:
        entry.upscales = bool(upscales)
    if spec_options is not None:
        assert all(o in OPTIONS for o in spec_options), spec_options
        entry.spec_options = tuple(spec_options)


def split_spec_options(spec: str) -> tuple[str, dict[str, Any]]:
    """``"NAME:key=value[:key=value]"`` -> ``(NAME, {key: value})``; values are parsed as int, float,
    ``true``/``false`` or kept as strings. A spec without ``:`` gives ``(spec, {})``.

    Raises:
        InvalidArgument: field ``--methods``: an unknown name, a key the name does not accept, a bad pair.
    """
    base, sep, rest = spec.partition(":")
    if not sep:
        return spec, {}
    base = base.strip()
    entry = _REGISTRY.get(base)
    if entry is None or not entry.spec_options:
        raise InvalidArgument("this method takes no options after ':'", field="--methods",
                              expected="NAME:key=value for " + (", ".join(n for n, e in _REGISTRY.items()
                                                                          if e.spec_options) or "no method"),
                              actual=spec)
    options: dict[str, Any] = {}
    for pair in rest.split(":"):
        key, eq, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or key not in entry.spec_options or not value:
            raise InvalidArgument("bad method option", field="--methods",
                                  expected=f"{base}:key=value with key in {', '.join(entry.spec_options)}",
                                  actual=spec)
        options[key] = _parse_value(value)
    return base, options


def _parse_value(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def upscales(name: str) -> bool:
    """Whether a registered name (or ``NAME=PATH`` spec) can produce a display size larger than its render
    size (see the module docstring)."""
    spec_name, _, path = name.partition("=")
    spec_name, path = spec_name.strip(), path.strip()
    entry = _REGISTRY.get(_base_of(spec_name, path) if path else spec_name)
    return entry is not None and entry.upscales


def _base_of(name: str, path: str) -> str:
    """The registered method a ``NAME=PATH`` spec runs: ``NAME`` itself when registered for that kind of path;
    for a JSON file ``taau`` (names starting with ``taau``) or ``taa``; for weights ``qwnet-fast-up2-<p>``
    (names containing ``-up2``) or ``qwnet-<p>``, ``<p>`` from the name's suffix (``-int4``, else fp32)."""
    kind = _path_option(name, path)
    entry = _REGISTRY.get(name)
    if entry is not None and entry.path_option == kind:
        return name
    precision = "int4" if name.endswith("-int4") else "fp32"
    if kind == "config":
        return "taau" if name.startswith("taau") else "taa"
    return f"qwnet-fast-up2-{precision}" if "-up2" in name else f"qwnet-{precision}"


def names(target: str | None = None) -> tuple[str, ...]:
    """Registered names, in registration order (those with a ``target`` implementation when given)."""
    return tuple(n for n, e in _REGISTRY.items() if target is None or target in e.factories)


def label(name: str) -> str:
    """Human label of a method name or spec (the name itself for unregistered ones)."""
    head = name.partition("=")[0]
    if ":" in head:
        base, _, options = name.strip().partition(":")
    else:
        base, options = head.strip(), ""
    entry = _REGISTRY.get(base)
    text = entry.label if entry is not None else base
    return f"{text} ({options.replace(':', ', ')})" if options else text


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"NAME"`` or ``"NAME=PATH"`` -> ``(name, path or None)``, checked before any work: a ``.json``
    path is loaded as a TAA configuration here already, so a bad file is refused early.

    Raises:
        InvalidArgument: field ``--methods``: an empty or unknown name without a path, a missing file, a
            bad TAA configuration file.
    """
    from qwplugin.runtime.methods import load_taa_config

    if not isinstance(spec, str):
        raise InvalidArgument("a method is named by a string", field="--methods", expected="NAME or NAME=PATH",
                              actual=type(spec).__name__)
    if ":" in spec.partition("=")[0]:
        split_spec_options(spec)  # checks the name and the keys
        return spec.strip(), None
    name, _, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not name:
        raise InvalidArgument("empty method name", field="--methods", expected="NAME or NAME=PATH", actual=spec)
    if not path and name not in _REGISTRY:
        raise InvalidArgument("unknown method", field="--methods", expected=", ".join(_REGISTRY) +
                              " or NAME=PATH (.json TAA configuration or weights)", actual=name)
    if path:
        if not Path(path).is_file():
            raise InvalidArgument("method file not found", field="--methods", expected="an existing file",
                                  actual=f"{name}={path}")
        if _path_option(name, path) == "config":
            load_taa_config(path)
    return name, (path or None)


def _path_option(name: str, path: str) -> str:
    entry = _REGISTRY.get(name)
    if path.endswith(".json"):
        return "config"
    if entry is not None and entry.path_option is not None:
        return entry.path_option
    return "model"


def make(spec: str, render_size: tuple[int, int], *, display_size: tuple[int, int] | None = None,
         target: str = "array", **options) -> Any:
    """Build the method named by ``spec`` (a name or ``NAME=PATH``, see the module docstring).

    Args:
        spec: a registered name, or ``NAME=PATH``.
        render_size: ``(width, height)`` of the input frames.
        display_size: ``(width, height)`` of the output (temporal upscaling, 1x to 3x ``render_size`` per
            axis, e.g. from :func:`qwplugin.render_size_for`); None means the render size.
        target: ``"array"`` or ``"gl"`` (the latter needs ``import engine_bridge.passes``, which
            registers every GL implementation, the upscalers included).
        **options: shared options (:data:`OPTIONS`).

    Returns:
        a reconstructor (:class:`~qwplugin.runtime.reconstructor.Reconstructor`) whose ``info.name`` is
        the spec's name and whose output is ``display_size``.

    Raises:
        InvalidArgument: unknown name, target or option; bad file; bad sizes (fields ``render_size``,
            ``display_size``); whatever the factory refuses.
            ``display_size != render_size`` for a method that does not upscale (QW-Net: no upscaling
            weights yet; no-AA, TAA), naming the alternatives.
        UnsupportedHardware: from the factory (e.g. ``backend="cuda"`` without CUDA).
    """
    from qwplugin.runtime.methods import load_taa_config
    from qwplugin.runtime.upscalers import check_sizes, not_an_upscaler_error, qwnet_upscaling_error

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InvalidArgument("unknown method options", field=", ".join(unknown),
                              expected="some of " + ", ".join(OPTIONS), actual=repr(unknown))
    if target not in TARGETS:
        raise InvalidArgument("unknown target", field="target", expected=" or ".join(TARGETS), actual=repr(target))
    name, path = parse_spec(spec)
    base = name
    if path is None and ":" in name:
        base, spec_opts = split_spec_options(name)
        options = {**options, **spec_opts}
    if path is not None:
        base = _base_of(name, path)
        if _path_option(name, path) == "config":
            options = {**options, "config": load_taa_config(path, upscaling=base == "taau"), "source": path}
        else:
            options = {**options, "model": path}
    entry = _REGISTRY[base]
    render, display = check_sizes(render_size, display_size)
    if display != render and not entry.upscales:
        if entry.path_option == "model":
            raise qwnet_upscaling_error(name, render, display)
        spatial = tuple(n for n, e in _REGISTRY.items() if n.startswith(f"{base}+") and e.upscales)
        raise not_an_upscaler_error(name, render, display, spatial)
    factory = entry.factories.get(target)
    if factory is None:
        hint = ""
        if target == "gl":
            hint = (" (import engine_bridge.passes to register the GL upscalers)" if entry.upscales
                    else " (import engine_bridge.passes to register the GL passes)")
        raise InvalidArgument(f"method {base!r} has no {target!r} implementation{hint}", field="target",
                              expected=" or ".join(entry.factories), actual=target)
    if entry.upscales:
        return factory(name, render_size, display_size=display, **options)
    return factory(name, render_size, **options)


# ----------------------------------------------------------------------------------------------------------
# the built-in array methods


def _noaa(name, size, **_):
    from qwplugin.runtime.methods import NoAA

    return NoAA(size, name=name, label=label(name))


def _taa(name, size, *, classic: bool = False, config=None, source=None, **_):
    from qwplugin.runtime.methods import TAA
    from qwplugin.taa import TAAConfig

    if config is None:
        config = TAAConfig.classic() if classic else TAAConfig()
        source = "TAAConfig.classic()" if classic else "TAAConfig() defaults, tuned on training scenes"
    return TAA(size, config, name=name, label=label(name), source=source or "caller-supplied TAAConfig")


def _network(name, size, *, default_model: str, precision: str, display_size=None, model=None, backend=None,
             int4_backend=None, seed=None, timing_window=None, **_):
    """A QW-Net / U-Net Context; ``display_size`` (upscaling names only) is the output size."""
    from qwplugin.runtime.context import Context
    from qwplugin.runtime.desc import ContextDesc

    given = {"backend": backend, "int4_backend": int4_backend, "seed": seed, "timing_window": timing_window}
    desc = ContextDesc(render_size=size, display_size=display_size, model=model or default_model,
                       precision=precision, **{k: v for k, v in given.items() if v is not None})
    return Context(desc, name=name, label=label(name))


register("noaa", _noaa, label="no AA")
register("taa", _taa, label="TAA", path_option="config")
register("taa-classic", functools.partial(_taa, classic=True), label="TAA classic", path_option="config")
for _model, _text in (("unet", "U-Net"), ("qwnet", "QW-Net"), ("qwnet-fast", "QW-Net fast")):
    for _precision, _ptext in (("fp32", "FP32"), ("int4", "4-bit")):
        register(f"{_model}-{_precision}",
                 functools.partial(_network, default_model=_model, precision=_precision),
                 label=f"{_text} {_ptext}", path_option="model")
for _precision, _ptext in (("fp32", "FP32"), ("int4", "4-bit")):
    register(f"qwnet-fast-up2-{_precision}",
             functools.partial(_network, default_model="qwnet-fast-up2", precision=_precision),
             label=f"QW-Net fast 2x {_ptext}", path_option="model", upscales=True)
del _model, _text, _precision, _ptext


# ----------------------------------------------------------------------------------------------------------
# the built-in upscalers (qwplugin.runtime.upscalers)

SPATIAL_BASELINES = (("noaa", ("bilinear", "bicubic", "lanczos")), ("taa", ("bilinear", "bicubic", "lanczos")),
                     ("qwnet-int4", ("lanczos",)), ("qwnet-fp32", ("lanczos",)),
                     ("qwnet-fast-int4", ("lanczos",)), ("qwnet-fast-fp32", ("lanczos",)))
"""``(render-size method, spatial upscalers)``: the ``METHOD+UPSCALER`` names registered for both targets."""


def _taau(name, size, *, display_size=None, config=None, source=None, **_):
    from qwplugin.runtime.upscalers import TAAU

    kwargs = {} if source is None else {"source": source}
    return TAAU(size, display_size, config, name=name, label=label(name), **kwargs)


def spatial_factory(inner: str, method: str, target: str = "array") -> Factory:
    """The factory of ``INNER+METHOD``: ``make(inner, render_size, target=target, **options)`` then the
    spatial upscaler (:class:`~qwplugin.runtime.upscalers.SpatialUpscale` for arrays; the GL module passes
    its own wrapper)."""

    def factory(name, size, *, display_size=None, **options):
        from qwplugin.runtime.upscalers import SpatialUpscale

        inner_method = make(inner, size, target="array", **options)
        try:
            return SpatialUpscale(inner_method, method, display_size, name=name, label=label(name))
        except Exception:
            inner_method.close()
            raise

    assert target == "array", target
    return factory


def spatial_label(inner: str, method: str) -> str:
    """E.g. ``"TAA + Lanczos-3"``."""
    from qwplugin.runtime.upscalers import SPATIAL_LABELS

    return f"{label(inner)} + {SPATIAL_LABELS[method]}"


register("taau", _taau, label="TAAU", upscales=True, path_option="config")
for _inner, _methods in SPATIAL_BASELINES:
    for _m in _methods:
        register(f"{_inner}+{_m}", spatial_factory(_inner, _m), label=spatial_label(_inner, _m), upscales=True,
                 path_option=_REGISTRY[_inner].path_option)
del _inner, _methods, _m

NETWORK_SPATIAL = ("noaa", "taa", "qwnet-fast-int4", "qwnet-fast-fp32")
"""The render-size methods registered with ``+asconvsr`` (the shipped AsConvSR x2; array target only)."""
for _inner in NETWORK_SPATIAL:
    register(f"{_inner}+asconvsr", spatial_factory(_inner, "asconvsr"), label=spatial_label(_inner, "asconvsr"),
             upscales=True, path_option=_REGISTRY[_inner].path_option)
del _inner


# ----------------------------------------------------------------------------------------------------------
# routed QW-Net / TAA (qwplugin.runtime.routed)

ROUTED_SPEC_OPTIONS = ("k", "budget_ms", "tile", "halo", "hysteresis", "precision")
"""What ``qwnet-routed:key=value`` may set (e.g. ``qwnet-routed:k=1``, ``qwnet-routed:budget_ms=150``)."""


def _routed(name, size, *, trained: bool, precision="int4", model=None, backend=None, int4_backend=None, seed=None,
            k=0.0, budget_ms=None, tile=None, halo=None, hysteresis=True, **_):
    from qwplugin.runtime.routed import DEFAULT_HALO, DEFAULT_TILE, RoutedQWNet

    classifier, source = "rule", "hand-set rule (not trained)"
    if trained:
        from qwplugin.routing.weights import SHIPPED_CLASSIFIER, load_classifier

        if not SHIPPED_CLASSIFIER.exists():
            raise InvalidArgument("no trained routing classifier is shipped", field="--methods",
                                  expected="qwnet-routed-rule (the rule-based router)", actual=name)
        classifier, meta = load_classifier(SHIPPED_CLASSIFIER)
        source = f"trained ({SHIPPED_CLASSIFIER.name}: {meta.get('training', 'PCSR phase 1')})"
        tile = classifier.tile if tile is None else tile
    return RoutedQWNet(size, precision=precision, model=model or "qwnet", backend=backend,
                       int4_backend=int4_backend, seed=seed, classifier=classifier, k=k, budget_ms=budget_ms,
                       tile=DEFAULT_TILE if tile is None else tile, halo=DEFAULT_HALO if halo is None else halo,
                       hysteresis=hysteresis, name=name, label=label(name), classifier_source=source)


register("qwnet-routed", functools.partial(_routed, trained=True), label="QW-Net routed",
         spec_options=ROUTED_SPEC_OPTIONS)
register("qwnet-routed-rule", functools.partial(_routed, trained=False), label="QW-Net routed (rule)",
         spec_options=ROUTED_SPEC_OPTIONS)
