"""Upscaling in the GL world: the Bridge writes a display-size output texture (refused otherwise), the GL
upscaling passes of the registry output the display size and agree with their array twins, and wrong-size
input textures are refused naming the port."""

from __future__ import annotations

import numpy as np
import pytest

from qwplugin import Frame, make
from qwplugin.errors import InvalidArgument

W, H = 12, 8
DW, DH = 24, 16
NET = {"model": "qwnet-tiny", "backend": "cpu"}
NET_UP2 = {"model": "qwnet-tiny-up2", "backend": "cpu"}  # a small upscaling QW-Net (random init): sizes tested


@pytest.fixture(scope="module")
def env(gl):
    from OpenGL import GL

    import engine_bridge.passes.upscale_passes  # noqa: F401  (registers the GL upscalers)
    from engine_bridge.gl.textures import create_texture, delete_textures, upload_texture

    rng = np.random.default_rng(0)
    frames, textures = [], []
    for i in range(3):
        color = rng.uniform(0, 3, (H, W, 4)).astype(np.float32)
        motion = rng.uniform(-1, 1, (H, W, 2)).astype(np.float32)
        depth = rng.uniform(1, 4, (H, W)).astype(np.float32)
        tex = [create_texture(W, H, GL.GL_RGBA32F), create_texture(W, H, GL.GL_RG32F),
               create_texture(W, H, GL.GL_R32F)]
        for t, a in zip(tex, (color, motion, depth)):
            upload_texture(t, a)
        jitter = (0.3 - 0.2 * i, -0.25 + 0.2 * i)
        frames.append(Frame(color=color, motion_px=motion, depth=depth, jitter_px=jitter, reset=i == 0))
        textures.append(tex)
    out = create_texture(DW, DH, GL.GL_RGBA32F)
    small_out = create_texture(W, H, GL.GL_RGBA32F)
    big = create_texture(DW, DH, GL.GL_RGBA32F)
    yield {"frames": frames, "textures": textures, "out": out, "small_out": small_out, "big": big}
    delete_textures(out, small_out, big, *[t for tex in textures for t in tex])


def _tex_frame(env, i, **changes):
    c, m, d = env["textures"][i]
    f = env["frames"][i]
    return Frame(**{"color": c, "motion_px": m, "depth": d, "jitter_px": f.jitter_px, "reset": f.reset, **changes})


def _read(tex, w, h):
    from engine_bridge.gl.textures import read_texture

    return read_texture(tex, np.zeros((h, w, 3), np.float32)).copy()


@pytest.mark.parametrize("name", ["taau", "taa+lanczos", "qwnet-int4+lanczos", "qwnet-fast-up2-int4"])
def test_bridge_writes_the_display_size_output(env, name):
    from engine_bridge.bridge import Bridge

    opts = NET_UP2 if "-up2" in name else NET if "qwnet" in name else {}
    bridge = Bridge(make(name, (W, H), display_size=(DW, DH), **opts), display_size=(DW, DH))
    twin = make(name, (W, H), display_size=(DW, DH), **opts)
    try:
        assert bridge.render_size == (W, H) and bridge.display_size == (DW, DH)
        for i in range(3):
            returned = bridge.dispatch(_tex_frame(env, i), env["out"])
            want = twin.dispatch(env["frames"][i])
            assert returned.shape == (DH, DW, 3)
            # RGBA32F textures in and out: the bridge's transfer is exact, so the bridge = the array method
            np.testing.assert_array_equal(_read(env["out"], DW, DH), want)
    finally:
        bridge.close(close_context=True)
        twin.close()


def test_bridge_refuses_a_render_size_output_and_keeps_the_history(env):
    from engine_bridge.bridge import Bridge

    bridge = Bridge(make("taau", (W, H), display_size=(DW, DH)))
    twin = make("taau", (W, H), display_size=(DW, DH))
    try:
        bridge.dispatch(_tex_frame(env, 0), env["out"])
        twin.dispatch(env["frames"][0])
        with pytest.raises(InvalidArgument) as err:
            bridge.dispatch(_tex_frame(env, 1), env["small_out"])
        assert err.value.field == "output" and "output_tex" in str(err.value)
        assert err.value.expected.startswith(f"{DW}x{DH}") and err.value.actual == f"{W}x{H}"
        bridge.dispatch(_tex_frame(env, 1), env["out"])  # the refused frame did not reach the history
        np.testing.assert_array_equal(_read(env["out"], DW, DH), twin.dispatch(env["frames"][1]))
        with pytest.raises(InvalidArgument) as err:  # inputs must stay the render size
            bridge.dispatch(_tex_frame(env, 2, color=env["big"]), env["out"])
        assert err.value.field == "color"
    finally:
        bridge.close(close_context=True)
        twin.close()


def test_bridge_display_size_must_be_the_methods(env):
    from engine_bridge.bridge import Bridge
    from qwplugin.runtime import Context, ContextDesc

    method = make("taau", (W, H), display_size=(DW, DH))
    with pytest.raises(InvalidArgument) as err:
        Bridge(method, display_size=(W, H))
    assert err.value.field == "display_size"
    ctx = Context(ContextDesc(render_size=(W, H), model="qwnet-tiny", backend="cpu"))
    with pytest.raises(InvalidArgument) as err:  # an anti-aliasing QW-Net context outputs the render size
        Bridge(ctx, display_size=(DW, DH))
    assert err.value.field == "display_size"
    bridge = Bridge(ctx)
    assert bridge.display_size == (W, H)  # anti-aliasing mode: as before
    with pytest.raises(InvalidArgument) as err:
        bridge.dispatch(_tex_frame(env, 0), env["out"])
    assert err.value.field == "output"
    bridge.close(close_context=True)
    method.close()


def test_bridge_resize_keeps_upscaling(env):
    from engine_bridge.bridge import Bridge

    bridge = Bridge(make("noaa+bilinear", (W, H), display_size=(DW, DH)))
    try:
        bridge.resize(8, 6, (16, 12))
        assert bridge.render_size == (8, 6) and bridge.display_size == (16, 12)
    finally:
        bridge.close(close_context=True)


def _array_twin(env, name, frames):
    """The array method's outputs. For no-AA the GL pass stores the colour in its RGBA16F texture first
    (GL's float32 -> float16 conversion), so the twin upscales what the GL no-AA pass outputs."""
    import torch

    from engine_bridge.passes import make_pass
    from qwplugin.ops.resample import upscale

    if not name.startswith("noaa+"):
        m = make(name, (W, H), display_size=(DW, DH))
        return [m.dispatch(f) for f in frames]
    noaa, method = make_pass("noaa", W, H), name.partition("+")[2]
    outs = []
    for i in range(len(frames)):
        low = torch.from_numpy(_read(noaa.dispatch(_tex_frame(env, i)), W, H)).permute(2, 0, 1)[None]
        outs.append(upscale(low, (DW, DH), method, dering=True)[0].permute(1, 2, 0).numpy())
    noaa.close()
    return outs


@pytest.mark.parametrize("name", ["taau", "noaa+bilinear", "noaa+bicubic", "noaa+lanczos", "taa+lanczos"])
def test_gl_upscaling_passes_output_display_size_and_match_the_array_twin(env, name):
    from engine_bridge.gl.textures import texture_size
    from engine_bridge.passes import make_pass

    p = make_pass(name, W, H, display_size=(DW, DH), history_format="RGBA32F")
    try:
        assert p.info.render_size == (W, H) and p.info.display_size == (DW, DH) and p.info.name == name
        want = _array_twin(env, name, env["frames"])
        for i in range(3):
            tex = p.dispatch(_tex_frame(env, i))
            assert texture_size(tex)[:2] == (DW, DH)
            got = _read(tex, DW, DH)
            # float32 GL vs float32 PyTorch with other summation orders: a few ulps of values up to ~4
            np.testing.assert_allclose(got, want[i], rtol=1e-5, atol=1e-5)
    finally:
        p.close()


@pytest.mark.parametrize("name", ["taau", "taa+lanczos"])
@pytest.mark.parametrize("port", ["color", "motion_px", "depth"])
def test_gl_upscaling_passes_refuse_display_size_inputs_naming_the_port(env, name, port):
    from engine_bridge.passes import make_pass

    p = make_pass(name, W, H, display_size=(DW, DH))
    try:
        with pytest.raises(InvalidArgument) as err:
            p.dispatch(_tex_frame(env, 0, **{port: env["big"]}))
        assert err.value.field == port and err.value.expected == f"{W}x{H}"
    finally:
        p.close()


def test_gl_spatial_pass_resizes_both_sizes(env):
    from engine_bridge.gl.textures import texture_size
    from engine_bridge.passes import make_pass
    from qwplugin.runtime import registry

    p = registry.make("noaa+lanczos", (W, H), display_size=(DW, DH), target="gl")
    try:
        p.resize((W, H), (18, 12))
        assert p.display_size == (18, 12)
        assert texture_size(p.dispatch(_tex_frame(env, 0)))[:2] == (18, 12)
    finally:
        p.close()
    with pytest.raises(InvalidArgument) as err:
        make_pass("taa", W, H, display_size=(DW, DH))
    assert err.value.field == "display_size" and "taa+lanczos" in str(err.value)


def test_gl_qwnet_upscaling_pass_outputs_the_display_size_and_matches_its_context(env):
    from engine_bridge.gl.textures import texture_size
    from engine_bridge.passes import make_pass
    from qwplugin.runtime import Context, ContextDesc

    p = make_pass("qwnet-fast-up2-fp32", W, H, display_size=(DW, DH), transfer="readback", **NET_UP2)
    twin = Context(ContextDesc(render_size=(W, H), display_size=(DW, DH), **NET_UP2))
    try:
        assert p.info.render_size == (W, H) and p.info.display_size == (DW, DH) and p.display_size == (DW, DH)
        assert "display size" in p.outputs()["color"].description
        for i in range(3):
            tex = p.dispatch(_tex_frame(env, i))
            assert texture_size(tex)[:2] == (DW, DH)
            want = twin.dispatch(env["frames"][i])
            # the pass's output texture is RGBA16F (half: relative step 2^-11 ~ 4.9e-4); inputs RGBA32F, so
            # the network sees the same values as the array twin and only the output is rounded
            np.testing.assert_allclose(_read(tex, DW, DH), want, rtol=1e-3, atol=1e-3)
        with pytest.raises(InvalidArgument) as err:  # inputs stay at the render size, named by port
            p.dispatch(_tex_frame(env, 0, color=env["big"]))
        assert err.value.field == "color"
        p.resize((8, 6))  # None keeps the model's scale
        assert p.size == (8, 6) and p.display_size == (16, 12)
        with pytest.raises(InvalidArgument) as err:
            p.resize((8, 6), (8, 6))
        assert err.value.field == "display_size" and p.display_size == (16, 12)
    finally:
        p.close()
        twin.close()
