"""Triton kernels vs the reference executor under the Triton CPU interpreter (and on CUDA when present).

The interpreter must be selected before triton is imported, so these tests run in a subprocess with
``TRITON_INTERPRET=1``; on a CUDA machine the ``gpu`` test runs the compiled kernels and CUDA graphs.
"""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

triton = pytest.importorskip("triton")

SCRIPT = textwrap.dedent("""
    import torch
    from qwplugin.intexec.reference import run_reference
    from qwplugin.intexec.synthetic import random_qwnet_program
    from qwplugin.intexec.triton_backend import TritonInt8Backend
    for seed, (n, h, w) in enumerate([(1, 4, 4), (2, 12, 20), (1, 8, 28)]):
        p = random_qwnet_program(seed=seed)  # extractor + the filter network's 8-bit 1x1 logit heads
        x = torch.randint(0, 256, (n, 6, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
        ref = run_reference(p, x)
        got = TritonInt8Backend(p, device={device!r}).run_outputs(x)
        for name in p.outputs + p.heads:
            assert torch.equal(got[name], ref[name]), (seed, name)
    print("OK")
""")

SHIPPED_SCRIPT = textwrap.dedent("""
    import torch
    from qwplugin.intexec.export import load_program
    from qwplugin.intexec.reference import quantize_input, run_reference
    from qwplugin.intexec.triton_backend import TritonInt8Backend
    from qwplugin.runtime.weights import SHIPPED_DIR
    import numpy as np
    from PIL import Image
    from qwplugin.model.input_unit import assemble_input
    from qwplugin.ops.colour import to_network
    p = load_program(SHIPPED_DIR / "qwnet-int4.safetensors")
    # a real frame: the CC0 brick photo (as test_intexec_network.real_input), history shifted by 3 pixels
    img = np.asarray(Image.open({photo!r}).convert("RGB"), np.float32) / 255.0
    lin = torch.from_numpy(img ** 2.2 * 2.0).permute(2, 0, 1)[None]
    color, history = to_network(lin[..., 40:56, 30:46]), to_network(lin[..., 40:56, 33:49])
    x = quantize_input(assemble_input(color, history, None, False, False), p.input_spec.scale)
    ref = run_reference(p, x)
    got = TritonInt8Backend(p, device={device!r}).run_outputs(x)
    bad = [n for n in p.outputs + p.heads if not torch.equal(got[n], ref[n])]
    assert not bad, bad
    print("OK")
""")


@pytest.mark.slow
def test_triton_kernels_bit_exact_under_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-c", SCRIPT.format(device="cpu")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]


@pytest.mark.slow
def test_triton_kernels_bit_exact_on_the_shipped_program_under_interpreter():
    """The shipped int4 program (8-bit first conv, 4-bit U-Net, 8-bit filter heads) on a real frame, 16x16."""
    env = dict(os.environ, TRITON_INTERPRET="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    photo = os.path.join(root, "examples/scenes/test/assets/skimage/brick.png")
    res = subprocess.run([sys.executable, "-c", SHIPPED_SCRIPT.format(device="cpu", photo=photo)], env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]


@pytest.mark.gpu
def test_triton_kernels_bit_exact_on_cuda_with_graph():
    from qwplugin.intexec.reference import run_reference
    from qwplugin.intexec.synthetic import PAPER_DECODER, PAPER_ENCODER, random_qwnet_program
    from qwplugin.intexec.triton_backend import TritonInt8Backend

    p = random_qwnet_program(encoder=PAPER_ENCODER, decoder=PAPER_DECODER, seed=2, calib_size=32)
    x = torch.randint(0, 256, (1, 6, 48, 80), dtype=torch.uint8)
    backend = TritonInt8Backend(p, device="cuda", cuda_graph=True)
    ref = run_reference(p, x)
    for _ in range(2):  # first call captures the graph, second replays it
        got = backend.run_outputs(x)
        assert all(torch.equal(got[n], ref[n]) for n in p.outputs + p.heads)
