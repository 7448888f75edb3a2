"""Recurrent runner: step-by-step equivalence, resets, out-of-frame history, gradients through time."""

import pytest
import torch

from qwplugin.errors import InvalidArgument
from qwplugin.model import build_model, reconstruct_step, run_sequence
from qwplugin.model.recurrent import warp_history_nw
from qwplugin.ops.colour import from_network, to_network


@pytest.fixture
def seq():
    gen = torch.Generator().manual_seed(7)
    colors = torch.rand(2, 4, 3, 8, 8, generator=gen) * 3
    motions = (torch.rand(2, 4, 2, 8, 8, generator=gen) - 0.5) * 3
    return colors, motions


def test_sequence_equals_single_steps(seq):
    model = build_model("tiny")
    colors, motions = seq
    resets = torch.zeros(2, 4, dtype=torch.bool)
    out = run_sequence(model, colors, motions, resets, exposure=0.5)
    prev = None
    for t in range(4):
        prev = reconstruct_step(model, colors[:, t], motions[:, t], prev, exposure=0.5)
        # the runner keeps history in the network domain; steps round-trip it through linear HDR
        torch.testing.assert_close(out[:, t], prev, rtol=1e-4, atol=1e-5)


def test_first_frame_uses_itself_as_history(seq):
    model = build_model("tiny")
    colors, motions = seq
    c_nw = to_network(colors[:, 0])
    expected = from_network(model(c_nw, c_nw))
    assert torch.equal(reconstruct_step(model, colors[:, 0], motions[:, 0], None), expected)


def test_reset_drops_history_per_sequence(seq):
    model = build_model("tiny").requires_grad_(False)
    colors, motions = seq
    resets = torch.zeros(2, 4, dtype=torch.bool)
    resets[0, 2] = True
    out = run_sequence(model, colors, motions, resets)
    changed = colors.clone()
    changed[:, :2] *= 0.1  # frames before the reset
    out2 = run_sequence(model, changed, motions, resets)
    assert torch.equal(out[0, 2:], out2[0, 2:])  # sequence 0 forgot frames 0-1 at its reset
    assert not torch.allclose(out[1, 2:], out2[1, 2:])  # sequence 1 did not reset


def test_out_of_frame_history_takes_current_colour():
    prev = torch.rand(1, 3, 4, 4)
    cur = torch.rand(1, 3, 4, 4)
    motion = torch.zeros(1, 2, 4, 4)
    motion[:, 0, :, 3] = 2.0  # last column points outside
    hist = warp_history_nw(prev, motion, cur)
    assert torch.equal(hist[..., 3], cur[..., 3])
    assert torch.equal(hist[..., :3], prev[..., :3])


def test_gradients_flow_through_time_until_a_reset(seq):
    model = build_model("tiny")
    colors, motions = seq
    colors = colors.clone().requires_grad_(True)
    resets = torch.zeros(2, 4, dtype=torch.bool)
    resets[1, 3] = True
    out = run_sequence(model, colors, motions, resets, return_network_domain=True)
    out[:, 3].sum().backward()
    assert float(colors.grad[0, 0].abs().sum()) > 0  # BPTT reaches frame 0 of sequence 0
    assert float(colors.grad[1, :3].abs().sum()) == 0  # the reset at t=3 cuts sequence 1's history


def test_rejects_bad_inputs(seq):
    model = build_model("tiny")
    colors, motions = seq
    with pytest.raises(InvalidArgument):
        run_sequence(model, colors, motions[:, :3], torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(InvalidArgument):
        run_sequence(model, colors, motions, torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(InvalidArgument):
        reconstruct_step(model, colors[:, 0], motions[:, 0, :1], None)
    with pytest.raises(InvalidArgument):
        reconstruct_step(model, colors[:, 0], motions[:, 0], None, exposure=torch.ones(3))
