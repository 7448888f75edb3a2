"""Model configuration: one dataclass, three presets (``paper`` = the released QW-Net, ``fast`` ~5k MAC/px,
``tiny`` for tests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from qwplugin.errors import InvalidArgument

KINDS = ("qwnet", "unet")
HISTORY_RECTIFICATIONS = (None, "variance_clip")
"""``ModelConfig.history_rectification``: None = the released network (the warped history enters as it
is); ``"variance_clip"`` = the history is first clamped per channel to the aliased frame's 3x3
neighbourhood box ``[max(min, mean - gamma * std), min(max, mean + gamma * std)]`` (network domain), the
rectification of a TAA (:func:`qwplugin.model.input_unit.rectify_history`)."""
HISTORY_WARPS = ("bilinear", "catmull_rom")
"""``ModelConfig.history_warp``: how the previous output is resampled at ``current + motion`` before the
network sees it. ``bilinear`` = the released network's warp (:func:`qwplugin.ops.warp.warp_backward`);
``catmull_rom`` = the 16-tap Catmull-Rom of the TAA and TAAU (:func:`qwplugin.taa.sample_catmull_rom`),
which blurs less at every fractional step, clamped per channel to the bilinear warp's 2x2 texels
(:func:`qwplugin.ops.warp.warp_backward_catmull_rom`). Changes no layer."""
NO_LAYER_FIELDS = ("output_sharpen", "history_warp", "quantized")
"""``ModelConfig`` fields that change no layer (the state dict is the same whatever their values): a weights
file of one value can start training with another (``init_from``) and be exported or restamped with another."""
FILTER_INITS = ("default", "taa")
"""``ModelConfig.filter_init``: ``default`` = Kaiming weights, zero biases (uniform kernels, as released);
``taa`` = small weights and biases that make every kernel start as a TAA blend (see
:meth:`qwplugin.model.filter_net.FilterNetwork.init_as_taa`)."""
TAA_CANDIDATE_CHANNELS = 3
"""The TAA candidate's RGB, appended to the network input when ``ModelConfig.taa_candidate`` is set."""
UNET_STRUCTURES = ("released", "v1")
"""Black-box U-Net variants (``ModelConfig.unet_structure``): ``released`` is ``model/unet.py`` of the
released code (average pooling, bilinear upsampling, the raw input concatenated into an FP32 1x1 output
conv, ReLU); ``v1`` is this project's first baseline (max-pool, nearest, 8-bit 1x1 conv on the 4-bit
features only, sigmoid), kept because the shipped ``unet-*.safetensors`` weights are that structure."""
PRESETS = {
    "paper": {},
    "fast": {"encoder_channels": (8, 16, 32, 48), "encoder_convs": (1, 1, 2, 2), "decoder_convs": (1, 1, 1)},
    "tiny": {"encoder_channels": (8, 12, 16), "encoder_convs": (2, 2, 2), "decoder_convs": (2, 1)},
}
"""Named configurations (field overrides of the defaults, which are the released ``paper`` network).

- ``paper``: 5 levels, 32/64/96/128/160 channels, 2 convs per encoder level: ~83.2k MAC/px.
- ``fast``: 4 levels, 8/16/32/48 channels, 1/1/2/2 encoder and 1/1/1 decoder convs: ~4.9k MAC/px
  (``python -m qwplugin.analysis --config fast --summary``), between Arm NSS (~2.8k) and FSR 4 (~6.7k);
  the same structure (4-bit U-Net, kernel-predicting filter at every level, 18 taps at full resolution).
- ``tiny``: 3 levels, 8/12/16 channels, for tests."""
RGB_CHANNELS = 6
"""Aliased RGB + warped history RGB: the released code's whole input."""
INPUT_UNIT_CHANNELS = 4
"""Grayscale and gradient magnitude of the aliased input and of the warped history."""
UPSCALE_INPUT_CHANNELS = 3
"""Extra channels of the display-resolution upscaling input: the coverage mask (1 where a render sample
landed in the display pixel this frame) and that sample's offset from the display pixel centre (x, y),
see :mod:`qwplugin.model.upscale`."""
UPSCALE_EXTRACTORS = ("display", "render")
"""``ModelConfig.upscale_extractor``: where the U-Net runs when upscaling. ``display``: on the
display-resolution input (zero-upsampled samples + mask + offsets); ``render``: on the render-resolution
frame and the history area-averaged to it, its finest features nearest-upsampled x2 for the filter's
display-resolution stage (integer scale 2 only; about a quarter of the extractor's MACs)."""


@dataclass
class ModelConfig:
    """Everything that determines a model's layers (and so its weights file layout).

    Attributes:
        kind: "qwnet" (U-Net features + kernel-predicting filter network) or "unet" (the black-box
            baseline: the same U-Net predicting colour directly).
        encoder_channels: channels per level, finest first (len = number of levels, >= 2).
        encoder_convs: 3x3 convs per encoder level (same length).
        decoder_convs: 3x3 convs per decoder level after its 1x1 projection (len = levels - 1); the
            decoder of level d outputs ``encoder_channels[d]`` channels, as in the released code.
        input_processing: add the input processing unit's 4 channels (grayscale + gradient magnitude of
            the aliased input and of the warped history) to the 6 RGB channels.
        use_depth: add normalised depth ``1 / (1 + z)`` as one more input channel.
        weight_bits: weight bits of the U-Net convs (4).
        first_conv_bits: weight bits of the very first conv (8).
        filter_bits: weight bits of the filter network's 1x1 convs and the baseline's output conv (8).
        act_bits: activation bits after each ReLU (4).
        input_bits: bits of the network input quantizer (8).
        act_max_init: initial clipping maximum of activation quantizers (released code: 1.0).
        input_max_init: initial clipping maximum of the input quantizer (inputs lie in [0, 1)).
        quantized: whether a freshly built model starts in fake-quant mode.
        kernel_logit_cap: if set, the filter network's kernel logits are soft-capped to
            ``cap * tanh(logit / cap)`` before the softmax (None: the released network, uncapped). A cap
            keeps the softmax away from one-hot saturation, where it has no gradient: see
            ``docs/training.md`` ("collapse into copy the history").
        history_rectification: None (released) or ``"variance_clip"``: clamp the warped history to the
            aliased frame's neighbourhood box before the network sees it (:data:`HISTORY_RECTIFICATIONS`).
        rectification_gamma: width of that box in standard deviations.
        filter_init: ``"default"`` or ``"taa"`` (:data:`FILTER_INITS`); QW-Net only.
        upscale_factor: temporal upscaling scale per axis (display / render), 1 = anti-aliasing at native
            size (every existing config); in [1, 3], QW-Net only (:class:`qwplugin.model.upscale.UpscaleQWNet`).
            One model per scale (it is not conditioned on the scale).
        upscale_extractor: ``"display"`` or ``"render"`` (:data:`UPSCALE_EXTRACTORS`); only read when
            ``upscale_factor > 1``.
        taa_candidate: None (released) or the fields of a :class:`qwplugin.taa.TAAConfig` (``"tuned"`` in a
            config file means ``TAAConfig()``'s, written out in full so a later change of the TAA's
            defaults cannot change a trained model). When set, every frame also gets a *TAA candidate*: the
            TAA resolved from this model's own previous output (:mod:`qwplugin.model.taa_candidate`).
            It is three more input channels, and the full-resolution kernel filters a third 3x3 image with
            27 taps in all. With ``filter_init="taa"`` the network starts as that TAA. QW-Net only; the
            recurrence must supply the jitter and the previous depth. An upscaling model's candidate is the
            TAAU (fields of :class:`qwplugin.taau.TAAUConfig`, ``"tuned"`` its defaults) resolved at display
            resolution from the model's own previous display output (:func:`qwplugin.model.taa_candidate.
            taau_candidate_nw`); the TAAU's own ``sharpen`` is not applied to it.
        output_sharpen: strength (>= 0; 0 = off, the released network) of the tuned TAA's output-only
            sharpening (:func:`qwplugin.taa.taa_sharpen`, unsharp mask of the 4-neighbour cross in the
            luma-tonemapped domain, clamped to the cross's range) applied to the *displayed* output; the
            history the next frame reads stays unsharpened, exactly as the TAA's (:mod:`qwplugin.model.display`).
            It changes no layer: a weights file's value can be tuned after training, on validation.
        history_warp: resampling of the warped history (:data:`HISTORY_WARPS`); ``"bilinear"`` (released)
            or ``"catmull_rom"``. Like ``output_sharpen`` it changes no layer, but a network is trained with
            one and should run with it.
        unet_structure: which black-box U-Net (``kind == "unet"`` only; see :data:`UNET_STRUCTURES`).
            The default and every preset build ``"released"``. A dict without this key given to
            :meth:`from_dict` with ``kind == "unet"`` means ``"v1"``: weights files and checkpoints
            written before the field existed hold that structure.
    """

    kind: str = "qwnet"
    encoder_channels: tuple[int, ...] = (32, 64, 96, 128, 160)
    encoder_convs: tuple[int, ...] = (2, 2, 2, 2, 2)
    decoder_convs: tuple[int, ...] = (2, 1, 1, 1)
    input_processing: bool = False
    use_depth: bool = False
    weight_bits: int = 4
    first_conv_bits: int = 8
    filter_bits: int = 8
    act_bits: int = 4
    input_bits: int = 8
    act_max_init: float = 1.0
    input_max_init: float = 1.0
    quantized: bool = False
    kernel_logit_cap: float | None = None
    history_rectification: str | None = None
    rectification_gamma: float = 1.5
    filter_init: str = "default"
    taa_candidate: dict | None = None
    output_sharpen: float = 0.0
    history_warp: str = "bilinear"
    unet_structure: str = "released"
    upscale_factor: float = 1.0
    upscale_extractor: str = "display"

    def __post_init__(self) -> None:
        self.encoder_channels = tuple(int(c) for c in self.encoder_channels)
        self.encoder_convs = tuple(int(c) for c in self.encoder_convs)
        self.decoder_convs = tuple(int(c) for c in self.decoder_convs)
        if self.taa_candidate == "tuned":
            self.taa_candidate = asdict(self._candidate_class()())
        self.validate()

    @property
    def levels(self) -> int:
        """Number of resolution levels (the U-Net pools ``levels - 1`` times)."""
        return len(self.encoder_channels)

    @property
    def size_multiple(self) -> int:
        """H and W are padded to multiples of this: ``2 ** (levels - 1)``."""
        return 2 ** (self.levels - 1)

    @property
    def upscales(self) -> bool:
        """True for a temporal-upscaling model (``upscale_factor > 1``)."""
        return self.upscale_factor != 1.0

    @property
    def in_channels(self) -> int:
        """Channels of the network (U-Net) input tensor."""
        extra = UPSCALE_INPUT_CHANNELS if self.upscales and self.upscale_extractor == "display" else 0
        candidate = TAA_CANDIDATE_CHANNELS if self.taa_candidate is not None else 0
        return RGB_CHANNELS + INPUT_UNIT_CHANNELS * self.input_processing + int(self.use_depth) + extra + candidate

    @property
    def reads_depth(self) -> bool:
        """Whether a model of this config needs each frame's depth: ``use_depth``, or a TAA candidate
        whose TAA dilates or rejects by depth."""
        return self.use_depth or (self.taa_candidate is not None and self.taa_candidate_config.uses_depth)

    def _candidate_class(self):
        """The candidate's configuration class: :class:`qwplugin.taa.TAAConfig` at native resolution,
        :class:`qwplugin.taau.TAAUConfig` for an upscaling model (``upscale_factor > 1``)."""
        if self.upscale_factor != 1.0:
            from qwplugin.taau import TAAUConfig

            return TAAUConfig
        from qwplugin.taa import TAAConfig

        return TAAConfig

    @property
    def taa_candidate_config(self):
        """The candidate's :class:`qwplugin.taa.TAAConfig` (native) or :class:`qwplugin.taau.TAAUConfig`
        (upscaling), or None when the model has none."""
        if self.taa_candidate is None:
            return None
        return self._candidate_class()(**self.taa_candidate)

    def validate(self) -> None:
        """Raise :class:`InvalidArgument` naming the first bad field."""
        if self.kind not in KINDS:
            raise InvalidArgument("unknown model kind", field="kind", expected=" or ".join(KINDS),
                                  actual=repr(self.kind))
        if self.levels < 2 or any(c < 1 for c in self.encoder_channels):
            raise InvalidArgument("need >= 2 levels of >= 1 channel", field="encoder_channels",
                                  expected=">= 2 positive ints", actual=repr(self.encoder_channels))
        if len(self.encoder_convs) != self.levels or any(c < 1 for c in self.encoder_convs):
            raise InvalidArgument("one conv count >= 1 per level", field="encoder_convs",
                                  expected=f"{self.levels} ints >= 1", actual=repr(self.encoder_convs))
        if len(self.decoder_convs) != self.levels - 1 or any(c < 0 for c in self.decoder_convs):
            raise InvalidArgument("one conv count >= 0 per decoder level", field="decoder_convs",
                                  expected=f"{self.levels - 1} ints >= 0", actual=repr(self.decoder_convs))
        for name in ("weight_bits", "first_conv_bits", "filter_bits", "act_bits", "input_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 2 <= value <= 8:
                raise InvalidArgument("bit width out of range", field=name, expected="int in [2, 8]",
                                      actual=repr(value))
        if self.unet_structure not in UNET_STRUCTURES:
            raise InvalidArgument("unknown U-Net structure", field="unet_structure",
                                  expected=" or ".join(UNET_STRUCTURES), actual=repr(self.unet_structure))
        cap = self.kernel_logit_cap
        if cap is not None and not (isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap > 0):
            raise InvalidArgument("kernel_logit_cap must be > 0 or None", field="kernel_logit_cap",
                                  expected="> 0 or None", actual=repr(cap))
        if self.history_rectification not in HISTORY_RECTIFICATIONS:
            raise InvalidArgument("unknown history rectification", field="history_rectification",
                                  expected="null or 'variance_clip'", actual=repr(self.history_rectification))
        if not (isinstance(self.rectification_gamma, (int, float)) and self.rectification_gamma > 0):
            raise InvalidArgument("rectification_gamma must be > 0", field="rectification_gamma", expected="> 0",
                                  actual=repr(self.rectification_gamma))
        if self.filter_init not in FILTER_INITS:
            raise InvalidArgument("unknown filter initialisation", field="filter_init",
                                  expected=" or ".join(FILTER_INITS), actual=repr(self.filter_init))
        up = self.upscale_factor
        if isinstance(up, bool) or not isinstance(up, (int, float)) or not 1.0 <= up <= 3.0:
            raise InvalidArgument("upscale_factor must be a number in [1, 3]", field="upscale_factor",
                                  expected="1 <= factor <= 3", actual=repr(up))
        self.upscale_factor = float(up)
        if self.upscale_extractor not in UPSCALE_EXTRACTORS:
            raise InvalidArgument("unknown upscaling extractor placement", field="upscale_extractor",
                                  expected=" or ".join(UPSCALE_EXTRACTORS), actual=repr(self.upscale_extractor))
        if self.upscales and self.kind != "qwnet":
            raise InvalidArgument("temporal upscaling is implemented for QW-Net only", field="upscale_factor",
                                  expected="1.0 for kind 'unet'", actual=repr(up))
        if self.upscales and self.upscale_extractor == "render" and self.upscale_factor != 2.0:
            raise InvalidArgument("the render-resolution extractor needs scale 2 (features upsampled x2)",
                                  field="upscale_extractor", expected="'display' for scale != 2",
                                  actual=f"'render' at {self.upscale_factor}")
        if self.taa_candidate is not None:
            cls = self._candidate_class()
            if not isinstance(self.taa_candidate, dict):
                raise InvalidArgument(f"taa_candidate must be null, 'tuned' or a dict of {cls.__name__} fields",
                                      field="taa_candidate", expected="null, 'tuned' or {field: value}",
                                      actual=repr(self.taa_candidate))
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(self.taa_candidate) - known)
            if unknown:
                raise InvalidArgument(f"unknown {cls.__name__} field in taa_candidate", field="taa_candidate",
                                      expected=", ".join(sorted(known)), actual=", ".join(unknown))
            cls(**self.taa_candidate)  # its own range checks
            if self.kind != "qwnet":
                raise InvalidArgument("the TAA candidate is implemented for QW-Net only", field="taa_candidate",
                                      expected="kind 'qwnet'", actual=f"kind {self.kind!r}")
        sharpen = self.output_sharpen
        if isinstance(sharpen, bool) or not isinstance(sharpen, (int, float)) or not 0.0 <= sharpen <= 2.0:
            raise InvalidArgument("output_sharpen must be a number in [0, 2]", field="output_sharpen",
                                  expected="0 (off) to 2", actual=repr(sharpen))
        self.output_sharpen = float(sharpen)
        if self.history_warp not in HISTORY_WARPS:
            raise InvalidArgument("unknown history warp", field="history_warp", expected=" or ".join(HISTORY_WARPS),
                                  actual=repr(self.history_warp))
        for name in ("act_max_init", "input_max_init"):
            if not getattr(self, name) > 0:
                raise InvalidArgument("clipping max must be > 0", field=name, expected="> 0",
                                      actual=repr(getattr(self, name)))

    @classmethod
    def preset(cls, name: str, **overrides) -> ModelConfig:
        """A named configuration, optionally with fields overridden.

        ``paper``: the released QW-Net config (5 levels, 32/64/96/128/160, 6-channel input, ~83k MAC/px).
        ``fast``: 4 levels, 8/16/32/48 channels (~4.9k MAC/px). ``tiny``: 3 levels, 8/12/16 channels, for
        tests. All the same structure (see :data:`PRESETS`); ``kind="unet"`` builds the released U-Net.

        Raises:
            InvalidArgument: unknown preset or field.

        Examples:
            >>> ModelConfig.preset("tiny").levels
            3
            >>> ModelConfig.preset("fast", kind="unet").unet_structure
            'released'
        """
        if name not in PRESETS:
            raise InvalidArgument("unknown preset", field="preset", expected=" or ".join(PRESETS),
                                  actual=repr(name))
        return cls.from_dict({"unet_structure": "released", **PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        """JSON-friendly dict (tuples as lists) that :meth:`from_dict` reads back."""
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        # optional fields at their defaults are left out: configs written before they existed stay equal
        for name, default in (("kernel_logit_cap", None), ("history_rectification", None),
                              ("rectification_gamma", 1.5), ("filter_init", "default"), ("taa_candidate", None),
                              ("output_sharpen", 0.0), ("history_warp", "bilinear"), ("upscale_factor", 1.0),
                              ("upscale_extractor", "display")):
            if data[name] == default:
                del data[name]
        if data["kind"] != "unet":  # QW-Net configs stay as they were written before the field existed
            del data["unet_structure"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Inverse of :meth:`to_dict`; missing fields take their defaults, except ``unet_structure`` of a
        ``kind == "unet"`` dict, which is ``"v1"`` when missing (see the class docstring).

        Raises:
            InvalidArgument: unknown keys or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument("unknown model config fields", field=unknown[0], expected=", ".join(sorted(known)),
                                  actual=", ".join(unknown))
        if data.get("kind") == "unet" and "unet_structure" not in data:
            data = {**data, "unet_structure": "v1"}
        return cls(**data)
