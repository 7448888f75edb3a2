"""``Context``: the one public entry object of the runtime (FSR 2 context / OIDN filter style).

Creation does the expensive work once (pick the device, load and verify the weights, build the model,
set its precision); ``dispatch(frame)`` is the cheap per-frame call; ``close()`` releases everything.
A refused frame (:class:`~qwplugin.errors.InvalidArgument`) changes nothing: every check runs before
any state is touched, and the new output becomes the history only after the whole step succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.model import ModelConfig, reconstruct_step
from qwplugin.model.display import displayed_linear
from qwplugin.quant import set_quantized
from qwplugin.runtime.backend import INT4_FAKE_QUANT, BackendInfo, attach_int4_backend, select_device
from qwplugin.runtime.budget import BudgetMonitor
from qwplugin.runtime.debug import DebugChecker
from qwplugin.runtime.desc import ContextDesc
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.timing import ModuleTimer, StageClock, TimingStats
from qwplugin.runtime.reconstructor import MethodInfo
from qwplugin.runtime.validate import FrameValues, check_arrays, check_frame, frame_to_tensors
from qwplugin.runtime.weights import LoadedModel, load_model
from qwplugin.model.upscale import is_upscaling
from qwplugin.model.upscale_step import reconstruct_upscale_step
from qwplugin.taa import TAAConfig, taa_resolve
from qwplugin.taau import TAAUConfig, taau_resolve

FALLBACK_DESCRIPTION = "TAA baseline (qwplugin.taa, PyTorch) on frames predicted over budget"
FALLBACK_DESCRIPTION_UPSCALING = "TAAU baseline (qwplugin.taau, PyTorch) on frames predicted over budget"


@dataclass(frozen=True)
class ContextStats:
    """A snapshot of a context's counters and timings (``Context.stats``).

    Attributes:
        frames: frames dispatched successfully since creation.
        refused_frames: frames refused with InvalidArgument.
        resets: history drops (``Frame.reset``, ``reset()``, ``resize()``).
        nonfinite_color_values: colour values that were NaN/Inf and were replaced by 0, in total.
        over_budget_frames: frames whose ``dispatch`` took longer than ``budget_ms``.
        fallback_frames: frames that ran the TAA baseline (policy ``"fallback"``).
        recent_over_budget: the latest over-budget frames as ``(frame index, ms)``.
        timing_median_ms: median ms per stage over the last ``timing_window`` frames (see
            :mod:`qwplugin.runtime.timing` for the stages).
        timing_last_ms: the last frame's ms per stage.
        timing_window: frames the medians cover (at most; fewer right after creation or a resize).
        debug_checks_fired: how often each debug check fired (``debug_checks=True`` only).
    """

    frames: int
    refused_frames: int
    resets: int
    nonfinite_color_values: int
    over_budget_frames: int
    fallback_frames: int
    recent_over_budget: tuple[tuple[int, float], ...]
    timing_median_ms: dict[str, float] = field(default_factory=dict)
    timing_last_ms: dict[str, float] = field(default_factory=dict)
    timing_window: int = 0
    debug_checks_fired: dict[str, int] = field(default_factory=dict)


class Context:
    """A QW-Net reconstruction context: owns the model, the history and the statistics.

    Args:
        desc: the :class:`ContextDesc`.
        model: optional already-built ``nn.Module`` to run instead of loading ``desc.model`` (e.g. a
            model fresh from training); it must follow the model interface
            ``forward(color_nw, history_nw, depth=None)`` and should carry its ``ModelConfig`` as
            ``.config``. ``backend_info`` then reports "caller-supplied module".

    Raises:
        InvalidArgument: ``desc`` is not a ContextDesc; bad weights (see :mod:`~qwplugin.runtime.weights`);
            ``precision="int4"`` with a model that has no quantizers.
            A ``display_size`` the model does not produce (field ``display_size``): an anti-aliasing model
            needs ``display_size == render_size``; an upscaling model (``"qwnet-fast-up2"``,
            :mod:`qwplugin.model.upscale`) needs the render size ``floor(display / s)`` of its scale ``s``.
        name: the registry name reported by :attr:`info` (default ``"qwnet-fast-<precision>"`` for the
            built-in ``qwnet-fast``, else ``"<model kind>-<precision>"``).
        label: the human label reported by :attr:`info` (default: ``name``).

    **Temporal upscaling.** With an upscaling model the inputs stay at ``render_size`` (motion in render
    pixels, jitter in render pixels, depth at the render size) and the output and the history are at
    ``display_size``; ``jitter_px`` is required (it places each sample on the display grid). The budget
    fallback is then the TAAU (:mod:`qwplugin.taau`) instead of the TAA.

    A context implements the reconstructor protocol (:class:`~qwplugin.runtime.reconstructor.Reconstructor`:
    ``dispatch``, ``reset``, ``resize``, ``close``, ``info``); ``qwplugin.runtime.registry.make("qwnet-int4",
    size)`` builds one by name.
        UnsupportedHardware: ``backend="cuda"`` without CUDA.

    Examples:
        >>> import numpy as np
        >>> ctx = Context(ContextDesc(render_size=(16, 8), model="qwnet-tiny", backend="cpu"))
        >>> frame = Frame(color=np.ones((8, 16, 3), np.float32), motion_px=np.zeros((8, 16, 2), np.float32),
        ...               jitter_px=(0.0, -0.17), reset=True)
        >>> ctx.dispatch(frame).shape
        (8, 16, 3)
        >>> ctx.backend_info.weights
        'untrained: random init (seed 0)'
        >>> ctx.close()
    """

    def __init__(self, desc: ContextDesc, *, model: torch.nn.Module | None = None, name: str | None = None,
                 label: str | None = None):
        if not isinstance(desc, ContextDesc):
            raise InvalidArgument("Context takes a ContextDesc", field="desc", expected="ContextDesc",
                                  actual=type(desc).__name__)
        self._desc = desc
        self._routed = None
        if desc.budget_policy == "route":
            self._init_routed(desc, model, name, label)
            return
        self._device, device_reason = select_device(desc.backend)
        loaded = self._load(desc, model)
        quantized = desc.precision == "int4"
        if loaded.integer:
            # The shipped int4 file is an integer program: it runs as IntegerQWNet, no float extractor.
            if not quantized:
                raise InvalidArgument("an integer weights file runs only at precision 'int4'", field="precision",
                                      expected="'int4' for a qwplugin-int4 file", actual=repr(desc.precision))
            precision_detail, int_notes = loaded.model.use_backend(desc.int4_backend, self._device)
            self._model = loaded.model.to(self._device).eval()
            notes = list(loaded.notes) + int_notes
        elif quantized and not _has_quantizers(loaded.model):
            raise InvalidArgument("precision 'int4' needs a quantization-aware model", field="precision",
                                  expected="a model with qwplugin.quant layers",
                                  actual=type(loaded.model).__name__)
        if not loaded.integer:
            set_quantized(loaded.model, quantized)
            self._model = loaded.model.to(self._device).eval()
            precision_detail, notes = "fp32", list(loaded.notes)
        if quantized and not loaded.integer:
            if model is None and loaded.config is not None and loaded.config.kind in ("qwnet", "unet"):
                precision_detail, int_notes = attach_int4_backend(self._model, desc.int4_backend,
                                                                  self._device)
                notes += int_notes
            else:
                precision_detail = INT4_FAKE_QUANT
                notes.append("caller-supplied module: runs its own fake-quant forward")
        config = loaded.config if loaded.config is not None else getattr(self._model, "config", None)
        self._upscaling = is_upscaling(self._model)
        kind = getattr(loaded.config, "kind", type(self._model).__name__)
        # The registry's name for the built-in fast models ("qwnet-fast-int4"); "<kind>-<precision>" otherwise.
        base = desc.model if desc.model in ("qwnet-fast", "qwnet-fast-up2") else kind
        self._name = name if name is not None else f"{base}-{desc.precision}"
        self._label = label if label is not None else self._name
        check_model_sizes(self._upscaling, config, self._name, desc.render_size, desc.display_size)
        candidate = getattr(loaded.config, "taa_candidate_config", None)
        self._sharpen = float(getattr(loaded.config, "output_sharpen", 0.0) or 0.0)
        if self._sharpen:
            notes.append(f"displayed output sharpened (strength {self._sharpen:g}, ModelConfig.output_sharpen); "
                         "the history stays unsharpened")
        self._uses_jitter = candidate is not None or self._upscaling
        self._use_depth = bool(getattr(loaded.config, "reads_depth", getattr(loaded.config, "use_depth", False)))
        if self._upscaling:
            off_scale = scale_note(config, desc.render_size, desc.display_size)
            if off_scale is not None:
                notes.append(off_scale)
            notes.append(f"temporal upscaling {config.upscale_factor:g}x per axis: inputs at the render size, "
                         "history and output at the display size; jitter_px places each sample on the display "
                         "grid" + (", a TAAU candidate is filtered with them" if candidate is not None else ""))
        elif candidate is not None:
            notes.append("model inputs: colour, history, jitter_px"
                         f"{', depth (and the previous frame depth)' if self._use_depth else ''}; a TAA candidate "
                         "resolved from the model's own history is filtered with them (ModelConfig.taa_candidate)")
        else:
            notes.append(f"model inputs: colour, history{', depth' if self._use_depth else ''}; jitter_px is not "
                         f"used by the model{'' if self._use_depth else ', depth is not used'}")
        features = getattr(self._model, "features", None)
        self._extractor_timer = ModuleTimer(features, self._device) if isinstance(features, torch.nn.Module) \
            else None
        self._info = BackendInfo(
            device=self._device.type, device_reason=device_reason, precision=desc.precision,
            precision_detail=precision_detail, model=loaded.name, model_kind=kind,
            weights=loaded.weights, trained=loaded.trained, notes=tuple(notes),
            fallback=((FALLBACK_DESCRIPTION_UPSCALING if self._upscaling else FALLBACK_DESCRIPTION)
                      if desc.budget_policy == "fallback" and desc.budget_ms else "none"),
            uses_jitter=self._uses_jitter, uses_depth=self._use_depth)
        self._taa_config = TAAConfig().without_depth()  # the fallback keeps no depth history
        self._taau_config = TAAUConfig().without_depth()  # the upscaling fallback
        self._model_config = config
        self._init_state(desc, desc.budget_policy, DebugChecker() if desc.debug_checks else None)

    def _init_state(self, desc: ContextDesc, budget_policy: str, debug: DebugChecker | None) -> None:
        """The per-context state both kinds of context start with: history, timing, budget, counters."""
        self._history: torch.Tensor | None = None
        self._history_depth: torch.Tensor | None = None  # the previous frame's depth (TAA-candidate models)
        self._timing = TimingStats(desc.timing_window)
        self._budget = BudgetMonitor(desc.budget_ms, budget_policy)
        self._debug = debug
        self._frame_index = 0
        self._refused = 0
        self._resets = 0
        self._nonfinite = 0
        self._closed = False

    def _init_routed(self, desc: ContextDesc, model, name: str | None, label: str | None) -> None:
        """``budget_policy="route"``: delegate each frame to a routed QW-Net / TAA (:mod:`.context_routing`)."""
        import dataclasses

        from qwplugin.runtime.context_routing import build_routed

        if model is not None:
            raise InvalidArgument("budget_policy 'route' loads its model from desc.model", field="model",
                                  expected="None (name the model in ContextDesc.model)", actual=type(model).__name__)
        self._routed, source = build_routed(desc, name, label)
        heavy = self._routed._heavy_ctx.backend_info
        self._device = self._routed._device
        self._info = dataclasses.replace(
            heavy, uses_depth=True, uses_jitter=True,
            fallback=f"routing: QW-Net on the hard tiles, the tuned TAA elsewhere; heavy fraction chosen per frame "
                     f"for the {desc.budget_ms:g} ms budget; classifier {source}",
            notes=tuple(heavy.notes) + ("budget_policy 'route': frames run qwplugin.runtime.routed.RoutedQWNet",))
        self._upscaling, self._use_depth, self._uses_jitter = False, True, True
        self._extractor_timer = None
        self._init_state(desc, "warn", None)  # the router keeps the budget itself; the monitor counts
        self._name = self._routed.info.name
        self._label = label if label is not None else self._name

    @property
    def routing_stats(self):
        """``budget_policy="route"``: the routing's :class:`~qwplugin.runtime.routed.RoutedStats` (heavy
        fraction last / mean / worst, k, pass ms); None for the other policies."""
        return None if self._routed is None else self._routed.stats

    def _dispatch_routed(self, frame: Frame, out) -> np.ndarray | torch.Tensor:
        import time

        if out is not None:
            try:
                _check_out(out, self._display_shape)
            except InvalidArgument:
                self._refused += 1
                raise
        had_history = self._routed._history is not None
        t0 = time.perf_counter()
        try:
            result = self._routed.dispatch(frame)
        except InvalidArgument:
            self._refused += 1
            raise
        ms = (time.perf_counter() - t0) * 1e3
        if frame.reset and had_history:
            self._resets += 1
        self._timing.add_frame({"filter": ms, "total": ms})  # the routing's own stages: routing_stats
        self._budget.observe(self._frame_index, ms, fallback=False)
        self._frame_index += 1
        return result if out is None else _copy_into(torch.as_tensor(result), out)

    @staticmethod
    def _load(desc: ContextDesc, model: torch.nn.Module | None) -> LoadedModel:
        if model is None:
            # int4_backend="fakequant" simulates the float QAT model: load its state dict, not the integer file.
            return load_model(desc.model, desc.precision, seed=desc.seed, integer=desc.int4_backend != "fakequant")
        if not isinstance(model, torch.nn.Module):
            raise InvalidArgument("model must be a torch.nn.Module", field="model", expected="nn.Module",
                                  actual=type(model).__name__)
        config = getattr(model, "config", None)
        return LoadedModel(model=model, config=config if isinstance(config, ModelConfig) else None,
                           name=type(model).__name__,
                           weights=f"caller-supplied module ({type(model).__name__})",
                           trained=True, notes=["weights supplied by the caller; not verified by qwplugin"])

    # ------------------------------------------------------------------------------------------------------
    # properties

    @property
    def desc(self) -> ContextDesc:
        """The current description (``render_size``/``display_size`` follow ``resize``)."""
        return self._desc

    @property
    def backend_info(self) -> BackendInfo:
        """Which device, precision and weights are running, and why (see :class:`BackendInfo`)."""
        return self._info

    @property
    def uses_depth(self) -> bool:
        """Whether the running model reads ``Frame.depth`` (``backend_info.uses_depth``)."""
        return self._use_depth

    @property
    def uses_jitter(self) -> bool:
        """Whether the running model reads ``Frame.jitter_px`` (``backend_info.uses_jitter``; QW-Net and
        the U-Net do not, the TAA fallback does)."""
        return self._info.uses_jitter

    @property
    def info(self) -> MethodInfo:
        """What this context runs, in the reconstructor protocol's terms (:class:`MethodInfo`):
        ``uses_depth`` / ``uses_jitter`` say which optional inputs the model reads."""
        b = self._info
        summary = f"{b.device}, {b.precision_detail}, {'trained' if b.trained else 'UNTRAINED weights'}"
        details = {"device": b.device, "precision_detail": b.precision_detail, "weights": b.weights}
        description = str(b)
        if self._upscaling:
            from qwplugin.runtime.upscalers import size_details

            (rw, rh), (dw, dh) = self._desc.render_size, self._desc.display_size
            summary = f"{summary}, {rw}x{rh} -> {dw}x{dh}"
            details.update(size_details(self._desc.render_size, self._desc.display_size))
            off_scale = scale_note(self._model_config, self._desc.render_size, self._desc.display_size)
            if off_scale is not None:
                description, details["scale_note"] = f"{description}; {off_scale}", off_scale
        return MethodInfo(name=self._name, label=self._label, description=description, uses_depth=b.uses_depth,
                          uses_jitter=b.uses_jitter, family="network", trained=b.trained, summary=summary,
                          details=details, render_size=self._desc.render_size, display_size=self._desc.display_size)

    @property
    def has_history(self) -> bool:
        """Whether the next frame will use a history (False after creation, reset and resize)."""
        if self._routed is not None:
            return self._routed._history is not None
        return self._history is not None

    @property
    def stats(self) -> ContextStats:
        """A snapshot of the counters and per-stage timing medians."""
        return ContextStats(
            frames=self._frame_index, refused_frames=self._refused, resets=self._resets,
            nonfinite_color_values=self._nonfinite, over_budget_frames=self._budget.over_budget_frames,
            fallback_frames=self._budget.fallback_frames, recent_over_budget=tuple(self._budget.recent_over),
            timing_median_ms=self._timing.medians(), timing_last_ms=self._timing.last(),
            timing_window=min(self._timing.window, self._timing.frames),
            debug_checks_fired=dict(self._debug.fired) if self._debug else {})

    # ------------------------------------------------------------------------------------------------------
    # verbs

    def dispatch(self, frame: Frame, out: np.ndarray | torch.Tensor | None = None
                 ) -> np.ndarray | torch.Tensor:
        """Reconstruct one frame; its output becomes the next frame's history.

        Args:
            frame: the inputs (see :class:`Frame` for the contract).
            out: optional preallocated (H, W, 3) float32 numpy array or torch tensor to write the output
                into (then returned).

        Returns:
            (H, W, 3) float32 linear HDR at display size, top-down: a numpy array when ``frame.color`` is
            numpy, else a torch tensor on the context's device; a fresh copy the caller may modify.

        Raises:
            InvalidArgument: a bad field (named, with expected and actual); nothing changes.
            InvalidOperation: after ``close()``.
        """
        self._require_open("dispatch")
        if self._routed is not None:
            return self._dispatch_routed(frame, out)
        clock = StageClock(self._device)
        try:
            values = check_frame(frame, self._desc.render_shape, needs_depth=self._use_depth,
                                 depth_convention=self._desc.depth_convention)
            if out is not None:
                _check_out(out, self._display_shape)
        except InvalidArgument:
            self._refused += 1
            raise
        return self._run(frame, values, out, clock)

    def _dispatch_checked(self, frame: Frame, values: FrameValues) -> np.ndarray | torch.Tensor:
        """``dispatch`` for a caller that already checked the frame's values (the GL bridge): checks the
        arrays only. Same results, counters and refusal semantics as :meth:`dispatch`."""
        self._require_open("dispatch")
        assert isinstance(values, FrameValues), type(values)
        if self._routed is not None:
            return self._dispatch_routed(frame, None)
        clock = StageClock(self._device)
        try:
            check_arrays(frame, self._desc.render_shape, needs_depth=self._use_depth,
                         depth_convention=self._desc.depth_convention,
                         motion_vector_scale=values.motion_vector_scale)
        except InvalidArgument:
            self._refused += 1
            raise
        return self._run(frame, values, None, clock)

    def _run(self, frame: Frame, values: FrameValues, out, clock: StageClock) -> np.ndarray | torch.Tensor:
        """The step itself, on a checked frame."""
        clock.lap("checks")
        d = self._desc
        ft = frame_to_tensors(frame, self._device, values, depth_convention=d.depth_convention,
                              camera_near=d.camera_near, camera_far=d.camera_far, use_depth=self._use_depth)
        clock.lap("input_transfer")
        history = None if ft.reset else self._history
        if self._debug is not None:
            self._debug.check_inputs(self._frame_index, ft)
            self._debug.check_history(self._frame_index, ft, history)
            clock.lap("checks")
        fallback = self._budget.use_fallback()
        if self._extractor_timer is not None:
            self._extractor_timer.pop_ms()
        with torch.no_grad():
            if fallback and self._upscaling:
                result = taau_resolve(ft.color, ft.motion_px, history, d.display_size, self._taau_config,
                                      ft.jitter_px)
            elif fallback:
                result = taa_resolve(ft.color, ft.motion_px, history, self._taa_config, ft.jitter_px)
            elif self._upscaling:
                result = reconstruct_upscale_step(self._model, ft.color, ft.motion_px, history, self._display_shape,
                                                  ft.jitter_px, ft.exposure, ft.depth,
                                                  prev_depth=None if history is None else self._history_depth)
            else:
                result = reconstruct_step(self._model, ft.color, ft.motion_px, history, ft.exposure, ft.depth,
                                          jitter_px=ft.jitter_px if self._uses_jitter else None,
                                          prev_depth=None if history is None else self._history_depth)
            # The model maps finite inputs to finite outputs; this guard keeps a numerical accident
            # (e.g. a bad caller-supplied model) from entering the history.
            result = torch.nan_to_num(result, nan=0.0, posinf=0.0, neginf=0.0)
        clock.lap("filter")
        if self._extractor_timer is not None:
            clock.move(self._extractor_timer.pop_ms(), "filter", "extractor")
        if ft.reset and self._history is not None:
            self._resets += 1
        self._history = result  # commit: only a fully successful step reaches the history
        # a copy: the frame's depth may be a view of a caller's or a transfer's reused buffer
        self._history_depth = ft.depth.clone() if self._uses_jitter and ft.depth is not None else None
        self._nonfinite += ft.nonfinite_color
        shown = result if fallback else displayed_linear(result, self._sharpen, ft.exposure)
        output = _deliver(shown, out, ft.as_numpy)
        clock.lap("output_transfer")
        times = clock.finish()
        self._timing.add_frame(times)
        self._budget.observe(self._frame_index, times["total"], fallback=fallback)
        self._frame_index += 1
        return output

    def reset(self) -> None:
        """Drop the history: the next frame starts a new accumulation (as ``Frame(reset=True)``).

        Raises:
            InvalidOperation: after ``close()``.
        """
        self._require_open("reset")
        if self._routed is not None:
            self._resets += self._routed._history is not None
            self._routed.reset()
            return
        if self._history is not None:
            self._resets += 1
        self._history = None

    def resize(self, render_size: tuple[int, int], display_size: tuple[int, int] | None = None) -> None:
        """Change the sizes: reallocates the per-size state and drops the history.

        Args:
            render_size: new ``(width, height)`` of the inputs.
            display_size: new output ``(width, height)``; None means the model's: ``render_size`` for an
                anti-aliasing model, ``round(render * s)`` per axis for an upscaling model of scale ``s``.

        Raises:
            InvalidArgument: bad sizes, or a ``display_size`` the model does not produce (field
                ``display_size``, see the class); the context is unchanged.
            InvalidOperation: after ``close()``.
        """
        self._require_open("resize")
        if self._routed is not None:
            desc = self._desc.with_sizes(render_size, display_size)
            check_model_sizes(False, None, self._name, desc.render_size, desc.display_size)
            self._resets += self._routed._history is not None
            self._routed.resize(desc.render_size)
            self._desc = desc
            self._timing.clear()
            self._budget.reset_measurements()
            return
        if display_size is None and self._upscaling:
            from qwplugin.model.upscale import display_size_for
            from qwplugin.upscale import check_size

            w, h = check_size(render_size, "render_size")
            dh, dw = display_size_for(self._model_config, (h, w))
            display_size = (dw, dh)
        desc = self._desc.with_sizes(render_size, display_size)
        check_model_sizes(self._upscaling, self._model_config, self._name, desc.render_size, desc.display_size)
        self._desc = desc
        if self._history is not None:
            self._resets += 1
        self._history = None
        self._timing.clear()
        self._budget.reset_measurements()
        if self._debug is not None:
            self._debug.reset()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    def close(self) -> None:
        """Release the model and the history; later ``dispatch``/``reset``/``resize`` raise. Idempotent."""
        if self._closed:
            return
        if self._extractor_timer is not None:
            self._extractor_timer.remove()
        if self._routed is not None:
            self._routed.close()
        self._history = None
        self._model = None
        self._closed = True

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _require_open(self, verb: str) -> None:
        if self._closed:
            raise InvalidOperation(f"Context.{verb} called after close()")

    @property
    def _display_shape(self) -> tuple[int, int]:
        """(H, W) of the output."""
        return self._desc.display_size[1], self._desc.display_size[0]

    @property
    def upscaling(self) -> bool:
        """Whether the model upscales (output and history at ``desc.display_size``, inputs at ``render_size``)."""
        return self._upscaling


def check_model_sizes(upscaling: bool, config, name: str, render_size: tuple[int, int],
                      display_size: tuple[int, int]) -> None:
    """Refuse a (render, display) pair the model does not produce.

    Raises:
        InvalidArgument: ``field="display_size"``: an anti-aliasing model with a display size that is not the
            render size (the message names the upscaling alternatives), or an upscaling model at a scale it
            cannot run (:func:`qwplugin.model.upscale.check_scale`: outside [1, 3], or not 2x for the render
            extractor; the message gives the sizes of its trained scale). A display-extractor model at a scale
            it was not trained at runs, with :func:`scale_note` among the context's notes.
    """
    render, display = tuple(render_size), tuple(display_size)
    if not upscaling:
        if display != render:
            from qwplugin.runtime.upscalers import qwnet_upscaling_error

            raise qwnet_upscaling_error(name, render, display)
        return
    from qwplugin.model.upscale import check_scale

    if config is None:
        raise InvalidArgument("an upscaling module must carry its ModelConfig as .config", field="model",
                              expected="a module with .config (ModelConfig, upscale_factor > 1)", actual="none")
    check_scale(config, (render[1], render[0]), (display[1], display[0]), field="display_size")


def scale_note(config, render_size: tuple[int, int], display_size: tuple[int, int]) -> str | None:
    """A note for a model run at a scale other than the one it was trained at (None when it is that one)."""
    from qwplugin.model.upscale import expected_render_size

    eh, ew = expected_render_size(config, (display_size[1], display_size[0]))
    if (ew, eh) == tuple(render_size):
        return None
    sx, sy = display_size[0] / render_size[0], display_size[1] / render_size[1]
    return (f"trained at {config.upscale_factor:g}x, running at {sx:.3g}x{sy:.3g}: a scale outside its training "
            "distribution (the network is not conditioned on the scale; quality there is measured, not trained)")


def _has_quantizers(model: torch.nn.Module) -> bool:
    from qwplugin.quant import QuantConv2d, QuantModule

    return any(isinstance(m, (QuantModule, QuantConv2d)) for m in model.modules())


def _check_out(out: object, render_shape: tuple[int, int]) -> None:
    h, w = render_shape
    if isinstance(out, np.ndarray):
        ok = out.shape == (h, w, 3) and out.dtype == np.float32 and out.flags.writeable
        actual = f"numpy {out.dtype} shape {out.shape}" + ("" if out.flags.writeable else " read-only")
    elif isinstance(out, torch.Tensor):
        ok = tuple(out.shape) == (h, w, 3) and out.dtype == torch.float32
        actual = f"torch {out.dtype} shape {tuple(out.shape)}"
    else:
        ok, actual = False, type(out).__name__
    if not ok:
        raise InvalidArgument("out must be a writable float32 (H, W, 3) array at display size", field="out",
                              expected=f"float32 ({h}, {w}, 3) numpy array or torch tensor", actual=actual)


def _deliver(result: torch.Tensor, out, as_numpy: bool):
    """Copy the (1, 3, H, W) result to the caller's (H, W, 3) type; never a view of the history."""
    hwc = result[0].permute(1, 2, 0)
    if out is None:
        if as_numpy:
            out = np.empty(tuple(hwc.shape), np.float32)
        else:
            return hwc.clone(memory_format=torch.contiguous_format)
    return _copy_into(hwc, out)


def _copy_into(hwc: torch.Tensor, out):
    """Copy (H, W, 3) ``hwc`` into the caller's checked ``out`` (numpy or torch); returns ``out``."""
    target = torch.from_numpy(out) if isinstance(out, np.ndarray) else out
    target.copy_(hwc)
    return out
