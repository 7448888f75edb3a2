"""GPU backend: Triton int8 implicit-GEMM convolutions executing the 4-bit arithmetic exactly.

Activations live as NHWC uint8 codes. A conv is an implicit GEMM: output tile = ``BLOCK_M`` pixels x
``BLOCK_N`` output channels, K loop over the k*k taps x ``BLOCK_K`` input channels, each step one
``tl.dot(int8, int8, out_dtype=int32)`` (tensor cores on sm_80+; u4 codes 0..15 and s4 weights -8..7 fit
int8 exactly, so s8 x s8 -> s32 is the 4-bit integer product). The first conv's 8-bit input codes
(0..255) do not fit int8: they are loaded as ``code - 128`` and ``128 * sum(w)`` per output channel is
added back (padding reads as code 0, i.e. -128, so the correction is exact at borders too). The epilogue
is the reference requantization (:mod:`qwplugin.intexec.reference`): ``(f32(acc) + beta) * m``, round half
to even written with floor and an explicit tie rule (no reliance on a libdevice ``rint``), clamp to
[0, 15], store uint8 into a channel slice of the destination buffer. Concatenation is free: both sources
are written straight into their slices of the concat buffer (planned once per input size). Max-pool and
nearest upsampling are small elementwise kernels on codes.

On CUDA the whole extractor (all launches) is captured once per input size into a CUDA graph and replayed.
Under ``TRITON_INTERPRET=1`` the same kernels run on CPU tensors (tests); no graph is used there.

Needs: ``triton`` importable, and either a CUDA device or ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import os

import torch

from qwplugin.errors import UnsupportedHardware
from qwplugin.intexec.program import Concat, Conv, IntProgram, MaxPool, Upsample
from qwplugin.intexec.reference import check_input_codes, requant_constants

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
                     BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
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
        beta = tl.load(beta_ptr + offs_n, mask=n_ok, other=0.0)
        mult = tl.load(m_ptr + offs_n, mask=n_ok, other=0.0)
        t = (acc.to(tl.float32) + beta[None, :]) * mult[None, :]
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


class TritonInt8Backend:
    """Executes an :class:`IntProgram` with Triton int8 kernels; codes equal the reference executor's.

    Args:
        program: the integer program.
        device: "cuda" (default when available) or "cpu" (only under ``TRITON_INTERPRET=1``).
        cuda_graph: capture the whole extractor into a CUDA graph per input size (CUDA only).

    Raises:
        UnsupportedHardware: Triton or a suitable device is missing (message says which).
    """

    name = "triton-int8"
    exact = True

    def __init__(self, program: IntProgram, device: str | None = None, cuda_graph: bool = True):
        ok, why = triton_available()
        if not ok:
            raise UnsupportedHardware(why)
        program.validate()
        self.program = program
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cpu" and not interpreter_enabled():
            raise UnsupportedHardware("Triton on CPU tensors needs TRITON_INTERPRET=1")
        self.use_graph = cuda_graph and self.device.type == "cuda"
        self._params = {}
        for op in program.convs():
            src, dst = program.tensors[op.src], program.tensors[op.dst]
            k = op.kernel_size
            w = op.weight.permute(2, 3, 1, 0).reshape(k * k * op.weight.shape[1], op.weight.shape[0])
            _, beta, m = requant_constants(src.scale, op.weight_scale, op.bias, dst.scale)
            wsum = op.weight.to(torch.int32).sum(dim=(1, 2, 3))
            in_offset = 128 if src.bits == 8 else 0
            assert src.bits in (4, 8)
            self._params[op.dst] = tuple(t.to(self.device).contiguous() for t in (w, wsum, beta, m)) + (
                in_offset, 2 ** dst.bits - 1)
        self._plans: dict[tuple, dict] = {}

    # -- planning: one NHWC buffer per tensor; concat sources are slices of the concat buffer --------------
    def _plan(self, n: int, h: int, w: int) -> dict:
        key = (n, h, w)
        if key in self._plans:
            return self._plans[key]
        p = self.program
        size = {p.input_name: (h, w)}
        for op in p.ops:
            if isinstance(op, Conv):
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
                    bufs[name] = torch.empty(n, hh, ww, p.tensors[name].channels, dtype=torch.uint8,
                                             device=self.device)
            return bufs[name]

        for name in p.tensors:
            buf(name)
        plan = {"bufs": bufs, "graph": None}
        self._plans[key] = plan
        return plan

    def _launch_all(self, bufs: dict[str, torch.Tensor]) -> None:
        for op in self.program.ops:
            if isinstance(op, Conv):
                self._conv(op, bufs[op.src], bufs[op.dst])
            elif isinstance(op, (MaxPool, Upsample)):
                x, y = bufs[op.src], bufs[op.dst]
                n, oh, ow, c = y.shape
                total = n * oh * ow * c
                kernel = _maxpool_kernel if isinstance(op, MaxPool) else _upsample_kernel
                kernel[(triton.cdiv(total, ELEMENTWISE_BLOCK),)](x, y, total, oh, ow, c, x.stride(2), y.stride(2),
                                                                  BLOCK=ELEMENTWISE_BLOCK)
            # Concat: nothing to do, its sources were written into its slices.

    def _conv(self, op: Conv, x: torch.Tensor, y: torch.Tensor) -> None:
        w, wsum, beta, m, in_offset, qmax = self._params[op.dst]
        n, h, wd, cin = x.shape
        cout = y.shape[-1]
        npix = n * h * wd
        grid = (triton.cdiv(npix, BLOCK_M), triton.cdiv(cout, BLOCK_N))
        _conv_kernel[grid](x, w, wsum, beta, m, y, npix, h, wd, cin, cout, x.stride(2), y.stride(2),
                           KS=op.kernel_size, IN_OFFSET=in_offset, QMAX=qmax, BM=BLOCK_M, BN=BLOCK_N, BK=BLOCK_K)

    def _run(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        check_input_codes(self.program, x_codes)
        n, _, h, w = x_codes.shape
        plan = self._plan(n, h, w)
        bufs = plan["bufs"]
        bufs[self.program.input_name].copy_(x_codes.permute(0, 2, 3, 1))
        if not self.use_graph:
            self._launch_all(bufs)
            return bufs
        if plan["graph"] is None:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self._launch_all(bufs)  # warm-up: compiles the kernels outside the capture
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._launch_all(bufs)
            plan["graph"] = graph
        plan["graph"].replay()
        return bufs

    @torch.no_grad()
    def run_codes(self, x_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Execute on uint8 input codes (N, Cin, H, W); returns the outputs' uint8 codes (N, C, H, W) on CPU."""
        bufs = self._run(x_codes.to(self.device))
        return {n: bufs[n].permute(0, 3, 1, 2).contiguous().cpu() for n in self.program.outputs}

    @torch.no_grad()
    def features(self, x_codes: torch.Tensor) -> list[torch.Tensor]:
        """Real-valued features ``codes * scale`` (float32, NCHW, on the backend's device), outputs order."""
        bufs = self._run(x_codes.to(self.device))
        out = []
        for name in self.program.outputs:
            scale = torch.tensor(self.program.tensors[name].scale, dtype=torch.float32, device=self.device)
            out.append(bufs[name].permute(0, 3, 1, 2).to(torch.float32) * scale)
        return out
