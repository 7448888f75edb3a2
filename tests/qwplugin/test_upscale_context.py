"""Upscaling through the registry and the Context (arrays, no GL): display-size outputs, wrong-size inputs
refused naming the field, ``taau`` = :class:`qwplugin.taau.TemporalUpscaler` exactly, the spatial baselines =
render-size method + :func:`qwplugin.ops.resample.upscale` exactly, an anti-aliasing QW-Net refused with a
display size."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qwplugin
from qwplugin import Context, ContextDesc, Frame, make
from qwplugin.errors import InvalidArgument
from qwplugin.ops.resample import upscale
from qwplugin.runtime import registry
from qwplugin.taau import TAAUConfig, TemporalUpscaler

W, H = 12, 8          # render size
DW, DH = 24, 16       # display size (2x, "performance")
NET = {"model": "qwnet-tiny", "backend": "cpu"}  # small random-init network: the sizes are what is tested


NET_UP2 = {"model": "qwnet-tiny-up2", "backend": "cpu"}  # the same for the upscaling QW-Net names


def _options(name: str) -> dict:
    if "-up2" in name:
        return NET_UP2
    return NET if "qwnet" in name or "unet" in name else {}


def _frames(n: int, size=(W, H), seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    for i in range(n):
        out.append(Frame(color=rng.uniform(0, 4, (h, w, 3)).astype(np.float32),
                         motion_px=rng.uniform(-1.5, 1.5, (h, w, 2)).astype(np.float32),
                         depth=rng.uniform(1, 5, (h, w)).astype(np.float32),
                         jitter_px=tuple(rng.uniform(-0.5, 0.5, 2)), reset=i == 0))
    return out


UPSCALERS = [n for n in registry.names("array") if registry.upscales(n)]


def test_the_upscaling_names_are_registered():
    for name in ("taau", "noaa+bilinear", "noaa+bicubic", "noaa+lanczos", "taa+lanczos", "qwnet-int4+lanczos",
                 "qwnet-fp32+lanczos"):
        assert name in UPSCALERS
    for name in ("noaa", "taa", "taa-classic", "qwnet-int4", "qwnet-fp32"):
        assert not registry.upscales(name)


def test_render_size_helper_is_exposed():
    from qwplugin import upscale

    assert qwplugin.render_size_for is upscale.render_size_for
    assert qwplugin.UPSCALING_MODES == upscale.MODES
    assert qwplugin.render_size_for((1920, 1080), "performance") == (960, 540)
    for mode, s in qwplugin.UPSCALING_MODES.items():  # FSR 2's floor rule, computed another way here
        assert qwplugin.render_size_for((1920, 1080), mode) == (int(1920 // s), int(1080 // s)), mode
    assert qwplugin.render_size_for((1920, 1080), "balanced") == (1129, 635)
    assert qwplugin.scale_of((960, 540), (1920, 1080)) == (2.0, 2.0)


@pytest.mark.parametrize("name", UPSCALERS)
def test_output_is_display_size(name):
    m = make(name, (W, H), display_size=(DW, DH), **_options(name))
    try:
        assert m.info.render_size == (W, H) and m.info.display_size == (DW, DH) and m.info.upscales
        assert f"{W}x{H}" in m.info.summary and f"{DW}x{DH}" in m.info.summary
        for f in _frames(3):
            out = m.dispatch(f)
            assert isinstance(out, np.ndarray) and out.shape == (DH, DW, 3) and out.dtype == np.float32
            assert np.isfinite(out).all() and (out >= 0).all()
        t = m.dispatch(Frame(color=torch.ones(H, W, 4), motion_px=torch.zeros(H, W, 2), depth=torch.ones(H, W),
                             jitter_px=(0.0, 0.0)))
        assert isinstance(t, torch.Tensor) and tuple(t.shape) == (DH, DW, 3)
        # a new render and display size (the 2x networks keep their scale: 8x6 -> 16x12)
        display = (16, 12) if "-up2" in name or "asconvsr" in name else (20, 15)
        m.resize((8, 6), display)
        assert m.info.render_size == (8, 6) and m.info.display_size == display
        assert m.dispatch(_frames(1, (8, 6))[0]).shape == (display[1], display[0], 3)
    finally:
        m.close()


@pytest.mark.parametrize("name", UPSCALERS)
@pytest.mark.parametrize("field", ["color", "motion_px", "depth"])
def test_wrong_size_inputs_are_refused_naming_the_field(name, field):
    m = make(name, (W, H), display_size=(DW, DH), **_options(name))
    try:
        good = _frames(2)
        m.dispatch(good[0])
        shapes = {"color": (DH, DW, 3), "motion_px": (DH, DW, 2), "depth": (DH, DW)}  # display size: wrong
        bad = Frame(**{**{k: getattr(good[1], k) for k in ("color", "motion_px", "depth", "jitter_px")},
                       field: np.ones(shapes[field], np.float32)})
        with pytest.raises(InvalidArgument) as err:
            m.dispatch(bad)
        assert err.value.field == field
        assert f"({H}, {W}" in err.value.expected  # the render size is what is expected
    finally:
        m.close()


def test_a_refused_frame_leaves_the_taau_history_unchanged():
    frames = _frames(4, seed=3)
    a, b = make("taau", (W, H), display_size=(DW, DH)), make("taau", (W, H), display_size=(DW, DH))
    for f in frames[:2]:
        a.dispatch(f)
        b.dispatch(f)
    with pytest.raises(InvalidArgument):
        a.dispatch(Frame(color=np.ones((DH, DW, 3), np.float32), motion_px=frames[2].motion_px,
                         depth=frames[2].depth, jitter_px=(0.0, 0.0)))
    for f in frames[2:]:
        np.testing.assert_array_equal(a.dispatch(f), b.dispatch(f))


@pytest.mark.parametrize("config", [TAAUConfig(), TAAUConfig(sharpen=0.0).without_depth()])
def test_registry_taau_equals_temporal_upscaler_exactly(config):
    frames = _frames(5, seed=1)
    method = make("taau", (W, H), display_size=(DW, DH), config=config)
    direct = TemporalUpscaler((DW, DH), config)
    for f in frames:
        got = method.dispatch(f)
        want = direct.step(torch.from_numpy(f.color).permute(2, 0, 1)[None],
                           torch.from_numpy(f.motion_px).permute(2, 0, 1)[None], reset=f.reset,
                           jitter_px=f.jitter_px,
                           depth=torch.from_numpy(f.depth)[None, None] if config.uses_depth else None)
        np.testing.assert_array_equal(got, want[0].permute(1, 2, 0).numpy())
    assert method.info.uses_depth == config.uses_depth and method.info.family == "taa"


@pytest.mark.parametrize("spec", ["taau=configs/taau_unsharpened.json", "taau-unsharpened=configs/taau_unsharpened.json"])
def test_a_taau_spec_with_a_json_file_runs_that_taau_config(spec, tmp_path):
    from pathlib import Path

    spec = spec.replace("configs/", str(Path(__file__).resolve().parents[2] / "configs") + "/")
    frames = _frames(3, seed=2)
    method = make(spec, (W, H), display_size=(DW, DH))
    direct = make("taau", (W, H), display_size=(DW, DH), config=TAAUConfig(sharpen=0.0))
    for f in frames:
        np.testing.assert_array_equal(method.dispatch(f), direct.dispatch(f))
    assert method.info.name == spec.split("=")[0] and "sharpen=0.0" in method.info.description
    bad = tmp_path / "bad_taau.json"
    bad.write_text('{"history_rectification": "clip"}')
    with pytest.raises(InvalidArgument):  # a TAA (not TAAU) field is refused
        make(f"taau={bad}", (W, H), display_size=(DW, DH))


@pytest.mark.parametrize("inner, method", [("noaa", "bilinear"), ("noaa", "lanczos"), ("taa", "lanczos"),
                                           ("taa", "bicubic"), ("qwnet-int4", "lanczos")])
def test_spatial_baseline_equals_render_size_method_then_upscale(inner, method):
    frames = _frames(3, seed=2)
    options = _options(inner)
    combined = make(f"{inner}+{method}", (W, H), display_size=(DW, DH), **options)
    alone = make(inner, (W, H), **options)
    for f in frames:
        low = torch.from_numpy(alone.dispatch(f)).permute(2, 0, 1)[None]
        want = upscale(low, (DW, DH), method, dering=True)[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(combined.dispatch(f), want)
    assert combined.info.details["inner"] == inner and combined.info.details["spatial_upscaler"] == method


def test_native_display_size_is_the_render_size_method():
    f = _frames(1)[0]
    np.testing.assert_array_equal(make("noaa+lanczos", (W, H)).dispatch(f), f.color)  # no resampling at 1x
    assert make("taau", (W, H)).dispatch(f).shape == (H, W, 3)


@pytest.mark.parametrize("precision", ["int4", "fp32"])
def test_context_refuses_an_anti_aliasing_model_asked_to_upscale_naming_the_alternatives(precision):
    desc = ContextDesc(render_size=(W, H), display_size=(DW, DH), model="qwnet-tiny", precision=precision)
    with pytest.raises(InvalidArgument) as err:
        Context(desc)
    assert type(err.value) is InvalidArgument and err.value.field == "display_size"
    assert "anti-aliasing model" in str(err.value) and f"qwnet-{precision}+lanczos" in str(err.value)
    assert f"qwnet-fast-up2-{precision}" in str(err.value)
    with pytest.raises(InvalidArgument) as err:
        make(f"qwnet-{precision}", (W, H), display_size=(DW, DH), **NET)
    assert err.value.field == "display_size" and f"qwnet-{precision}+lanczos" in str(err.value)
    ctx = Context(ContextDesc(render_size=(W, H), model="qwnet-tiny", precision=precision, backend="cpu"))
    ctx.dispatch(_frames(1)[0])
    with pytest.raises(InvalidArgument) as err:
        ctx.resize((W, H), (DW, DH))
    assert err.value.field == "display_size" and "anti-aliasing model" in str(err.value)
    assert ctx.desc.display_size == (W, H) and ctx.has_history  # refused: nothing changed
    assert ctx.info.render_size == (W, H) and ctx.info.display_size == (W, H)
    ctx.close()


def test_a_display_size_out_of_range_is_a_range_error():
    for display in ((4 * W, 4 * H), (W - 1, H)):
        with pytest.raises(InvalidArgument) as err:
            ContextDesc(render_size=(W, H), display_size=display)
        assert err.value.field == "display_size" and "1 to 3 times" in str(err.value)
        with pytest.raises(InvalidArgument) as err:
            make("taau", (W, H), display_size=display)
        assert err.value.field == "display_size"


def test_anti_aliasing_methods_refuse_a_display_size_naming_the_upscalers():
    with pytest.raises(InvalidArgument) as err:
        make("taa", (W, H), display_size=(DW, DH))
    assert err.value.field == "display_size" and "'taa+lanczos'" in str(err.value) and "'taau'" in str(err.value)
    m = make("noaa", (W, H))
    with pytest.raises(InvalidArgument) as err:
        m.resize((W, H), (DW, DH))
    assert err.value.field == "display_size" and "noaa+lanczos" in str(err.value)
    assert make("taa", (W, H)).info.display_size == (W, H)


def test_upscaling_mode_sizes_round_trip_through_the_registry():
    display = (48, 27)
    for mode in ("quality", "balanced", "performance", "ultra_performance"):
        render = qwplugin.render_size_for(display, mode)
        m = make("taau", render, display_size=display)
        out = m.dispatch(_frames(1, render)[0])
        assert out.shape == (27, 48, 3), mode
        sx, sy = m.info.details["scale"]
        assert math.isclose(sx, 48 / render[0]) and math.isclose(sy, 27 / render[1])
