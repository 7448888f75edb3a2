"""GPU backend: Triton int8 implicit-GEMM convolutions executing the 4-bit arithmetic exactly.

Activations live as NHWC uint8 codes. A conv is an implicit GEMM: output tile = ``BLOCK_M`` pixels x
``BLOCK_N`` output channels, K loop over the k*k taps x ``BLOCK_K`` input channels, each step one
``tl.dot(int8, int8, out_dtype=int32)`` (tensor cores on sm_80+; u4 codes 0..15 and s4 weights -8..7 fit
int8 exactly, so s8 x s8 -> s32 is the 4-bit integer product). The first conv's 8-bit input codes
(0..255) do not fit int8: they are loaded as ``code - 128`` and ``128 * sum(w)`` per output channel is
added back (padding reads as code 0, i.e. -128, so the correction is exact at borders too). The epilogue
is the reference requantization (:mod:`qwplugin.intexec.reference`): ``f32(f32(acc) * m) + b_o`` (the
kernel is launched with ``enable_fp_fusion=False``, so the multiply and the add are not contracted into
one fused multiply-add), round half to even written with floor and an explicit tie rule (no reliance on a libdevice ``rint``), clamp to
[0, 15], store uint8 into a channel slice of the destination buffer. Concatenation is free: both sources
are written straight into their slices of the concat buffer (planned once per input size). Max-pool and
nearest upsampling are small elementwise kernels on codes.

The filter network's kernel-predicting 1x1 convs (:class:`~qwplugin.intexec.program.ConvLogits`) use the
same kernel with a float32 epilogue, ``f32(acc + q_b) * s_acc`` (the reference's step 5), stored into an
NHWC float32 buffer.

These are kernels of the one interpreter loop (:mod:`qwplugin.intexec.interpreter`): ``begin`` binds the
per-size plan of buffers, each op writes into its planned buffer. On CUDA the loop (all launches) is
captured once per input size and op list into a CUDA graph and replayed.
Under ``TRITON_INTERPRET=1`` the same kernels run on CPU tensors (tests); no graph is used there.

Needs: ``triton`` importable, and either a CUDA device or ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import os

import torch

from qwplugin.errors import UnsupportedHardware
from qwplugin.intexec.interpreter import ProgramBackend, run_ops
from qwplugin.intexec.program import Concat, Conv, ConvLogits, IntProgram, MaxPool, Upsample, check_input_codes
from qwplugin.intexec.reference import accumulator_scale, requant_constants

try:  # optional dependency (extra "gpu")
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised where triton is missing
    triton = None
    tl = None

BLOCK_M = 64
BLOCK_N = 32
BLOCK_K = 32
ELEMENTWISE_BLOCK = 1024


def interpreter_enabled() -> bool:
    """True when Triton runs kernels on the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_available() -> tuple[bool, str]:
    """Whether this backend can run here, with the reason."""
    if triton is None:
        return False, "triton is not installed (pip install 'qwplugin[gpu]')"
    if torch.cuda.is_available():
        major, _ = torch.cuda.get_device_capability()
        if major < 8:
            return False, f"int8 tl.dot needs sm_80+ (found sm_{major}x; broken on Turing, triton #9349)"
        return True, f"Triton {triton.__version__} on {torch.cuda.get_device_name()}"
    if interpreter_enabled():
        return True, f"Triton {triton.__version__} interpreter (TRITON_INTERPRET=1, CPU, slow)"
    return False, "no CUDA device and TRITON_INTERPRET is not set"


if triton is not None:

    @triton.jit
    def _conv_kernel(x_ptr, w_ptr, wsum_ptr, beta_ptr, m_ptr, y_ptr, NPIX, H, W, CIN, COUT, X_PIX, Y_PIX,
                     KS: tl.constexpr, IN_OFFSET: tl.constexpr, QMAX: tl.constexpr,
                     BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, LOGITS: tl.constexpr = False):
        # LOGITS: beta_ptr holds int32 bias codes q_b, m_ptr the float32 s_acc; the output is float32
        # f32(acc + q_b) * s_acc (reference step 5). Otherwise beta_ptr holds b_o, m_ptr m: requantized uint8
        # codes f32(f32(acc) * m) + b_o rounded (step 3).
        pid_m = tl.program_id(0)
        pid_n = tl.program_id(1)
        offs_m = pid_m * BM + tl.arange(0, BM)
        offs_n = pid_n * BN + tl.arange(0, BN)
        m_ok = offs_m < NPIX
        n_ok = offs_n < COUT
        img = offs_m // (H * W)
        rem = offs_m % (H * W)
        oy = rem // W
        ox = rem % W
        acc = tl.zeros((BM, BN), dtype=tl.int32)
        for tap in tl.static_range(KS * KS):
            iy = oy + (tap // KS - KS // 2)
            ix = ox + (tap % KS - KS // 2)
            valid = m_ok & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
            pix = (img * H + iy) * W + ix
            for k0 in range(0, CIN, BK):
                offs_k = k0 + tl.arange(0, BK)
                k_ok = offs_k < CIN
                a = tl.load(x_ptr + pix[:, None] * X_PIX + offs_k[None, :],
                            mask=valid[:, None] & k_ok[None, :], other=0)
                a = (a.to(tl.int16) - IN_OFFSET).to(tl.int8)
                b = tl.load(w_ptr + (tap * CIN + offs_k)[:, None] * COUT + offs_n[None, :],
                            mask=k_ok[:, None] & n_ok[None, :], other=0)
                acc += tl.dot(a, b, out_dtype=tl.int32)
        if IN_OFFSET != 0:
            wsum = tl.load(wsum_ptr + offs_n, mask=n_ok, other=0)
            acc += IN_OFFSET * wsum[None, :]
        if LOGITS:
            qb = tl.load(beta_ptr + offs_n, mask=n_ok, other=0)
            s_acc = tl.load(m_ptr + offs_n, mask=n_ok, other=0.0)
            logits = (acc + qb[None, :]).to(tl.float32) * s_acc[None, :]
            tl.store(y_ptr + offs_m[:, None] * Y_PIX + offs_n[None, :], logits, mask=m_ok[:, None] & n_ok[None, :])
        else:
            b_o = tl.load(beta_ptr + offs_n, mask=n_ok, other=0.0)
            mult = tl.load(m_ptr + offs_n, mask=n_ok, other=0.0)
            t = acc.to(tl.float32) * mult[None, :] + b_o[None, :]  # two roundings: launched without fp fusion
            t = tl.minimum(tl.maximum(t, 0.0), QMAX + 1.0)  # round(clamp(t, 0, QMAX+1)) then clamp == clamp(round(t))
            fl = tl.floor(t)
            frac = t - fl  # exact: 0 <= t < 2^23
            q = fl.to(tl.int32)
            q = q + (frac > 0.5).to(tl.int32) + ((frac == 0.5) & ((q & 1) == 1)).to(tl.int32)  # half to even
            q = tl.minimum(q, QMAX)
            tl.store(y_ptr + offs_m[:, None] * Y_PIX + offs_n[None, :], q.to(tl.uint8),
                     mask=m_ok[:, None] & n_ok[None, :])

    @triton.jit
    def _maxpool_kernel(x_ptr, y_ptr, TOTAL, OH, OW, C, X_PIX, Y_PIX, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        ok = offs < TOTAL
        c = offs % C
        pix = offs // C
        img = pix // (OH * OW)
        rem = pix % (OH * OW)
        oy = rem // OW
        ox = rem % OW
        base = ((img * 2 * OH + 2 * oy) * (2 * OW) + 2 * ox) * X_PIX + c
        v00 = tl.load(x_ptr + base, mask=ok, other=0)
        v01 = tl.load(x_ptr + base + X_PIX, mask=ok, other=0)
        v10 = tl.load(x_ptr + base + 2 * OW * X_PIX, mask=ok, other=0)
        v11 = tl.load(x_ptr + base + 2 * OW * X_PIX + X_PIX, mask=ok, other=0)
        v = tl.maximum(tl.maximum(v00, v01), tl.maximum(v10, v11))
        tl.store(y_ptr + pix * Y_PIX + c, v, mask=ok)

    @triton.jit
    def _upsample_kernel(x_ptr, y_ptr, TOTAL, OH, OW, C, X_PIX, Y_PIX, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        ok = offs < TOTAL
        c = offs % C
        pix = offs // C
        img = pix // (OH * OW)
        rem = pix % (OH * OW)
        oy = rem // OW
        ox = rem % OW
        src = ((img * (OH // 2) + oy // 2) * (OW // 2) + ox // 2) * X_PIX + c
        tl.store(y_ptr + pix * Y_PIX + c, tl.load(x_ptr + src, mask=ok, other=0), mask=ok)


class TritonInt8Kernels:
    """Triton kernels of an :class:`IntProgram` on NHWC buffers planned per input size (see the module
    docstring). ``begin`` selects the plan and copies the input; every op writes into its planned buffer."""

    name = "triton-int8"
    exact = True

    def __init__(self, program: IntProgram, device: torch.device):
        self.program = program
        self.device = device
        self._params = {}
        for op in program.convs():
            src, dst = program.tensors[op.src], program.tensors[op.dst]
            _, m, b_o = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
            assert src.bits in (4, 8)
            self._params[op.dst] = self._weights(op) + tuple(t.to(device).contiguous() for t in (b_o, m)) + (
                128 if src.bits == 8 else 0, 2 ** dst.bits - 1, False)
        for op in program.logit_convs():
            src = program.tensors[op.src]
            assert src.bits == 4
            s_acc = accumulator_scale(src.scale, op.weight_scale)
            self._params[op.dst] = self._weights(op) + tuple(t.to(device).contiguous() for t in (op.bias, s_acc)) + (
                0, 0, True)
        self._plans: dict[tuple, dict] = {}
        self.plan: dict | None = None

    def _weights(self, op) -> tuple[torch.Tensor, torch.Tensor]:
        k = op.kernel_size
        w = op.weight.permute(2, 3, 1, 0).reshape(k * k * op.weight.shape[1], op.weight.shape[0])
        wsum = op.weight.to(torch.int32).sum(dim=(1, 2, 3))
        return w.to(self.device).contiguous(), wsum.to(self.device).contiguous()

    # -- planning: one NHWC buffer per tensor; concat sources are slices of the concat buffer --------------
    def _plan(self, n: int, h: int, w: int) -> dict:
        key = (n, h, w)
        if key in self._plans:
            return self._plans[key]
        p = self.program
        size = {p.input_name: (h, w)}
        for op in p.ops:
            if isinstance(op, (Conv, ConvLogits)):
                size[op.dst] = size[op.src]
            elif isinstance(op, MaxPool):
                size[op.dst] = (size[op.src][0] // 2, size[op.src][1] // 2)
            elif isinstance(op, Upsample):
                size[op.dst] = (size[op.src][0] * 2, size[op.src][1] * 2)
            else:
                size[op.dst] = size[op.srcs[0]]
        parent: dict[str, tuple[str, int]] = {}
        for op in p.ops:
            if isinstance(op, Concat):
                off = 0
                for s in op.srcs:
                    assert s not in parent and s != p.input_name, "a tensor may feed one concat only"
                    parent[s] = (op.dst, off)
                    off += p.tensors[s].channels
        bufs: dict[str, torch.Tensor] = {}

        def buf(name: str) -> torch.Tensor:
            if name not in bufs:
                if name in parent:
                    root, off = parent[name]
                    bufs[name] = buf(root)[..., off:off + p.tensors[name].channels]
                else:
                    hh, ww = size[name]
                    dtype = torch.float32 if p.tensors[name].kind == "logits" else torch.uint8
                    bufs[name] = torch.empty(n, hh, ww, p.tensors[name].channels, dtype=dtype, device=self.device)
            return bufs[name]

        for name in p.tensors:
            buf(name)
        plan = {"bufs": bufs, "graphs": {}}
        self._plans[key] = plan
        return plan

    # -- kernels ---------------------------------------------------------------------------------------
    def begin(self, program: IntProgram, x_codes: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x_codes.shape
        self.plan = self._plan(n, h, w)
        x = self.plan["bufs"][program.input_name]
        x.copy_(x_codes.to(self.device).permute(0, 2, 3, 1))
        return x

    def _launch_conv(self, op, x: torch.Tensor) -> torch.Tensor:
        y = self.plan["bufs"][op.dst]
        w, wsum, beta, m, in_offset, qmax, logits = self._params[op.dst]
        n, h, wd, cin = x.shape
        cout = y.shape[-1]
        npix = n * h * wd
        grid = (triton.cdiv(npix, BLOCK_M), triton.cdiv(cout, BLOCK_N))
        _conv_kernel[grid](x, w, wsum, beta, m, y, npix, h, wd, cin, cout, x.stride(2), y.stride(2),
                           KS=op.kernel_size, IN_OFFSET=in_offset, QMAX=qmax, BM=BLOCK_M, BN=BLOCK_N, BK=BLOCK_K,
                           LOGITS=logits, enable_fp_fusion=False)  # the reference's two roundings, no FMA
        return y

    def conv(self, op: Conv, x: torch.Tensor) -> torch.Tensor:
        return self._launch_conv(op, x)

    def conv_logits(self, op: ConvLogits, x: torch.Tensor) -> torch.Tensor:
        return self._launch_conv(op, x)

    def _elementwise(self, kernel, op, x: torch.Tensor) -> torch.Tensor:
        y = self.plan["bufs"][op.dst]
        n, oh, ow, c = y.shape
        total = n * oh * ow * c
        kernel[(triton.cdiv(total, ELEMENTWISE_BLOCK),)](x, y, total, oh, ow, c, x.stride(2), y.stride(2),
                                                          BLOCK=ELEMENTWISE_BLOCK)
        return y

    def maxpool(self, op: MaxPool, x: torch.Tensor) -> torch.Tensor:
        return self._elementwise(_maxpool_kernel, op, x)

    def upsample(self, op: Upsample, x: torch.Tensor) -> torch.Tensor:
        return self._elementwise(_upsample_kernel, op, x)

    def concat(self, op: Concat, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.plan["bufs"][op.dst]  # its sources were written into its slices

    def codes(self, name: str, y: torch.Tensor) -> torch.Tensor:
        return y.permute(0, 3, 1, 2).contiguous()

    def values(self, name: str, y: torch.Tensor) -> torch.Tensor:
        spec = self.program.tensors[name]
        if spec.kind == "logits":
            return y.permute(0, 3, 1, 2).contiguous()
        scale = torch.tensor(spec.scale, dtype=torch.float32, device=y.device)
        return y.permute(0, 3, 1, 2).to(torch.float32).contiguous() * scale


class TritonInt8Backend(ProgramBackend):
    """Executes an :class:`IntProgram` with :class:`TritonInt8Kernels`; codes and logits equal the reference's.

    Args:
        program: the integer program.
        device: "cuda" (default when available) or "cpu" (only under ``TRITON_INTERPRET=1``).
        cuda_graph: capture the interpreter loop into a CUDA graph per input size and op list (CUDA only).
        validated: the caller has just validated ``program``.

    Raises:
        UnsupportedHardware: Triton or a suitable device is missing (message says which).
    """

    def __init__(self, program: IntProgram, device: str | None = None, cuda_graph: bool = True,
                 validated: bool = False):
        ok, why = triton_available()
        if not ok:
            raise UnsupportedHardware(why)
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dev.type == "cpu" and not interpreter_enabled():
            raise UnsupportedHardware("Triton on CPU tensors needs TRITON_INTERPRET=1")
        if not validated:
            program.validate()
        super().__init__(program, TritonInt8Kernels(program, dev), validated=True)
        self.device = dev
        self.use_graph = cuda_graph and dev.type == "cuda"

    def run(self, x_codes: torch.Tensor, ops=None) -> dict:
        """As :meth:`ProgramBackend.run`; on CUDA the op loop is a CUDA graph captured on the first call."""
        check_input_codes(self.program, x_codes)
        ops = self.program.ops if ops is None else ops
        with torch.no_grad():
            env = {self.program.input_name: self.kernels.begin(self.program, x_codes)}
            if not self.use_graph:
                return run_ops(self.kernels, ops, env)
            plan = self.kernels.plan
            key = len(ops)
            if key not in plan["graphs"]:
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    run_ops(self.kernels, ops, dict(env))  # warm-up: compiles the kernels outside the capture
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    run_ops(self.kernels, ops, dict(env))
                plan["graphs"][key] = graph
            plan["graphs"][key].replay()
            return dict(plan["bufs"])
