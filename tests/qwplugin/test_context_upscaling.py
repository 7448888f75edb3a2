"""The Context running an upscaling QW-Net: inputs at the render size, output and history at the display size.

References are computed another way: the training recurrence :func:`qwplugin.model.upscale.run_upscale_sequence`
on the same frames (the Context goes through numpy, the per-frame step and its own history), the in-memory
integer twin for a shipped-format integer file, and :func:`qwplugin.taau.taau_resolve` for the budget fallback.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qwplugin import Context, ContextDesc, Frame, make
from qwplugin.errors import InvalidArgument
from qwplugin.model import ModelConfig, build_model
from qwplugin.model.upscale import run_upscale_sequence
from qwplugin.model.upscale_int import IntegerUpscaleQWNet, export_upscale_network
from qwplugin.quant import set_quantized
from qwplugin.taau import TAAUConfig, taau_resolve

W, H = 12, 8          # render size
DW, DH = 24, 16       # display size (2x)


def _model(**fields) -> torch.nn.Module:
    torch.manual_seed(3)
    net = build_model(ModelConfig.preset("tiny", upscale_factor=2.0, **fields)).eval()
    return net


def _frames(n: int, seed: int = 0, reset_at: int | None = None) -> list[Frame]:
    rng = np.random.default_rng(seed)
    return [Frame(color=rng.uniform(0, 4, (H, W, 3)).astype(np.float32),
                  motion_px=rng.uniform(-1.5, 1.5, (H, W, 2)).astype(np.float32),
                  depth=rng.uniform(1, 5, (H, W)).astype(np.float32),
                  jitter_px=tuple(float(v) for v in rng.uniform(-0.5, 0.5, 2)), reset=i == 0 or i == reset_at)
            for i in range(n)]


def _stack(frames: list[Frame]):
    colors = torch.stack([torch.from_numpy(f.color).permute(2, 0, 1) for f in frames])[None]
    motions = torch.stack([torch.from_numpy(f.motion_px).permute(2, 0, 1) for f in frames])[None]
    depth = torch.stack([torch.from_numpy(f.depth)[None] for f in frames])[None]
    jitter = torch.tensor([list(f.jitter_px) for f in frames], dtype=torch.float32)[None]
    resets = torch.tensor([[bool(f.reset) for f in frames]])
    return colors, motions, resets, jitter, depth


@pytest.mark.parametrize("fields,display", [({}, (DW, DH)), ({"taa_candidate": "tuned", "filter_init": "taa"}, (DW, DH)),
                                            ({"history_warp": "catmull_rom"}, (DW, DH)),
                                            ({"taa_candidate": "tuned", "filter_init": "taa"}, (18, 12))],
                         ids=["plain", "taau-candidate", "catmull-rom-warp", "2x-model-at-1.5x"])
def test_context_equals_the_training_recurrence_frame_by_frame(fields, display):
    # A mid-sequence reset, per-frame jitter and (for the candidate model) depth and the previous depth: the
    # Context's per-frame step and history must give what the training recurrence gives, also for a model run
    # at a scale it was not built for. Tolerance 2e-5: the same float ops in a different grouping (batch of 1
    # per frame, numpy round trip).
    net = _model(**fields)
    frames = _frames(5, reset_at=3)
    colors, motions, resets, jitter, depth = _stack(frames)
    dw, dh = display
    with torch.no_grad():
        want = run_upscale_sequence(net, colors, motions, resets, jitter, depth=depth, display_hw=(dh, dw))
    ctx = Context(ContextDesc(render_size=(W, H), display_size=display, backend="cpu"), model=net)
    assert ctx.upscaling and ctx.uses_jitter
    off_scale = display != (DW, DH)
    assert any("trained at 2x, running at 1.5x1.5" in n for n in ctx.backend_info.notes) == off_scale
    assert ("trained at 2x, running at 1.5x1.5" in ctx.info.description) == off_scale
    for i, f in enumerate(frames):
        got = ctx.dispatch(f)
        assert got.shape == (dh, dw, 3) and got.dtype == np.float32
        np.testing.assert_allclose(got, want[0, i].permute(1, 2, 0).numpy(), atol=2e-5, rtol=0)
    assert ctx.stats.resets == 1
    ctx.close()


def test_out_must_be_the_display_size():
    ctx = Context(ContextDesc(render_size=(W, H), display_size=(DW, DH), model="qwnet-tiny-up2", backend="cpu"))
    f = _frames(1)[0]
    out = np.empty((DH, DW, 3), np.float32)
    assert ctx.dispatch(f, out=out) is out
    with pytest.raises(InvalidArgument) as err:
        ctx.dispatch(f, out=np.empty((H, W, 3), np.float32))
    assert err.value.field == "out" and f"({DH}, {DW}, 3)" in str(err.value)
    with pytest.raises(InvalidArgument) as err:  # inputs stay at the render size
        ctx.dispatch(Frame(color=np.zeros((DH, DW, 3), np.float32), motion_px=np.zeros((DH, DW, 2), np.float32),
                           jitter_px=(0.0, 0.0)))
    assert err.value.field == "color"
    assert ctx.stats.refused_frames == 2 and ctx.stats.frames == 1
    ctx.close()


def test_sizes_the_model_does_not_produce_are_refused_naming_display_size():
    for display in ((W, H), (3 * W + 1, H), (W, 3 * H + 2)):  # 1x, beyond 3x on one axis
        with pytest.raises(InvalidArgument) as err:
            Context(ContextDesc(render_size=(W, H), display_size=display, model="qwnet-tiny-up2", backend="cpu"))
        assert err.value.field == "display_size", err.value
    # the FSR 2 rounding: an odd display takes floor(display / 2) as the render size
    ctx = Context(ContextDesc(render_size=(W, H), display_size=(DW + 1, DH + 1), model="qwnet-tiny-up2",
                              backend="cpu"))
    assert ctx.dispatch(_frames(1)[0]).shape == (DH + 1, DW + 1, 3)
    # an anti-aliasing model asked to upscale names the upscaling model and the alternatives
    with pytest.raises(InvalidArgument) as err:
        Context(ContextDesc(render_size=(W, H), display_size=(DW, DH), model="qwnet-tiny", backend="cpu"))
    assert err.value.field == "display_size" and "qwnet-fast-up2" in str(err.value) and "taau" in str(err.value)


def test_resize_keeps_the_scale_and_refuses_without_changing_anything():
    ctx = Context(ContextDesc(render_size=(W, H), display_size=(DW, DH), model="qwnet-tiny-up2", backend="cpu"))
    ctx.dispatch(_frames(1)[0])
    with pytest.raises(InvalidArgument) as err:
        ctx.resize((W, H), (W, H))
    assert err.value.field == "display_size"
    assert ctx.desc.display_size == (DW, DH) and ctx.has_history
    ctx.resize((10, 6))  # None: the model's scale
    assert ctx.desc.render_size == (10, 6) and ctx.desc.display_size == (20, 12) and not ctx.has_history
    rng = np.random.default_rng(1)
    frame = Frame(color=rng.uniform(0, 1, (6, 10, 3)).astype(np.float32), motion_px=np.zeros((6, 10, 2), np.float32),
                  jitter_px=(0.25, 0.0))
    assert ctx.dispatch(frame).shape == (12, 20, 3)
    assert ctx.info.render_size == (10, 6) and ctx.info.display_size == (20, 12)
    ctx.close()


def test_an_integer_file_of_an_upscaling_model_runs_as_its_integer_twin(tmp_path):
    from qwplugin.train.export import export_integer

    net = _model(quantized=True)
    set_quantized(net, True)
    frames = _frames(3)
    colors, motions, resets, jitter, depth = _stack(frames)
    path = export_integer(net, tmp_path / "up2-int4.safetensors")
    ctx = Context(ContextDesc(render_size=(W, H), display_size=(DW, DH), model=str(path), precision="int4",
                              int4_backend="cpu", backend="cpu"))
    assert isinstance(ctx._model, IntegerUpscaleQWNet) and ctx.upscaling
    twin = IntegerUpscaleQWNet(export_upscale_network(net), net.config)
    twin.use_backend("cpu")
    with torch.no_grad():
        want = run_upscale_sequence(twin, colors, motions, resets, jitter, depth=depth, display_hw=(DH, DW))
    for i, f in enumerate(frames):
        # the same program on the same backend; the float front end and tail as in the first test (2e-5)
        np.testing.assert_allclose(ctx.dispatch(f), want[0, i].permute(1, 2, 0).numpy(), atol=2e-5, rtol=0)
    ctx.close()


def test_budget_fallback_runs_the_taau_on_the_display_history():
    # Every real frame is over a 1e-6 ms budget: after the first network frame the context runs the TAAU,
    # continuing from the network's display-size output (one history), checked against taau_resolve.
    ctx = Context(ContextDesc(render_size=(W, H), display_size=(DW, DH), model="qwnet-tiny-up2", backend="cpu",
                              budget_ms=1e-6, budget_policy="fallback"))
    assert "TAAU" in ctx.backend_info.fallback
    frames = _frames(3)
    history = torch.from_numpy(ctx.dispatch(frames[0])).permute(2, 0, 1)[None]
    for f in frames[1:]:
        got = ctx.dispatch(f)
        c = torch.from_numpy(f.color).permute(2, 0, 1)[None].contiguous()
        m = torch.from_numpy(f.motion_px).permute(2, 0, 1)[None].contiguous()
        history = taau_resolve(c, m, history, (DW, DH), TAAUConfig().without_depth(), f.jitter_px)
        np.testing.assert_array_equal(got, history[0].permute(1, 2, 0).numpy())
    assert ctx.stats.fallback_frames == 2
    ctx.close()


def test_registry_names_of_the_upscaling_model():
    r = make("qwnet-fast-up2-int4", (W, H), display_size=(DW, DH), model="qwnet-tiny-up2", backend="cpu")
    assert r.info.name == "qwnet-fast-up2-int4" and r.info.display_size == (DW, DH)
    assert r.dispatch(_frames(1)[0]).shape == (DH, DW, 3)
    r.close()
    with pytest.raises(InvalidArgument) as err:  # no display size: the render size, which a 2x model refuses
        make("qwnet-fast-up2-fp32", (W, H), model="qwnet-tiny-up2", backend="cpu")
    assert err.value.field == "display_size"


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "int4"])
def test_cuda_upscaling_context_matches_cpu(precision):
    # cuDNN may use TF32 (10-bit mantissa) on Ampere+: ~1e-3 relative per conv, so outputs of magnitude ~4
    # agree with the CPU to 3e-2 absolute (as the anti-aliasing test's 2e-2 at magnitude ~2). The int4 path runs
    # the integer extractor on each device's own exact backend: the integer codes agree, the float tail to TF32.
    frames = _frames(3)
    desc = dict(render_size=(W, H), display_size=(DW, DH), model="qwnet-tiny-up2", precision=precision)
    cpu = Context(ContextDesc(**desc, backend="cpu"))
    want = [cpu.dispatch(f) for f in frames]
    ctx = Context(ContextDesc(**desc, backend="cuda"))
    assert ctx.backend_info.device == "cuda" and ctx.upscaling
    for f, w in zip(frames, want):
        got = ctx.dispatch(Frame(color=torch.from_numpy(f.color).cuda(), motion_px=torch.from_numpy(f.motion_px).cuda(),
                                 depth=torch.from_numpy(f.depth).cuda(), jitter_px=f.jitter_px, reset=f.reset))
        assert got.is_cuda and got.shape == (DH, DW, 3)
        np.testing.assert_allclose(got.cpu().numpy(), w, atol=3e-2)
    cpu.close()
    ctx.close()
