"""The one contract, the reconstructor protocol and the registry (no GL).

Each method the registry builds follows the protocol; what it computes is compared with the same algorithm
called directly (exact equality: the same float32 operations in the same order).
"""

import json

import numpy as np
import pytest
import torch

from qwplugin.errors import InvalidArgument, InvalidOperation
from qwplugin.runtime import Context, ContextDesc, Frame, MethodInfo, Reconstructor, registry
from qwplugin.runtime.methods import TAA, NoAA
from qwplugin.runtime.validate import check_frame, check_values, frame_to_tensors
from qwplugin.taa import TAAConfig, TemporalAA
from runtime_frames import SIZE, H, W, pan_frame, replace_frame

BUILT_IN = ("noaa", "taa", "taa-classic", "unet-fp32", "unet-int4", "qwnet-fp32", "qwnet-int4")


def test_every_built_in_name_builds_a_reconstructor_that_reports_its_name():
    assert set(BUILT_IN) <= set(registry.names("array"))
    for name in BUILT_IN:
        m = registry.make(name, SIZE, model="qwnet-tiny" if name.startswith("qwnet") else None, backend="cpu")
        assert (m.info.family == "network") is name.endswith(("fp32", "int4"))
        try:
            assert isinstance(m, Reconstructor), name
            info = m.info
            assert isinstance(info, MethodInfo) and info.name == name and info.label == registry.label(name)
            out = m.dispatch(pan_frame(0, depth=np.full((H, W), 3.0, np.float32)))
            assert out.shape == (H, W, 3) and out.dtype == np.float32
            m.reset()
            m.resize((8, 4))
            assert m.dispatch(pan_frame(0, h=4, w=8, depth=np.full((4, 8), 3.0, np.float32))).shape == (4, 8, 3)
        finally:
            m.close()
            m.close()  # idempotent
        with pytest.raises(InvalidOperation):
            m.dispatch(pan_frame(1))
    assert registry.label("qwnet-int4") == "QW-Net 4-bit" and registry.label("mine=x.json") == "mine"


def test_families_and_what_the_model_uses():
    with registry.make("qwnet-fp32", SIZE, model="qwnet-tiny", backend="cpu") as ctx:
        assert isinstance(ctx, Context)
        assert ctx.info.family == "network" and ctx.info.uses_depth is ctx.uses_depth is False
        assert ctx.info.uses_jitter is ctx.uses_jitter is False and ctx.info.trained is False
        assert ctx.info.description == str(ctx.backend_info)
        assert ctx.info.details["precision_detail"] == ctx.backend_info.precision_detail
    assert registry.make("taa", SIZE).info.uses_depth is TAAConfig().uses_depth
    assert registry.make("taa-classic", SIZE).info.uses_depth is False
    assert registry.make("noaa", SIZE).info.family == "noaa"


def test_registry_taa_equals_temporal_aa_called_directly():
    """TAA on Frames = TemporalAA on tensors with the pre-exposure, frame by frame (exact)."""
    config = TAAConfig.classic(alpha=0.2)
    method = registry.make("taa-classic", SIZE, config=config)
    direct = TemporalAA(config)
    for t in range(4):
        f = pan_frame(t, exposure=2.0, reset=t in (0, 2))
        got = method.dispatch(f)
        c = torch.from_numpy(f.color).permute(2, 0, 1)[None]
        m = torch.from_numpy(f.motion_px).permute(2, 0, 1)[None]
        expected = (direct.step(c * 2.0, m, reset=f.reset, jitter_px=f.jitter_px)[0].permute(1, 2, 0) / 2.0).numpy()
        np.testing.assert_array_equal(got, expected)


def test_taa_with_depth_needs_depth_and_refuses_before_any_state_changes():
    m = TAA(SIZE, TAAConfig())
    assert m.info.uses_depth
    with pytest.raises(InvalidArgument) as err:
        m.dispatch(pan_frame(0))
    assert err.value.field == "depth"
    m.dispatch(pan_frame(0, depth=np.full((H, W), 4.0, np.float32)))
    with pytest.raises(InvalidArgument) as err:
        m.dispatch(pan_frame(1, depth=np.full((H, W), 4.0, np.float32), jitter_px=(0.6, 0.0)))
    assert err.value.field == "jitter_px"


def test_noaa_returns_the_colour_unchanged_for_numpy_and_torch():
    f = pan_frame(2)
    np.testing.assert_array_equal(NoAA(SIZE).dispatch(f), f.color[..., :3])
    t = replace_frame(f, color=torch.from_numpy(f.color), motion_px=torch.from_numpy(f.motion_px))
    out = NoAA(SIZE).dispatch(t)
    assert isinstance(out, torch.Tensor) and torch.equal(out, torch.from_numpy(f.color))


def test_spec_with_a_path(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**TAAConfig.classic().to_dict(), "alpha": 0.3}))
    m = registry.make(f"taa-slow={cfg}", SIZE)
    assert m.info.name == "taa-slow" and m.config.alpha == 0.3 and str(cfg) in m.info.description
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"not weights")
    assert registry.parse_spec(f"ablation-int4={weights}") == ("ablation-int4", str(weights))
    with pytest.raises(InvalidArgument):  # the suffix picks int4, the file is then refused by the loader
        registry.make(f"ablation-int4={weights}", SIZE)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    for spec in ("", "nosuch", f"taa={tmp_path / 'missing.json'}", f"taa={bad}"):
        with pytest.raises(InvalidArgument) as err:
            registry.parse_spec(spec)
        assert err.value.field == "--methods"


def test_register_is_one_call_and_refuses_duplicates_and_unknown_options():
    name = "test-half-taa"
    registry.register(name, lambda n, size, **_: TAA(size, TAAConfig.classic(alpha=0.5), name=n), label="half")
    try:
        m = registry.make(name, SIZE)
        assert m.info.name == name and registry.label(name) == "half" and m.config.alpha == 0.5
        with pytest.raises(InvalidArgument):
            registry.register(name, lambda n, size, **_: None)
        with pytest.raises(InvalidArgument) as err:
            registry.make(name, SIZE, colour="srgb")
        assert err.value.field == "colour"
        with pytest.raises(InvalidArgument) as err:
            registry.make(name, SIZE, target="gl")
        assert err.value.field == "target"
    finally:
        registry._REGISTRY.pop(name)
    for bad in ("", "a=b", "x,y"):
        with pytest.raises(InvalidArgument):
            registry.register(bad, lambda n, size, **_: None)


def test_motion_vector_scale_is_applied_once_by_the_context():
    """Motion in UV-like units with a scale = the same motion pre-multiplied (exact: powers of two)."""
    ctx_scaled = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu"))
    ctx_plain = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", backend="cpu"))
    for t in range(3):
        f = pan_frame(t)
        scaled = replace_frame(f, motion_px=f.motion_px / np.float32([4.0, -2.0]), motion_vector_scale=(4.0, -2.0))
        np.testing.assert_array_equal(ctx_scaled.dispatch(scaled), ctx_plain.dispatch(f))
    with pytest.raises(InvalidArgument) as err:
        ctx_scaled.dispatch(replace_frame(pan_frame(3), motion_vector_scale=(1.0, float("inf"))))
    assert err.value.field == "motion_vector_scale"
    with pytest.raises(InvalidArgument) as err:  # finite * finite overflowing float32
        ctx_scaled.dispatch(replace_frame(pan_frame(3), motion_vector_scale=(1e39, 1.0)))
    assert err.value.field == "motion_vector_scale"
    assert ctx_scaled.stats.refused_frames == 2


def test_values_are_checked_and_normalised_once():
    f = pan_frame(1, jitter_px=np.array([0.25, -0.5], np.float32), reset=np.bool_(False), exposure=np.float32(2),
                  frame_index=np.int64(5), motion_vector_scale=[2, 2])
    values = check_frame(f, (H, W), needs_depth=False)
    assert values.jitter_px == (0.25, -0.5) and values.reset is False and values.exposure == 2.0
    assert values.frame_index == 5 and type(values.frame_index) is int and values.motion_vector_scale == (2.0, 2.0)
    assert check_values(f) == values
    ft = frame_to_tensors(f, torch.device("cpu"), values)
    np.testing.assert_array_equal(ft.motion_px[0].permute(1, 2, 0).numpy(), f.motion_px * 2)
    assert f.motion_px[0, 0, 0] == -1.0  # the caller's array is not written
    for field, change in (("frame_index", {"frame_index": -1}), ("frame_index", {"frame_index": 1.5}),
                          ("motion_vector_scale", {"motion_vector_scale": (1.0,)}),
                          ("motion_vector_scale", {"motion_vector_scale": "ab"}), ("frame", None)):
        with pytest.raises(InvalidArgument) as err:
            check_values(replace_frame(f, **change) if change else {"jitter_px": (0, 0)})
        assert err.value.field == field


def test_taa_module_uses_the_one_jitter_check():
    from qwplugin.runtime.validate import check_jitter

    taa = TemporalAA(TAAConfig.classic())
    c, m = torch.ones(1, 3, 4, 4), torch.zeros(1, 2, 4, 4)
    for bad in ((0.0, 0.51), (float("nan"), 0.0), (0.1,), "ab", (True, 0.0)):
        with pytest.raises(InvalidArgument) as a:
            taa.step(c, m, jitter_px=bad)
        with pytest.raises(InvalidArgument) as b:
            check_jitter(bad)
        assert (a.value.field, a.value.expected, a.value.actual) == (b.value.field, b.value.expected, b.value.actual)
