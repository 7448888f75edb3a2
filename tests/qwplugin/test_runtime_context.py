"""Context: dispatch, refused frames leave the history untouched, NaN does not poison, reset/resize/close."""

import math

import numpy as np
import pytest
import torch

from qwplugin import Context, ContextDesc, InvalidArgument, InvalidOperation, UnsupportedHardware
from qwplugin.model import ModelConfig, build_model, reconstruct_step
from qwplugin.ops.colour import from_network, to_network
from qwplugin.quant import set_quantized
from qwplugin.runtime.backend import INT4_FAKE_QUANT
from runtime_frames import SIZE, AverageModel, DepthRecorder, H, W, pan_frame, replace_frame


def _ctx(**kwargs) -> Context:
    kwargs = {"render_size": SIZE, "model": "qwnet-tiny", "backend": "cpu", **kwargs}
    return Context(ContextDesc(**kwargs))


def _run(ctx, frames):
    return [ctx.dispatch(f) for f in frames]


def _bad_frames():
    good = pan_frame(2)
    color = good.color.copy()
    color[1, 1, 0] = -1.0
    return [replace_frame(good, color=color), replace_frame(good, motion_px=None),
            replace_frame(good, jitter_px=(0.7, 0.0)), replace_frame(good, exposure=0.0),
            replace_frame(good, color=np.zeros((H + 1, W, 3), np.float32)),
            replace_frame(good, motion_px=good.motion_px.astype(np.int32))]


@pytest.mark.parametrize("precision", ["fp32", "int4"])
def test_refused_frame_leaves_history_untouched(precision):
    frames = [pan_frame(t) for t in range(4)]
    reference = _run(_ctx(precision=precision), frames)
    ctx = _ctx(precision=precision)
    outputs = _run(ctx, frames[:2])
    for bad in _bad_frames():
        with pytest.raises(InvalidArgument):
            ctx.dispatch(bad)
    with pytest.raises(InvalidArgument):
        ctx.dispatch(frames[2], out=np.zeros((H, W, 4), np.float32))  # bad `out` is refused before anything
    outputs += _run(ctx, frames[2:])
    for got, want in zip(outputs, reference):
        assert np.array_equal(got, want)  # exact: same ops on the same values
    assert ctx.stats.refused_frames == len(_bad_frames()) + 1 and ctx.stats.frames == 4


def test_nan_colour_does_not_poison_later_frames():
    frames = [pan_frame(t) for t in range(5)]
    color = frames[2].color.copy()
    color[3:6, 4:9] = np.nan
    color[0, 0] = np.inf
    poisoned = replace_frame(frames[2], color=color)
    ctx = _ctx()
    outputs = _run(ctx, frames[:2] + [poisoned] + frames[3:])
    assert all(np.isfinite(o).all() for o in outputs)
    # The documented policy is "replace by 0": the same run with zeros there is identical.
    zeroed = replace_frame(frames[2], color=np.where(np.isfinite(color), color, 0.0).astype(np.float32))
    reference = _run(_ctx(), frames[:2] + [zeroed] + frames[3:])
    for got, want in zip(outputs, reference):
        assert np.array_equal(got, want)
    assert ctx.stats.nonfinite_color_values == 3 * 15 + 3


def test_matches_reconstruct_step_called_directly():
    # The context's conversions (top-down (H, W, C) <-> (1, C, H, W), exposure, history) against the model API.
    config = ModelConfig.preset("tiny")
    torch.manual_seed(5)
    model = build_model(config).eval()
    set_quantized(model, True)
    ctx = Context(ContextDesc(render_size=SIZE, backend="cpu", precision="int4"), model=model)
    history = None
    for t in range(3):
        frame = pan_frame(t, exposure=0.5)
        got = ctx.dispatch(frame)
        with torch.no_grad():
            c = torch.from_numpy(frame.color).permute(2, 0, 1)[None].contiguous()
            m = torch.from_numpy(frame.motion_px).permute(2, 0, 1)[None].contiguous()
            history = reconstruct_step(model, c, m, None if frame.reset else history, 0.5)
        assert np.array_equal(got, history[0].permute(1, 2, 0).numpy())


def test_recurrence_with_a_test_double_by_hand():
    # Output = (color + warped history) / 2 in the network domain; motion -1 px in x, so pixel (i, j) takes the
    # history from (i, j - 1); column 0 reprojects outside and uses the current frame.
    ctx = Context(ContextDesc(render_size=SIZE, backend="cpu"), model=AverageModel())
    f0, f1 = pan_frame(0, exposure=2.0), pan_frame(1, exposure=2.0)
    out0 = ctx.dispatch(f0)
    np.testing.assert_allclose(out0, f0.color, rtol=1e-6)  # reset: history = current
    out1 = ctx.dispatch(f1)
    c1 = to_network(torch.from_numpy(f1.color), 2.0)
    hist = to_network(torch.from_numpy(out0), 2.0)
    warped = torch.cat([c1[:, :1], hist[:, :-1]], dim=1)
    expected = from_network(0.5 * (c1 + warped), 2.0).numpy()
    # float32 tonemap round trips: a few ulps of values <= ~2.1
    np.testing.assert_allclose(out1, expected, rtol=1e-5, atol=1e-6)


def test_torch_inputs_out_parameter_and_copies():
    frames = [pan_frame(t) for t in range(3)]
    reference = _run(_ctx(), frames)
    ctx = _ctx()
    t0 = ctx.dispatch(replace_frame(frames[0], color=torch.from_numpy(frames[0].color),
                                    motion_px=torch.from_numpy(frames[0].motion_px)))
    assert isinstance(t0, torch.Tensor) and t0.shape == (H, W, 3) and t0.dtype == torch.float32
    assert np.array_equal(t0.numpy(), reference[0])
    t0.fill_(123.0)  # the returned tensor is a copy: the history is unaffected
    out = np.zeros((H, W, 3), np.float32)
    got = ctx.dispatch(frames[1], out=out)
    assert got is out and np.array_equal(out, reference[1])
    out[:] = -1.0
    assert np.array_equal(ctx.dispatch(frames[2]), reference[2])


def test_reset_and_frame_reset_start_over():
    frames = [pan_frame(t) for t in range(3)]
    fresh = _ctx().dispatch(replace_frame(frames[2], reset=True))
    ctx = _ctx()
    _run(ctx, frames[:2])
    ctx.reset()
    assert not ctx.has_history
    assert np.array_equal(ctx.dispatch(frames[2]), fresh)
    _run(ctx, frames[:2])
    assert np.array_equal(ctx.dispatch(replace_frame(frames[2], reset=True)), fresh)
    assert ctx.stats.resets == 3  # reset(), frames[0] (reset=True) of the second run, the reset frame


def test_resize_reallocates_and_resets():
    ctx = _ctx()
    _run(ctx, [pan_frame(t) for t in range(2)])
    ctx.resize((20, 8))
    assert ctx.desc.render_size == (20, 8) and ctx.desc.display_size == (20, 8) and not ctx.has_history
    with pytest.raises(InvalidArgument) as e:
        ctx.dispatch(pan_frame(2))
    assert e.value.field == "color"
    small = [pan_frame(t, h=8, w=20, reset=False) for t in range(2, 4)]
    reference = _run(Context(ContextDesc(render_size=(20, 8), model="qwnet-tiny", backend="cpu")), small)
    for got, want in zip(_run(ctx, small), reference):
        assert np.array_equal(got, want)
    with pytest.raises(InvalidArgument):
        ctx.resize((20, 8), display_size=(40, 16))  # upscaling is not implemented: refused, nothing changes
    assert ctx.desc.render_size == (20, 8) and ctx.has_history


def test_close_is_final_and_idempotent():
    with _ctx() as ctx:
        ctx.dispatch(pan_frame(0))
    for call in (lambda: ctx.dispatch(pan_frame(1)), ctx.reset, lambda: ctx.resize((8, 8))):
        with pytest.raises(InvalidOperation):
            call()
    ctx.close()
    assert ctx.stats.frames == 1


def test_backend_info_is_honest():
    info = _ctx().backend_info
    assert info.device == "cpu" and info.device_reason == "cpu: requested" and info.precision_detail == "fp32"
    assert info.weights == "untrained: random init (seed 0)" and not info.trained
    assert "untrained: random init" in str(info) and info.fallback == "none"
    info = _ctx(precision="int4", int4_backend="fakequant", budget_ms=5.0, budget_policy="fallback").backend_info
    assert info.precision_detail == INT4_FAKE_QUANT == "int4 (fake-quant float simulation)"
    assert info.fallback.startswith("TAA baseline")
    auto = _ctx(precision="int4").backend_info
    assert auto.precision_detail == INT4_FAKE_QUANT or auto.precision_detail.startswith("int4 (integer backend ")
    caller = Context(ContextDesc(render_size=SIZE, backend="cpu"), model=AverageModel()).backend_info
    assert caller.weights == "caller-supplied module (AverageModel)"


def test_integer_backend_agrees_with_fake_quant():
    # The integer extractor's codes equal the fake-quant model's except within float rounding of a rounding
    # boundary (docs/integer.md); the output is a convex combination of inputs of magnitude ~2, so any such
    # one-code difference moves it by far less than 0.05. On these frames they are in fact identical.
    frames = [pan_frame(t) for t in range(3)]
    integer = _run(_ctx(precision="int4"), frames)
    fake = _run(_ctx(precision="int4", int4_backend="fakequant"), frames)
    for a, b in zip(integer, fake):
        np.testing.assert_allclose(a, b, atol=0.05)


def test_int4_really_quantizes_and_needs_quantizers():
    frames = [pan_frame(t) for t in range(2)]
    fp32, int4 = _run(_ctx(), frames), _run(_ctx(precision="int4"), frames)
    assert not np.array_equal(fp32[1], int4[1])
    with pytest.raises(InvalidArgument) as e:
        Context(ContextDesc(render_size=SIZE, backend="cpu", precision="int4"), model=AverageModel())
    assert e.value.field == "precision"


def test_backend_selection():
    auto = _ctx(backend="auto").backend_info
    if torch.cuda.is_available():
        assert auto.device == "cuda"
    else:
        assert auto.device == "cpu" and "is_available() is False" in auto.device_reason
        with pytest.raises(UnsupportedHardware, match="torch.cuda.is_available"):
            _ctx(backend="cuda")


def test_desc_type_is_checked():
    with pytest.raises(InvalidArgument) as e:
        Context({"render_size": SIZE})
    assert e.value.field == "desc"


def test_depth_is_converted_and_required_when_the_model_uses_it():
    config = ModelConfig.preset("tiny", use_depth=True)
    recorder = DepthRecorder(config)
    near, far = 0.5, 20.0
    ctx = Context(ContextDesc(render_size=SIZE, backend="cpu", depth_convention="ndc", camera_near=near,
                              camera_far=far), model=recorder)
    with pytest.raises(InvalidArgument) as e:
        ctx.dispatch(pan_frame(0))
    assert e.value.field == "depth"
    z = np.linspace(near, 10.0, H * W).reshape(H, W)
    d = far * (z - near) / (z * (far - near))  # window depth of view depth z
    ctx.dispatch(pan_frame(0, depth=d.astype(np.float32)))
    np.testing.assert_allclose(recorder.seen_depth[0, 0].numpy(), z, rtol=1e-4)  # float32 depth: ~1e-5


def test_stats_timing_stages():
    ctx = _ctx(timing_window=2)
    _run(ctx, [pan_frame(t) for t in range(3)])
    stats = ctx.stats
    assert stats.frames == 3 and stats.timing_window == 2
    stages = {"checks", "input_transfer", "extractor", "filter", "output_transfer", "total"}
    assert set(stats.timing_median_ms) == stages == set(stats.timing_last_ms)
    last = stats.timing_last_ms
    assert all(v >= 0 for v in last.values())
    assert last["extractor"] > 0  # the tiny QW-Net's U-Net ran under the hook
    assert math.isclose(sum(v for k, v in last.items() if k != "total"), last["total"], rel_tol=0.05, abs_tol=0.5)


def test_docs_sample_runs(tmp_path):
    # The integration sample of docs/runtime.md, with the tiny model (the paper model is slow on a CPU CI).
    import pathlib
    import warnings

    text = (pathlib.Path(__file__).parents[2] / "docs" / "runtime.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'model="qwnet"' in code
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a budget warning on a loaded CI machine is fine here
        exec(compile(code.replace('model="qwnet"', 'model="qwnet-tiny"'), "docs/runtime.md", "exec"), {})


@pytest.mark.gpu
def test_cuda_dispatch_matches_cpu():
    # cuDNN convolutions may use TF32 (10-bit mantissa) by default on Ampere+: ~1e-3 relative error per conv,
    # so outputs of magnitude ~2 agree with the CPU to 2e-2 absolute, not bit for bit.
    frames = [pan_frame(t) for t in range(3)]
    cpu = _run(_ctx(), frames)
    ctx = _ctx(backend="cuda")
    assert ctx.backend_info.device == "cuda"
    for f, want in zip(frames, cpu):
        got = ctx.dispatch(replace_frame(f, color=torch.from_numpy(f.color).cuda(),
                                         motion_px=torch.from_numpy(f.motion_px).cuda()))
        assert got.is_cuda and got.shape == (H, W, 3)
        np.testing.assert_allclose(got.cpu().numpy(), want, atol=2e-2)
    assert ctx.stats.timing_last_ms["extractor"] > 0
