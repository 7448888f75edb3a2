"""The TAA candidate (ModelConfig.taa_candidate): the batched candidate is the TAA computed per element, a
network with filter_init="taa" starts as that TAA, and the float, integer, recurrent and Context paths all
feed it the same way."""

import dataclasses

import numpy as np
import pytest
import torch

from qwplugin import Context, ContextDesc, Frame
from qwplugin.errors import InvalidArgument
from qwplugin.intexec.cpu_backend import onednn_available
from qwplugin.model import ModelConfig, build_model, reconstruct_step, run_sequence
from qwplugin.model.taa_candidate import taa_candidate_nw
from qwplugin.ops.colour import from_network, to_network
from qwplugin.quant import set_quantized
from qwplugin.taa import TAAConfig, reconstruct_current, taa_resolve


def _inputs(n=4, h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    color = to_network(torch.rand(n, 3, h, w, generator=g) * 2.0)
    prev = to_network(torch.rand(n, 3, h, w, generator=g) * 2.0)
    motion = torch.randn(n, 2, h, w, generator=g) * 1.5
    jitter = torch.rand(n, 2, generator=g) - 0.5
    depth = torch.rand(n, 1, h, w, generator=g) * 4 + 1
    prev_depth = torch.rand(n, 1, h, w, generator=g) * 4 + 1
    return color, prev, motion, jitter, depth, prev_depth


def tiny_candidate_config(**kw) -> ModelConfig:
    return ModelConfig.preset("tiny", taa_candidate="tuned", filter_init="taa", **kw)


def test_batched_candidate_is_the_tuned_taa_of_each_element_exactly():
    color, prev, motion, jitter, depth, prev_depth = _inputs()
    reset = torch.tensor([False, True, False, False])
    cfg = TAAConfig()
    got = taa_candidate_nw(cfg, color, prev, motion, jitter, depth, prev_depth, reset)
    for i in range(4):
        sl = slice(i, i + 1)
        want = taa_resolve(from_network(color[sl]), motion[sl], None if reset[i] else from_network(prev[sl]), cfg,
                           tuple(jitter[i].tolist()), depth[sl], None if reset[i] else prev_depth[sl])
        assert torch.equal(got[sl], to_network(want)), i


def test_reconstruct_current_takes_one_jitter_per_element_as_its_tuple_would():
    color = torch.rand(3, 3, 8, 9)
    jitter = torch.tensor([[0.25, -0.5], [0.0, 0.0], [-0.4, 0.1]])
    got = reconstruct_current(color, jitter, 0.35)
    for i in range(3):
        assert torch.equal(got[i:i + 1], reconstruct_current(color[i:i + 1], tuple(jitter[i].tolist()), 0.35))
    # a different jitter gives a different estimate (the weights do depend on it)
    assert not torch.equal(got[0:1], reconstruct_current(color[0:1], (0.0, 0.0), 0.35))


def test_config_writes_the_taa_fields_out_and_reads_them_back():
    cfg = tiny_candidate_config()
    assert cfg.taa_candidate == dataclasses.asdict(TAAConfig())
    assert cfg.taa_candidate_config == TAAConfig()
    assert cfg.in_channels == 6 + 3
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.taa_candidate_config == TAAConfig()
    assert "taa_candidate" not in ModelConfig.preset("tiny").to_dict()  # old configs stay as written


@pytest.mark.parametrize("bad, field", [({"taa_candidate": {"alpha": 0.2, "colour": 1}}, "taa_candidate"),
                                        ({"taa_candidate": {"alpha": 7.0}}, "alpha"),
                                        ({"taa_candidate": "strong"}, "taa_candidate"),
                                        ({"taa_candidate": "tuned", "kind": "unet"}, "taa_candidate")])
def test_bad_candidate_configs_are_refused_by_field(bad, field):
    with pytest.raises(InvalidArgument) as err:
        ModelConfig.preset("tiny", **bad)
    assert err.value.field == field


def test_model_without_its_candidate_is_refused():
    model = build_model(tiny_candidate_config()).eval()
    color = torch.rand(1, 3, 16, 16) * 0.5
    with pytest.raises(InvalidArgument) as err:
        model(color, color)
    assert err.value.field == "candidate_nw"


def test_taa_initialised_network_starts_as_its_candidate():
    """filter_init="taa": 0.96 of the output is the candidate's centre tap; with flat images of three
    different values the output is the stated blend (the features move the kernels by ~1% at most)."""
    torch.manual_seed(0)
    model = build_model(tiny_candidate_config()).eval()
    shape = (1, 3, 32, 32)
    color, history, candidate = torch.full(shape, 0.2), torch.full(shape, 0.8), torch.full(shape, 0.5)
    with torch.no_grad():
        out = model(color, history, None, candidate)
    want = 0.02 * 0.2 + 0.01 * 0.8 + 0.97 * 0.5  # current centre + ring, history centre, candidate centre + ring
    assert (out - want).abs().max() < 2e-3
    assert (out - 0.2).abs().min() > 0.2  # far from the aliased frame: the init is not a copy of the input


def _sequence(n=1, t=4, h=24, w=32, seed=3):
    g = torch.Generator().manual_seed(seed)
    colors = torch.rand(n, t, 3, h, w, generator=g) * 2.0
    motions = torch.randn(n, t, 2, h, w, generator=g) * 0.7
    depth = torch.rand(n, t, 1, h, w, generator=g) * 3 + 1
    jitter = torch.rand(n, t, 2, generator=g) - 0.5
    return colors, motions, depth, jitter


def test_training_recurrence_equals_the_inference_steps():
    """run_sequence (network-domain history, used in training) and reconstruct_step frame by frame (linear
    history, used by the Context) give the same frames; tolerance 1e-5: the linear round trip
    y / (1 - y) then x / (1 + x) of the history rounds differently in float32."""
    torch.manual_seed(1)
    model = build_model(tiny_candidate_config()).eval()
    colors, motions, depth, jitter = _sequence()
    resets = torch.zeros(1, 4, dtype=torch.bool)
    with torch.no_grad():
        seq = run_sequence(model, colors, motions, resets, depth=depth, jitter_px=jitter)
        prev = None
        for i in range(4):
            prev = reconstruct_step(model, colors[:, i], motions[:, i], prev, 1.0, depth[:, i],
                                    tuple(jitter[0, i].tolist()), None if i == 0 else depth[:, i - 1])
            assert (prev - seq[:, i]).abs().max() < 1e-5, i
        # the jitter reaches the output: another jitter, another frame
        other = run_sequence(model, colors, motions, resets, depth=depth, jitter_px=jitter.flip(1))
    assert (other[:, 1:] - seq[:, 1:]).abs().max() > 1e-3


@pytest.mark.skipif(not onednn_available()[0], reason=onednn_available()[1])
def test_integer_network_filters_the_candidate_like_the_fake_quant_model():
    from qwplugin.intexec.export import export_network, program_from_bytes, program_to_bytes
    from qwplugin.intexec.network import IntegerQWNet

    torch.manual_seed(2)
    cfg = tiny_candidate_config()
    model = build_model(cfg).eval()
    set_quantized(model, True)
    program = export_network(model)
    assert program.tensors["filter.down0"].channels == 27
    program, _ = program_from_bytes(program_to_bytes(program, {"model_config": cfg.to_dict()}))
    net = IntegerQWNet(program, cfg)
    net.use_backend("cpu")
    color, prev, motion, jitter, depth, prev_depth = _inputs(n=1, h=32, w=32)
    candidate = taa_candidate_nw(cfg.taa_candidate_config, color, prev, motion, jitter, depth, prev_depth)
    with torch.no_grad():
        want, got = model(color, prev, None, candidate), net(color, prev, None, candidate)
    assert got.shape == want.shape and (got - want).abs().mean() < 1e-3
    with pytest.raises(InvalidArgument):
        net(color, prev)


def test_context_feeds_jitter_and_depth_to_a_candidate_model(tmp_path):
    from qwplugin.runtime.weights import save_weights

    torch.manual_seed(4)
    cfg = tiny_candidate_config()
    model = build_model(cfg).eval()
    path = tmp_path / "cand.safetensors"
    save_weights(path, model, precision="fp32")
    colors, motions, depth, jitter = _sequence(t=3, h=16, w=24)
    ctx = Context(ContextDesc(render_size=(24, 16), model=str(path), precision="fp32", backend="cpu"))
    assert ctx.info.uses_jitter and ctx.info.uses_depth

    def frame(i, j):
        return Frame(color=colors[0, i].permute(1, 2, 0).numpy(), motion_px=motions[0, i].permute(1, 2, 0).numpy(),
                     depth=depth[0, i, 0].numpy(), jitter_px=j, reset=i == 0)

    outs = [ctx.dispatch(frame(i, tuple(jitter[0, i].tolist()))) for i in range(3)]
    with torch.no_grad():
        prev = None
        for i in range(3):
            prev = reconstruct_step(model, colors[:, i], motions[:, i], prev, 1.0, depth[:, i],
                                    tuple(jitter[0, i].tolist()), None if i == 0 else depth[:, i - 1])
            np.testing.assert_allclose(outs[i], prev[0].permute(1, 2, 0).numpy(), atol=1e-5)
    ctx.close()


def test_routing_refuses_a_candidate_model_by_name(tmp_path):
    from qwplugin.runtime.routed import RoutedQWNet
    from qwplugin.runtime.weights import save_weights

    path = tmp_path / "cand.safetensors"
    save_weights(path, build_model(tiny_candidate_config()).eval(), precision="fp32")
    with pytest.raises(InvalidArgument) as err:
        RoutedQWNet((32, 16), precision="fp32", model=str(path), classifier="rule")
    assert err.value.field == "model" and "TAA candidate" in str(err.value)
