"""``ContextDesc``: everything a :class:`~qwplugin.runtime.context.Context` is built from.

The description is fixed for the life of a context (FSR 2's ``FfxFsr2ContextDescription``); the
expensive work it implies (load weights, build the backend, allocate history) happens once, in
``Context(desc)``. Only the sizes change later, through ``Context.resize``.

Sizes are ``(width, height)`` in pixels, as in FSR 2 / DLSS; the arrays themselves are ``(H, W, C)``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

from qwplugin.errors import InvalidArgument

PRECISIONS = ("int4", "fp32")
"""``int4``: the 4-bit quantized feature extractor (QW-Net's point); ``fp32``: everything in float."""

BACKENDS = ("auto", "cpu", "cuda")
"""``auto`` picks ``cuda`` when ``torch.cuda.is_available()``, else ``cpu``."""

DEPTH_CONVENTIONS = ("linear_view", "ndc", "ndc_inverted")
"""Depth input conventions: positive linear view depth; window-space depth in [0, 1] (0 = near);
reversed-Z window-space depth (1 = near; ``camera_far`` may be ``inf``)."""

INT4_BACKENDS = ("auto", "triton", "cpu", "fakequant")
"""How ``precision="int4"`` executes the feature extractor (:mod:`qwplugin.intexec.select`): ``auto`` = the
fastest exact integer backend that passes its self-test (Triton int8 on sm_80+ CUDA, oneDNN int8 on CPU),
else the fake-quant float simulation; ``triton``/``cpu`` = that integer backend or UnsupportedHardware;
``fakequant`` = the quantization-aware model's fake-quant forward (4-bit values in float arithmetic)."""

BUDGET_POLICIES = ("warn", "fallback", "route")
"""Over budget: ``warn`` reports it (a :class:`BudgetWarning` and the stats); ``fallback`` also runs the
TAA baseline instead of QW-Net while QW-Net's recent median time is over budget; ``route`` runs QW-Net on
the hard tiles only and the tuned TAA elsewhere, the heavy fraction chosen each frame so the pass fits
``budget_ms`` (PCSR-style routing, :mod:`qwplugin.runtime.routed`; needs ``budget_ms``, a model without a
TAA candidate such as ``"qwnet"``, linear view depth and ``display_size == render_size``)."""


@dataclass(frozen=True)
class ContextDesc:
    """Description of a reconstruction context (validated on construction).

    Attributes:
        render_size: ``(width, height)`` of the inputs in render pixels, each >= 1.
        display_size: ``(width, height)`` of the output; ``None`` means equal to ``render_size``
            (anti-aliasing mode). A larger size is temporal upscaling (1x to 3x per axis, checked here,
            field ``display_size``; :func:`qwplugin.render_size_for` gives the render size of a mode). It
            needs an upscaling model of that scale (``model="qwnet-fast-up2"`` for 2x): the
            :class:`~qwplugin.runtime.context.Context` refuses a model trained for another scale, naming
            ``display_size``. Other upscalers run through the registry:
            ``qwplugin.make("taau" | "qwnet-int4+lanczos" | ..., render_size, display_size=...)``.
        model: a built-in model name (see :data:`qwplugin.runtime.weights.MODEL_NAMES`) or the path of a
            ``.safetensors`` weights file (``-up2`` names upscale 2x per axis). The default ``"qwnet-fast"`` is the shipped model with the best
            test-set quality (and 1/17 of the paper network's MACs); it reads depth and the jitter, so
            every :class:`~qwplugin.runtime.frame.Frame` must carry ``depth`` and ``jitter_px``.
            ``"qwnet"`` is the paper configuration (colour, motion and history only).
        precision: ``"int4"`` or ``"fp32"`` (see :data:`PRECISIONS`).
        backend: ``"auto"``, ``"cpu"`` or ``"cuda"`` (see :data:`BACKENDS`).
        int4_backend: how ``int4`` runs the extractor (see :data:`INT4_BACKENDS`); ignored for ``fp32``.
        depth_convention: how ``Frame.depth`` is encoded (see :data:`DEPTH_CONVENTIONS`).
        camera_near: near plane distance (> 0), needed for the ``ndc*`` depth conventions.
        camera_far: far plane distance (> camera_near; ``inf`` allowed for ``ndc_inverted``).
        budget_ms: per-frame time budget of ``dispatch`` in milliseconds (> 0), or ``None`` for none.
        budget_policy: ``"warn"``, ``"fallback"`` or ``"route"`` (see :data:`BUDGET_POLICIES`).
        debug_checks: run the integration checker (:mod:`qwplugin.runtime.debug`), which warns with
            :class:`~qwplugin.runtime.debug.DebugCheckWarning` about likely host mistakes.
        timing_window: number of recent frames the timing medians are taken over (>= 1).
        seed: seed of the random initialisation used when no trained weights exist for ``model``.

    Raises:
        InvalidArgument: on construction, naming the bad field with expected and actual values (a
            ``display_size`` outside 1x to 3x the render size per axis: field ``display_size``).

    Examples:
        >>> ContextDesc(render_size=(64, 32)).display_size
        (64, 32)
        >>> ContextDesc(render_size=(64, 32), display_size=(128, 64), model="qwnet-fast-up2").display_size
        (128, 64)
        >>> ContextDesc(render_size=(64, 32), precision="int8")
        Traceback (most recent call last):
        ...
        qwplugin.errors.InvalidArgument: unknown precision (expected one of int4, fp32, got 'int8')
    """

    render_size: tuple[int, int]
    display_size: tuple[int, int] | None = None
    model: str = "qwnet-fast"
    precision: str = "fp32"
    backend: str = "auto"
    int4_backend: str = "auto"
    depth_convention: str = "linear_view"
    camera_near: float | None = None
    camera_far: float | None = None
    budget_ms: float | None = None
    budget_policy: str = "warn"
    debug_checks: bool = False
    timing_window: int = 60
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "render_size", _check_size(self.render_size, "render_size"))
        display = self.render_size if self.display_size is None else _check_size(self.display_size,
                                                                                   "display_size")
        if display != self.render_size:
            from qwplugin.upscale import scale_of

            # 1x to 3x per axis, field display_size; whether the model upscales at this scale is the
            # Context's check (it knows the model)
            scale_of(self.render_size, display)
        object.__setattr__(self, "display_size", display)
        if not isinstance(self.model, str) or not self.model:
            raise InvalidArgument("model must be a model name or a weights path", field="model",
                                  expected="non-empty str", actual=repr(self.model))
        _check_choice(self.precision, PRECISIONS, "precision")
        _check_choice(self.backend, BACKENDS, "backend")
        _check_choice(self.int4_backend, INT4_BACKENDS, "int4_backend")
        _check_choice(self.depth_convention, DEPTH_CONVENTIONS, "depth_convention")
        _check_choice(self.budget_policy, BUDGET_POLICIES, "budget_policy")
        self._check_planes()
        if self.budget_ms is not None and not (_is_number(self.budget_ms) and math.isfinite(self.budget_ms)
                                               and self.budget_ms > 0):
            raise InvalidArgument("budget_ms must be a finite number > 0 or None", field="budget_ms",
                                  expected="finite > 0 or None", actual=repr(self.budget_ms))
        if self.budget_policy == "route" and self.budget_ms is None:
            raise InvalidArgument("budget_policy 'route' needs a budget", field="budget_ms",
                                  expected="finite > 0 (ms per frame)", actual="None")
        if not isinstance(self.debug_checks, bool):
            raise InvalidArgument("debug_checks must be a bool", field="debug_checks", expected="bool",
                                  actual=type(self.debug_checks).__name__)
        if not (isinstance(self.timing_window, int) and not isinstance(self.timing_window, bool)
                and self.timing_window >= 1):
            raise InvalidArgument("timing_window must be an int >= 1", field="timing_window",
                                  expected="int >= 1", actual=repr(self.timing_window))
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool)):
            raise InvalidArgument("seed must be an int", field="seed", expected="int", actual=repr(self.seed))

    def _check_planes(self) -> None:
        if self.depth_convention == "linear_view":
            return
        near, far = self.camera_near, self.camera_far
        if not (_is_number(near) and math.isfinite(near) and near > 0):
            raise InvalidArgument(f"depth_convention {self.depth_convention!r} needs camera_near",
                                  field="camera_near", expected="finite number > 0", actual=repr(near))
        allow_inf = self.depth_convention == "ndc_inverted"
        if not (_is_number(far) and far > near and (math.isfinite(far) or allow_inf)):
            expected = "number > camera_near" + (" (inf allowed)" if allow_inf else ", finite")
            raise InvalidArgument(f"depth_convention {self.depth_convention!r} needs camera_far",
                                  field="camera_far", expected=expected, actual=repr(far))

    def with_sizes(self, render_size: tuple[int, int], display_size: tuple[int, int] | None = None
                   ) -> ContextDesc:
        """A copy with new sizes (validated); ``display_size=None`` means equal to ``render_size``."""
        return replace(self, render_size=render_size, display_size=display_size)

    @property
    def render_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the input arrays."""
        return self.render_size[1], self.render_size[0]


def _is_number(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_choice(value: object, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise InvalidArgument(f"unknown {name}", field=name, expected="one of " + ", ".join(choices),
                              actual=repr(value))


def _check_size(size: object, name: str) -> tuple[int, int]:
    try:
        w, h = size  # type: ignore[misc]
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be (width, height)", field=name, expected="(width, height)",
                              actual=repr(size)) from None
    for v in (w, h):
        if not (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1):
            raise InvalidArgument(f"{name} must be two ints >= 1", field=name,
                                  expected="(width >= 1, height >= 1) ints", actual=repr(size))
    return int(w), int(h)
