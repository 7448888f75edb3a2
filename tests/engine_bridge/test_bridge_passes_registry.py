"""GL passes built by name from the one registry; one Frame contract through pass, bridge and context."""

import numpy as np
import pytest

pytestmark = pytest.mark.gl

W, H = 24, 16


def _textures():
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture
    from engine_bridge.transfer.readback import ReadbackTransfer

    io = ReadbackTransfer(W, H)
    color, motion = create_texture(W, H, GL.GL_RGBA32F), create_texture(W, H, GL.GL_RG32F)
    rng = np.random.default_rng(1)
    io.write(color, rng.uniform(0, 3, (H, W, 3)).astype(np.float32))
    io.write(motion, rng.uniform(-1, 1, (H, W, 2)).astype(np.float32))
    depth = create_texture(W, H, GL.GL_R32F)
    io.write(depth, rng.uniform(2, 9, (H, W)).astype(np.float32))
    return io, color, motion, depth


def test_every_name_builds_a_pass_following_the_protocol(gl):
    from engine_bridge.passes import QWNetPass, RenderPass, TAAPass, make_pass
    from qwplugin.errors import InvalidArgument, InvalidOperation
    from qwplugin.runtime import Frame, Reconstructor, registry

    io, color, motion, depth = _textures()
    expected_type = {"noaa": "NoAAPass", "taa": "TAAPass", "taa-classic": "TAAPass", "qwnet-int4": "QWNetPass"}
    for name, type_name in expected_type.items():
        p = make_pass(name, W, H, model="qwnet-tiny", backend="cpu", transfer="readback")
        assert isinstance(p, RenderPass) and isinstance(p, Reconstructor) and type(p).__name__ == type_name
        info = p.info
        assert info.name == name and info.label == registry.label(name)
        assert (info.family == "network") is isinstance(p, QWNetPass)
        if isinstance(p, QWNetPass):
            assert info.description == str(p.context.backend_info) and info.details["transfer"] == "readback"
            assert set(p.timings_ms()) == {"bridge_ms_median", "context_ms_median"}
        else:
            assert info.description.startswith("GLSL on ") and info.trained is None and p.timings_ms() == {}
        out = p.dispatch(Frame(color=color, motion_px=motion, depth=depth, jitter_px=(0.25, -0.25), reset=True,
                               frame_index=0))
        assert isinstance(out, int) and out > 0 and np.isfinite(io.read(out, 3, "o")).all()
        with pytest.raises(InvalidArgument) as err:
            p.dispatch(Frame(color=color, motion_px=motion, depth=depth, jitter_px=(0.0, 0.75)))
        assert err.value.field == "jitter_px"
        p.resize((W // 2, H // 2))
        assert p.size == (W // 2, H // 2)
        with pytest.raises(InvalidArgument) as err:  # the textures are still W x H
            p.dispatch(Frame(color=color, motion_px=motion, depth=depth, jitter_px=(0, 0)))
        assert err.value.field in ("color", "motion_px")
        p.resize(W, H)  # the older spelling
        assert p.size == (W, H)
        p.reset()
        p.close()
        p.close()
        for call in (p.reset, lambda: p.resize((W, H)), lambda: p.dispatch(Frame(color=color, motion_px=motion,
                                                                                 jitter_px=(0, 0)))):
            with pytest.raises(InvalidOperation):
                call()
    assert isinstance(make_pass("taa-classic", W, H), TAAPass)
    with pytest.raises(InvalidArgument):
        make_pass("taa", W, H, colour="srgb")


def test_dispatch_equals_execute_and_the_textures_come_from_the_frame(gl):
    from engine_bridge.passes import make_pass
    from qwplugin.ops.halton import jitter_offset_px
    from qwplugin.runtime import Frame
    from qwplugin.taa import TAAConfig

    io, color, motion, depth = _textures()
    a = make_pass("taa-classic", W, H, history_format="RGBA32F")
    b = make_pass("taa", W, H, config=TAAConfig.classic(), history_format="RGBA32F")
    for t in range(3):
        f = Frame(color=color, motion_px=motion, jitter_px=jitter_offset_px(t), reset=t == 0)
        got = io.read(a.dispatch(f), 3, "a").copy()
        ref = io.read(b.execute({"color": color, "motion_px": motion}, f)["color"], 3, "b")
        np.testing.assert_array_equal(got, ref)
    a.close()
    b.close()


def test_bridge_frame_form_equals_keyword_form_and_the_pass_forwards_every_value(gl):
    """Bridge.dispatch(Frame, out) and the keyword spelling give the same frames; QWNetPass hands
    frame_time_ms and the motion scale on (the debug checker sees frame_time_ms)."""
    from OpenGL import GL

    from engine_bridge.bridge import Bridge
    from engine_bridge.gl.textures import create_texture
    from engine_bridge.passes import QWNetPass
    from qwplugin.runtime import Context, ContextDesc, DebugCheckWarning, Frame

    io, color, motion, depth = _textures()
    desc = ContextDesc(render_size=(W, H), model="qwnet-tiny", backend="cpu")
    keyword, framed = Bridge(Context(desc)), Bridge(Context(desc))
    out_a, out_b = create_texture(W, H, GL.GL_RGBA32F), create_texture(W, H, GL.GL_RGBA32F)
    for t in range(2):
        a = keyword.dispatch(color, motion, out_a, jitter_px=(0.25, 0.0), reset=t == 0, exposure=2.0,
                             frame_time_ms=16.0, motion_vector_scale=(2.0, -1.0))
        b = framed.dispatch(Frame(color=color, motion_px=motion, jitter_px=(0.25, 0.0), reset=t == 0, exposure=2.0,
                                  frame_time_ms=16.0, motion_vector_scale=(2.0, -1.0)), out_b)
        np.testing.assert_array_equal(a, b)
    keyword.close(close_context=True)
    framed.close(close_context=True)

    p = QWNetPass(W, H, model="qwnet-tiny", precision="fp32", backend="cpu", debug_checks=True)
    with pytest.warns(DebugCheckWarning, match="frame_time_seconds"):
        p.dispatch(Frame(color=color, motion_px=motion, jitter_px=(0.25, 0.0), reset=True, frame_time_ms=0.016))
    p.close()
