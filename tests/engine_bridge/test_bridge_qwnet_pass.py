"""QWNetPass: the pass protocol around the bridge (same output as the bridge, properties round-trip)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gl

W, H = 32, 24


def test_pass_output_equals_context_and_properties_round_trip(gl):
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture
    from engine_bridge.passes.base import PassFrame, RenderPass
    from engine_bridge.passes.qwnet_pass import QWNetPass
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.errors import InvalidArgument, InvalidOperation
    from qwplugin.runtime import Context, ContextDesc, Frame

    p = QWNetPass(W, H, model="qwnet-tiny", precision="int4", backend="cpu", seed=3)
    assert isinstance(p, RenderPass) and set(p.inputs()) == {"color", "motion_px", "depth"}
    assert p.inputs()["depth"].optional
    direct = Context(ContextDesc(render_size=(W, H), model="qwnet-tiny", precision="int4", backend="cpu", seed=3))
    io = ReadbackTransfer(W, H)
    color_tex, motion_tex = create_texture(W, H, GL.GL_RGBA32F), create_texture(W, H, GL.GL_RG32F)
    rng = np.random.default_rng(0)
    for i in range(2):
        color = rng.uniform(0, 4, (H, W, 3)).astype(np.float32)
        motion = rng.uniform(-1, 1, (H, W, 2)).astype(np.float32)
        io.write(color_tex, color)
        io.write(motion_tex, motion)
        outs = p.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame(jitter_px=(0.25, -0.25),
                                                                                  reset=(i == 0)))
        expected = direct.dispatch(Frame(color=color, motion_px=motion, jitter_px=(0.25, -0.25), reset=(i == 0)))
        # the pass output is RGBA16F: the float32 result rounded to half (<= 1 half ulp, GL rounding)
        np.testing.assert_allclose(io.read(outs["color"], 3, "o"), expected.astype(np.float16).astype(np.float32),
                                   rtol=2 ** -10, atol=0)
    props = p.get_properties()
    assert props == {"model": "qwnet-tiny", "precision": "int4", "backend": "cpu", "transfer": "auto", "seed": 3}
    q = QWNetPass.from_properties(props, W, H)
    assert q.get_properties() == props
    with pytest.raises(InvalidArgument):
        QWNetPass.from_properties({"colour_space": "srgb"}, W, H)
    with pytest.raises(InvalidArgument) as err:
        p.execute({"color": color_tex}, PassFrame())
    assert err.value.field == "motion_px"
    p.resize(16, 8)
    assert p.size == (16, 8)
    p.reset()
    for obj in (p, q):
        obj.close()
        obj.close()
    with pytest.raises(InvalidOperation):
        p.execute({"color": color_tex, "motion_px": motion_tex}, PassFrame())
    direct.close()


def test_pass_feeds_jitter_and_depth_to_a_taa_candidate_model(gl, tmp_path):
    """A model with a TAA candidate (ModelConfig.taa_candidate) in the GL pass: depth becomes a required
    port, and the pass output equals the Context's for the same frames, jitters and depths."""
    import torch
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture
    from engine_bridge.passes.base import PassFrame
    from engine_bridge.passes.qwnet_pass import QWNetPass
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.model import ModelConfig, build_model
    from qwplugin.runtime import Context, ContextDesc, Frame
    from qwplugin.runtime.weights import save_weights

    torch.manual_seed(5)
    path = tmp_path / "cand.safetensors"
    save_weights(path, build_model(ModelConfig.preset("tiny", taa_candidate="tuned", filter_init="taa")),
                 precision="fp32")
    p = QWNetPass(W, H, model=str(path), precision="fp32", backend="cpu")
    assert not p.inputs()["depth"].optional and p.info.uses_jitter
    direct = Context(ContextDesc(render_size=(W, H), model=str(path), precision="fp32", backend="cpu"))
    io = ReadbackTransfer(W, H)
    color_tex, motion_tex = create_texture(W, H, GL.GL_RGBA32F), create_texture(W, H, GL.GL_RG32F)
    depth_tex = create_texture(W, H, GL.GL_R32F)
    rng = np.random.default_rng(1)
    for i, jitter in enumerate([(0.25, -0.25), (-0.375, 0.125), (0.0625, 0.4)]):
        color = rng.uniform(0, 4, (H, W, 3)).astype(np.float32)
        motion = rng.uniform(-1, 1, (H, W, 2)).astype(np.float32)
        depth = rng.uniform(1, 5, (H, W)).astype(np.float32)
        io.write(color_tex, color)
        io.write(motion_tex, motion)
        io.write(depth_tex, depth)
        outs = p.execute({"color": color_tex, "motion_px": motion_tex, "depth": depth_tex},
                         PassFrame(jitter_px=jitter, reset=(i == 0)))
        expected = direct.dispatch(Frame(color=color, motion_px=motion, depth=depth, jitter_px=jitter, reset=(i == 0)))
        np.testing.assert_allclose(io.read(outs["color"], 3, "o"), expected.astype(np.float16).astype(np.float32),
                                   rtol=2 ** -10, atol=0)
    p.close()
    direct.close()
