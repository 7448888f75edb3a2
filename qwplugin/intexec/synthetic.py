"""Random quantized U-Net extractors with QW-Net's structure, for tests and benchmarks without weights.

The structure follows the released QW-Net extractor (``reference/qwnet.md`` section 2): per encoder level
``n`` 3x3 convs (the first one of level 0 with 8-bit weights on the 8-bit input), 2x2 max-pool between
levels; per decoder level a nearest 2x upsample of the coarser output, a concat with the encoder output of
the level (both sharing one scale), a 1x1 conv, then ``n`` 3x3 convs. Outputs: decoder outputs of levels
0..L-2 and the bottleneck, finest first.

Activation scales are calibrated on a random input so that codes spread over 0..15 (not all 0 or 15),
which exercises requantization and clamping.
"""

from __future__ import annotations

import torch

from qwplugin.intexec.program import Concat, Conv, IntProgram, MaxPool, TensorSpec, Upsample, f32

PAPER_ENCODER = ((32, 2), (64, 2), (96, 2), (128, 2), (160, 2))
PAPER_DECODER = ((32, 2), (64, 1), (96, 1), (128, 1))
TINY_ENCODER = ((8, 2), (12, 2), (16, 1))
TINY_DECODER = ((8, 1), (12, 1))


def random_unet_program(in_channels: int = 6, encoder=TINY_ENCODER, decoder=TINY_DECODER, seed: int = 0,
                        calib_size: int = 16, input_scale: float = 1.0 / 255) -> IntProgram:
    """Build a random :class:`IntProgram` shaped like QW-Net's U-Net extractor.

    Args:
        in_channels: network input channels (6: colour + warped history).
        encoder: ((channels, n_convs), ...) per level, finest first.
        decoder: ((channels, n_3x3_convs), ...) for levels 0..L-2.
        seed: RNG seed (weights, biases, calibration input).
        calib_size: side of the random calibration image (a multiple of 2^(L-1)).
        input_scale: scale of the 8-bit input codes.

    Returns:
        A validated program with calibrated activation scales.
    """
    from qwplugin.intexec.fakequant import FakeQuantExecutor  # local: avoid an import cycle at load

    assert len(decoder) == len(encoder) - 1
    g = torch.Generator().manual_seed(seed)
    levels = len(encoder)
    tensors: dict[str, TensorSpec] = {"input": TensorSpec("input", in_channels, f32(input_scale), 8)}
    ops: list = []
    # Scales are placeholders (1.0) here and calibrated below, layer by layer.
    shared: dict[str, str] = {}  # tensor -> the tensor whose scale it must share (concat partners)

    def conv(name: str, src: str, cout: int, k: int, wbits: int = 4) -> str:
        cin = tensors[src].channels
        lim = 2 ** (wbits - 1)
        w = torch.randint(-lim, lim, (cout, cin, k, k), generator=g, dtype=torch.int8)
        ws = (torch.rand(cout, generator=g) * 0.5 + 0.75) / (lim * (cin * k * k) ** 0.5)
        b = (torch.randn(cout, generator=g) * 8 * lim * (cin * k * k) ** 0.5).round().to(torch.int32)
        tensors[name] = TensorSpec(name, cout, 1.0, 4)
        ops.append(Conv(name, src, name, w, ws.float(), b, wbits))
        return name

    cur = "input"
    skips = []
    for lvl, (ch, n) in enumerate(encoder):
        if lvl > 0:
            pooled = f"enc{lvl}_pool"
            tensors[pooled] = TensorSpec(pooled, tensors[cur].channels, 1.0, 4)
            ops.append(MaxPool(cur, pooled))
            shared[pooled] = cur
            cur = pooled
        for j in range(n):
            cur = conv(f"enc{lvl}_conv{j}", cur, ch, 3, 8 if (lvl == 0 and j == 0) else 4)
        skips.append(cur)
    outputs = [cur]
    for lvl in range(levels - 2, -1, -1):
        ch, n = decoder[lvl]
        up = f"dec{lvl}_up"
        tensors[up] = TensorSpec(up, tensors[cur].channels, 1.0, 4)
        ops.append(Upsample(cur, up))
        shared[up] = cur
        shared[cur] = skips[lvl]  # the coarser output shares the skip's scale (one concat quantizer)
        cat = f"dec{lvl}_cat"
        tensors[cat] = TensorSpec(cat, tensors[up].channels + tensors[skips[lvl]].channels, 1.0, 4)
        ops.append(Concat((skips[lvl], up), cat))
        shared[cat] = skips[lvl]
        cur = conv(f"dec{lvl}_fuse", cat, ch, 1)
        for j in range(n):
            cur = conv(f"dec{lvl}_conv{j}", cur, ch, 3)
        outputs.insert(0, cur)
    program = IntProgram("input", tensors, ops, outputs, pad_multiple=2 ** (levels - 1),
                         config={"synthetic": True, "encoder": [list(e) for e in encoder],
                                 "decoder": [list(d) for d in decoder], "seed": seed})
    _calibrate(program, shared, in_channels, calib_size, g, FakeQuantExecutor)
    program.validate()
    return program


def _root(name: str, shared: dict[str, str]) -> str:
    while name in shared:
        name = shared[name]
    return name


def _calibrate(program: IntProgram, shared, in_channels, size, g, executor_cls) -> None:
    """Set each conv's output scale to its 99.5th-percentile real value / 15 on a random input.

    Convs are calibrated in program order, so every input scale is final when a conv is measured; a conv
    whose output shares a concat partner's scale takes that scale instead.
    """
    x = torch.randint(0, 256, (1, in_channels, size, size), generator=g, dtype=torch.uint8)
    for idx, op in enumerate(program.ops):
        if not isinstance(op, Conv) or _root(op.dst, shared) != op.dst:
            continue
        body = IntProgram(program.input_name, program.tensors, program.ops[:idx], [op.src],
                          program.pad_multiple)
        src = executor_cls(body, channels_last=False).run_values(x)[op.src]
        w = op.weight.float() * op.weight_scale.view(-1, 1, 1, 1)
        b = op.bias.float() * program.tensors[op.src].scale * op.weight_scale
        y = torch.relu(torch.nn.functional.conv2d(src, w, b, padding=op.padding))
        scale = f32(max(float(torch.quantile(y.flatten()[:100000], 0.995)), 1e-6) / 15)
        for name, spec in list(program.tensors.items()):
            if _root(name, shared) == op.dst:
                program.tensors[name] = TensorSpec(name, spec.channels, scale, spec.bits)


def random_qwnet_program(seed: int = 0, **kwargs) -> IntProgram:
    """:func:`random_unet_program` plus QW-Net's kernel-predicting heads (``filter.down{d}``: 18 logits at
    level 0, 9 below; ``filter.up{d}``: 10), random 8-bit weights and int32 biases on each feature's
    accumulator grid.

    Args:
        seed: RNG seed; kwargs: passed to :func:`random_unet_program`.

    Returns:
        A validated whole-network program (``heads`` non-empty).
    """
    from qwplugin.intexec.program import LOGITS, ConvLogits

    program = random_unet_program(seed=seed, **kwargs)
    g = torch.Generator().manual_seed(seed + 7919)
    levels = len(program.outputs)
    heads = [(f"filter.down{d}", d, 18 if d == 0 else 9) for d in range(levels)]
    heads += [(f"filter.up{d}", d, 10) for d in range(levels - 1)]
    for name, d, cout in heads:
        src = program.outputs[d]
        cin = program.tensors[src].channels
        w = torch.randint(-127, 128, (cout, cin, 1, 1), generator=g, dtype=torch.int8)
        ws = (torch.rand(cout, generator=g) * 0.5 + 0.75) / (127 * cin ** 0.5)
        b = (torch.randn(cout, generator=g) * 500).round().to(torch.int32)
        program.tensors[name] = TensorSpec(name, cout, 1.0, 32, LOGITS)
        program.ops.append(ConvLogits(name, src, name, w, ws.float(), b, 8))
        program.heads.append(name)
    program.validate()
    return program
