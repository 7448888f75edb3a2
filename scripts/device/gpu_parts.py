"""The measured parts of the device check (``scripts/device/gpu_check.py`` runs them, guards them, writes them).

Each part is a function ``part(state) -> dict`` registered in :data:`PARTS` (run order = list order). It
calls the project's own pieces (the Triton backend and its CUDA graph, the integer reference executor,
``CudaGLInterop``, the passes of ``engine_bridge.bench_passes``, the MAC report) and only adds timing:
CUDA events around CUDA work (:func:`cuda_times_ms`), GL timer queries around GL work
(:func:`gl_times_ms`), a wall clock bracketed by ``glFinish`` + ``torch.cuda.synchronize`` around a whole
pass (GL and CUDA work together). Every timing is a list of samples after warm-up, summarised by
:func:`summary` (median, p10, p90, n).

A part returns its results; it raises on a real error (the runner records it and goes on) and may put
``"status": "failed"`` in its result when a check it made did not hold. ``state.time_left()`` is the
global time guard: long loops stop early when it runs low, and say so (``"stopped_early"``).

On a machine without CUDA (``--dry-run``) the same code runs at tiny sizes on the CPU where it can: the
int8 rate on a small ``torch._int_mm``, the network timings with the CPU int8 backend, the G-buffer and
TAA on Mesa's llvmpipe; the parts that need CUDA say ``needs_cuda`` and are skipped there.
"""

from __future__ import annotations

import copy
import ctypes
import functools
import importlib.metadata
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

REPO = Path(__file__).resolve().parents[2]

# Datasheet rates of the H100/H200 SXM (shared/reference/gpu.md section 7; H200.md: same arithmetic as H100).
DATASHEET_INT8_TOPS = 1978.9
DATASHEET_FP16_TFLOPS = 989.4

PACKAGES = ("torch", "triton", "cupy-cuda13x", "cuda-bindings", "cuda-python", "numpy", "PyOpenGL", "glfw",
            "trimesh", "OpenEXR", "safetensors", "pytest")


@dataclass(frozen=True)
class Part:
    """One registered part of the check.

    Attributes:
        name: the key in the JSON and on the command line (``--parts``).
        fn: ``fn(state) -> dict`` of results.
        title: one line for the tables.
        needs_cuda: skipped (not failed) on a machine without CUDA.
        min_s: not started when fewer seconds than this are left of the global budget.
        cap_s: the most seconds it may run (an alarm interrupts it, recorded as a timeout).
    """

    name: str
    fn: Callable
    title: str
    needs_cuda: bool = False
    min_s: float = 5.0
    cap_s: float = 120.0


PARTS: list[Part] = []


def part(name: str, title: str, needs_cuda: bool = False, min_s: float = 5.0, cap_s: float = 120.0):
    """Decorator: register ``fn`` as a part (in definition order)."""
    def wrap(fn):
        PARTS.append(Part(name, fn, title, needs_cuda, min_s, cap_s))
        return fn
    return wrap


# -- timing --------------------------------------------------------------------------------------------------

def summary(samples: list[float]) -> dict:
    """``{"median", "p10", "p90", "n"}`` of a list of milliseconds (nearest-rank percentiles).

    Raises:
        ValueError: no samples.
    """
    if not samples:
        raise ValueError("no timing samples")
    s = sorted(samples)

    def rank(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p * (len(s) - 1))))]

    return {"median": statistics.median(s), "p10": rank(0.1), "p90": rank(0.9), "n": len(s)}


def cuda_times_ms(fn: Callable[[], object], warmup: int, repeats: int, max_s: float = 30.0) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones.

    On CUDA each call is bracketed by two ``torch.cuda.Event`` records on the current stream (device time
    of the work the call issued, launch gaps included); without CUDA a host clock brackets each call.
    Stops early once ``max_s`` host seconds are spent (at least one sample).
    """
    import torch

    for _ in range(warmup):
        fn()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
    t_end = time.perf_counter() + max_s
    if not cuda:
        out = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
            if time.perf_counter() > t_end:
                break
        return out
    events = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        events.append((start, end))
        if time.perf_counter() > t_end:
            break
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in events]


class GLTimer:
    """GL ``GL_TIME_ELAPSED`` queries: GPU time of the GL commands between ``begin`` and ``end``.

    (PyOpenGL's wrapped ``glGetQueryObjectui64v`` fails on the 64-bit result type; the raw entry point
    with a ``c_uint64`` works.) Needs a current GL 3.3+ context.
    """

    def __init__(self):
        import numpy as np
        from OpenGL import GL

        self._gl = GL
        self.query = int(np.atleast_1d(GL.glGenQueries(1))[0])

    def begin(self) -> None:
        self._gl.glBeginQuery(self._gl.GL_TIME_ELAPSED, self.query)

    def end_ms(self) -> float:
        from OpenGL.raw.GL.VERSION.GL_3_3 import glGetQueryObjectui64v

        self._gl.glEndQuery(self._gl.GL_TIME_ELAPSED)
        value = ctypes.c_uint64(0)
        glGetQueryObjectui64v(self.query, self._gl.GL_QUERY_RESULT, ctypes.byref(value))
        return value.value / 1e6

    def close(self) -> None:
        self._gl.glDeleteQueries(1, [self.query])


def walled_ms(fn: Callable[[], object]) -> float:
    """Wall milliseconds of ``fn`` with GL and CUDA drained before and after (``glFinish`` + synchronize)."""
    import torch
    from OpenGL import GL

    cuda = torch.cuda.is_available()
    GL.glFinish()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    GL.glFinish()
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


def padded(w: int, h: int, multiple: int) -> tuple[int, int]:
    """(width, height) rounded up to ``multiple`` (what the network runs at)."""
    return -(-w // multiple) * multiple, -(-h // multiple) * multiple


# -- carry: the wheels and debs the device machine needs -------------------------------------------------------

def carry_list(path: Path | None = None) -> dict[str, list[str]]:
    """``{"wheel": ["PyOpenGL==3.1.10", ...], "deb": ["libegl1", ...]}`` from ``scripts/device/carry.txt``.

    Raises:
        ValueError: a line that is neither a comment nor ``wheel NAME==VERSION`` / ``deb NAME``.
    """
    path = path or REPO / "scripts" / "device" / "carry.txt"
    items: dict[str, list[str]] = {"wheel": [], "deb": []}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, item = line.partition(" ")
        item = item.strip()
        if kind not in items or not item or " " in item or (kind == "wheel" and "==" not in item):
            raise ValueError(f"{path.name}:{n}: expected 'wheel NAME==VERSION' or 'deb NAME', got {line!r}")
        items[kind].append(item)
    return items


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def check_carry(root: Path, items: dict[str, list[str]] | None = None) -> dict:
    """Compare ``root/.whl`` and ``root/.gl`` with the carry list.

    A wheel file ``NAME-VERSION-...whl`` matches ``NAME==VERSION`` (names compared PEP 503-normalised);
    two files of one package are a conflict (pip refuses the whole install); a deb ``NAME_VER_amd64.deb``
    matches ``NAME``.

    Returns:
        ``{"complete", "missing", "conflicts", "extra", "wheel_files", "deb_files", "bytes"}``.
    """
    items = items or carry_list()
    whl = sorted(p.name for p in (root / ".whl").glob("*.whl")) if (root / ".whl").is_dir() else []
    debs = sorted(p.name for p in (root / ".gl").glob("*.deb")) if (root / ".gl").is_dir() else []
    by_pkg: dict[str, list[str]] = {}
    for f in whl:
        by_pkg.setdefault(_norm(f.split("-")[0]), []).append(f)
    missing, conflicts, used = [], [], set()
    for spec in items["wheel"]:
        name, version = spec.split("==")
        files = by_pkg.get(_norm(name), [])
        used.update(files)
        if not any(f.split("-")[1] == version for f in files):
            missing.append(spec)
        if len(files) > 1:
            conflicts.append(f"{name}: {', '.join(files)}")
    deb_names = {f.split("_")[0]: f for f in debs}
    missing += [f"deb {d}" for d in items["deb"] if d not in deb_names]
    extra = [f for f in whl if f not in used]
    size = sum(p.stat().st_size for d in (".whl", ".gl") if (root / d).is_dir() for p in (root / d).iterdir())
    return {"complete": not missing and not conflicts, "missing": missing, "conflicts": conflicts,
            "extra": extra, "wheel_files": whl, "deb_files": debs, "bytes": size}


# Import names the device image provides (KINDS.md, "Python packages already there", read 2026-11-17),
# those the carried wheels provide, and optional extras no device script needs (not carried).
DEVICE_IMAGE_MODULES = frozenset({"torch", "triton", "numpy", "scipy", "PIL", "tqdm", "safetensors", "cupy", "cuda",
                                  "pytest", "hypothesis", "matplotlib", "imageio", "yaml", "cv2", "numba"})
WHEEL_MODULES = {"PyOpenGL": "OpenGL", "OpenEXR": "OpenEXR", "trimesh": "trimesh", "glfw": "glfw",
                 "pytorch-ranger": "pytorch_ranger", "flip-evaluator": "flip_evaluator"}
OPTIONAL_NOT_CARRIED = frozenset({"moderngl", "glcontext", "pyglet", "pytorch_msssim"})
LOCAL_MODULES = frozenset({"qwplugin", "engine_bridge", "gpu_parts", "gpu_check"})


@functools.lru_cache(maxsize=4)
def _imported_modules_cached(roots: tuple[Path, ...]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in _scan_imports(roots).items()}


def imported_modules(roots: list[Path]) -> dict[str, list[str]]:
    """Top-level third-party module names imported anywhere under ``roots`` (``ast`` scan, lazy imports
    inside functions included) -> the files importing them (relative to the repository). Cached per roots."""
    return {k: list(v) for k, v in _imported_modules_cached(tuple(roots)).items()}


def _scan_imports(roots) -> dict[str, list[str]]:
    """Top-level third-party module names imported anywhere under ``roots`` (``ast`` scan, lazy imports
    inside functions included) -> the files importing them (relative to the repository)."""
    import ast

    found: dict[str, set[str]] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL_MODULES:
                        found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return {k: sorted(v) for k, v in sorted(found.items())}


def import_coverage(items: dict[str, list[str]] | None = None) -> dict:
    """Whether the device image plus the carried wheels cover what the project's code imports.

    Returns:
        ``{"uncovered": {module: files}, "carried_unused": [wheel specs whose module nothing imports]}``.
    """
    items = items or carry_list()
    carried = {}
    for spec in items["wheel"]:
        name = spec.split("==")[0]
        carried[WHEEL_MODULES.get(name, _norm(name))] = spec
    mods = imported_modules([REPO / "qwplugin", REPO / "engine_bridge", REPO / "scripts" / "device"])
    covered = DEVICE_IMAGE_MODULES | OPTIONAL_NOT_CARRIED | set(carried)
    return {"uncovered": {m: f for m, f in mods.items() if m not in covered},
            "carried_unused": sorted(spec for mod, spec in carried.items() if mod not in mods)}


_GPU_MARK = re.compile(r"^\s*(@pytest\.mark\.gpu\b|pytestmark\s*=.*\bpytest\.mark\.gpu\b)", re.MULTILINE)


def gpu_test_files(tests: Path) -> list[Path]:
    """Test files under ``tests`` that hold a ``gpu`` mark (``pytest.mark.gpu``, or a ``pytestmark`` with
    it), sorted. Only these are collected: a module of another test file that fails to import on the device
    image cannot hide the GPU tests."""
    return sorted(p for p in tests.rglob("test_*.py") if _GPU_MARK.search(p.read_text(errors="replace")))


def parse_junit(path: Path) -> list[dict]:
    """``[{"test", "outcome", "seconds", "message"}]`` from a pytest JUnit XML file.

    ``outcome`` is ``passed``, ``failed``, ``error`` or ``skipped``.
    """
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (node.get("message") or node.text or "")[:500]
                break
        name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        out.append({"test": name, "outcome": outcome, "seconds": float(case.get("time") or 0.0),
                    "message": message})
    return out


# -- the parts ------------------------------------------------------------------------------------------------

def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@part("env", "machine, driver, packages, carried wheels", min_s=1, cap_s=30)
def part_env(state) -> dict:
    import torch

    info = {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
            "cpus": os.cpu_count(), "load": list(os.getloadavg()), "cuda": torch.cuda.is_available(),
            "packages": {d: _version(d) for d in PACKAGES}, "carry": check_carry(REPO),
            "imports": import_coverage()}
    if torch.cuda.is_available():  # before any GL context exists (Triton after Mesa's LLVM is known to crash)
        import triton

        info["triton"] = triton.__version__
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "capability": f"{p.major}.{p.minor}", "sms": p.multi_processor_count,
                       "memory_gib": round(p.total_memory / 2 ** 30, 1),
                       "l2_mib": round(getattr(p, "L2_cache_size", 0) / 2 ** 20, 1),
                       "torch_cuda": torch.version.cuda}
    if shutil.which("nvidia-smi"):
        q = ("name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.draw,power.limit,temperature.gpu,"
             "memory.used,memory.total,utilization.gpu")
        res = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20, check=False)
        info["nvidia_smi"] = dict(zip(q.split(","), [v.strip() for v in res.stdout.strip().split(",")]))
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                        timeout=10, check=False).stdout.strip() or None
    except OSError:
        info["commit"] = None
    return info


@part("int8_rate", "int8 tensor-core rate: one large torch._int_mm (+ fp16/bf16 matmul rates)", min_s=10,
      cap_s=60)
def part_int8_rate(state) -> dict:
    import torch

    from qwplugin.intexec.bench import int8_gemm_peak

    dev = state.device
    m, k, n = (16384, 8192, 8192) if dev == "cuda" else (256, 256, 256)
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g).to(dev)
    b = torch.randint(-128, 128, (n, k), dtype=torch.int8, generator=g).to(dev).t()  # column-major B (cuBLASLt)
    c = torch._int_mm(a, b)
    # correctness first: a 64 x 64 corner against int64 arithmetic on the CPU (exact)
    ref = a[:64].cpu().to(torch.int64) @ b[:, :64].cpu().to(torch.int64)
    exact = bool(torch.equal(c[:64, :64].cpu().to(torch.int64), ref))
    times = cuda_times_ms(lambda: torch._int_mm(a, b), state.warmup_small, state.repeats_small)
    s = summary(times)
    mac_s = m * k * n / (s["median"] / 1e3)
    out = {"shape_mkn": [m, k, n], "exact_corner": exact, "ms": s, "mac_per_s": mac_s, "tops": 2 * mac_s / 1e12,
           "of_datasheet": 2 * mac_s / 1e12 / DATASHEET_INT8_TOPS if dev == "cuda" else None,
           "status": "ok" if exact else "failed"}
    state.shared["int8_mac_per_s"] = mac_s
    # the project's own figure (host clock around a 16384x4096x4096 product on CUDA): a cross-check
    out["project_int8_gemm_peak_mac_per_s"] = int8_gemm_peak(repeats=state.repeats_small)
    sz = 8192 if dev == "cuda" else 256
    for dtype in (torch.float16, torch.bfloat16):
        x = torch.randn(sz, sz, dtype=dtype, device=dev)
        y = torch.randn(sz, sz, dtype=dtype, device=dev)
        s = summary(cuda_times_ms(lambda: x @ y, state.warmup_small, state.repeats_small))
        name = str(dtype).split(".")[1]
        out[name] = {"shape": sz, "ms": s, "tflops": 2 * sz ** 3 / (s["median"] / 1e3) / 1e12}
        state.shared[f"{name}_flop_per_s"] = 2 * sz ** 3 / (s["median"] / 1e3)
    return out


@part("pytest_gpu", "GPU-marked tests (pytest -m gpu), for real", min_s=20, cap_s=150)
def part_pytest_gpu(state) -> dict:
    tests_dir = Path(getattr(state, "tests_dir", REPO / "tests"))
    files = gpu_test_files(tests_dir)
    if not files:  # pytest without file arguments would run the whole suite
        return {"files": [], "status": "skipped", "counts": {}, "tests": [], "returncode": None}
    junit = Path(state.scratch) / "pytest_gpu.xml"
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rA", "-p", "no:cacheprovider",
           "--continue-on-collection-errors", f"--junitxml={junit}", *map(str, files)]
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = dict(os.environ, PYTHONPATH=path)
    timeout = max(10.0, min(140.0, state.time_left() - 10))
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                             check=False)
        rc, text = res.returncode, res.stdout + res.stderr
    except subprocess.TimeoutExpired as exc:
        rc, text = "timeout", f"pytest ran past {timeout:.0f} s\n" + (exc.stdout or b"").decode(errors="replace")
    (Path(state.out) / "pytest_gpu.txt").write_text(" ".join(cmd) + "\n\n" + text)
    tests = parse_junit(junit) if junit.exists() else []
    counts = {o: sum(t["outcome"] == o for t in tests) for o in ("passed", "failed", "error", "skipped")}
    bad = counts["failed"] + counts["error"] or rc not in (0, 5)  # 5: nothing selected
    status = "failed" if bad else ("ok" if counts["passed"] else "skipped")
    return {"files": [str(f.relative_to(tests_dir.parent)) for f in files], "returncode": rc,
            "seconds": time.perf_counter() - t0, "counts": counts,
            "tests": tests, "status": status}


def _scene_frames(state, w: int, h: int, n: int):
    """``n`` consecutive rendered G-buffer frames of the check's scene, read back: [(color, motion_px)]."""
    from engine_bridge.raster.renderer import Renderer
    from engine_bridge.scene.loader import load_scene

    state.gl()
    frames = []
    with Renderer(load_scene(state.scene), w, h) as r:
        for i in range(n):
            t = 0.5 + i / 30.0
            r.render_gbuffer(t, t - 1 / 30.0 if i else None, r.jitter_for_frame(i))
            g = r.read_gbuffer()
            frames.append((g.color.copy(), g.motion_px.copy()))
    return frames


def _nchw(a, device):
    import torch

    return torch.from_numpy(a).permute(2, 0, 1)[None].contiguous().to(device)


@part("exact_frame", "Triton int8 kernels + CUDA graph bit-exact vs the integer reference, shipped int4 "
      "weights, rendered frames", min_s=20, cap_s=90)
def part_exact_frame(state) -> dict:
    import torch

    from qwplugin.intexec.reference import quantize_input, run_reference
    from qwplugin.model import reconstruct_step
    from qwplugin.runtime.weights import SHIPPED_DIR, load_weights_file

    w, h = state.exact_size
    frames = _scene_frames(state, w, h, 2)
    net = load_weights_file(SHIPPED_DIR / "qwnet-int4.safetensors").model
    detail, _ = net.use_backend("triton" if state.device == "cuda" else "cpu", state.device)
    program = net.program
    captured = []
    hook = net.features.register_forward_pre_hook(lambda mod, args: captured.append(args[0].detach().clone()))
    try:
        with torch.no_grad():
            prev = None
            for color, motion in frames:  # the runtime's own path from a frame to the network input
                prev = reconstruct_step(net, _nchw(color, state.device), _nchw(motion, state.device), prev)
    finally:
        hook.remove()
    spec = program.input_spec
    checks = []
    # frame 1 (with history) first: the first run captures the CUDA graph; frame 0 then replays it
    for label, x in (("frame 1 (history)", captured[1]), ("frame 0 (graph replay, new input)", captured[0])):
        codes = quantize_input(x, spec.scale, spec.bits)
        got = net.backend.run_outputs(codes)
        t0 = time.perf_counter()
        ref = run_reference(program, codes.cpu())
        ref_s = time.perf_counter() - t0
        bad = {n: int((got[n] != ref[n]).sum()) for n in program.outputs + program.heads
               if not torch.equal(got[n], ref[n])}
        checks.append({"input": label, "mismatching_elements": bad, "exact": not bad,
                       "reference_s": ref_s, "nonzero_input_codes": int((codes > 0).sum())})
    return {"size": f"{w}x{h}", "backend": net.backend.name, "precision": detail,
            "cuda_graph": bool(getattr(net.backend, "use_graph", False)), "checks": checks,
            "status": "ok" if all(c["exact"] for c in checks) else "failed"}


def _float_variants(state, fp32, dtype_names):
    """(label, model, dtype) of the float network in each dtype, channels_last on CUDA."""
    import torch

    out = []
    for name in dtype_names:
        dtype = getattr(torch, name)
        m = copy.deepcopy(fp32).to(device=state.device, dtype=dtype)
        if state.device == "cuda":
            m = m.to(memory_format=torch.channels_last)
        out.append((f"float {name}" + (" channels_last" if state.device == "cuda" else ""), m, dtype))
    return out


def _graphed(fn, example_args):
    """``fn`` captured into a CUDA graph on static inputs: returns replay() (inputs stay the examples)."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            fn(*example_args)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(*example_args)
    return graph.replay


@part("networks", "QW-Net network only (CUDA events): int4 Triton, fake-quant FP16, float FP32/FP16/BF16",
      needs_cuda=False, min_s=30, cap_s=200)
def part_networks(state) -> dict:
    import torch

    from qwplugin.analysis.macs import mac_report
    from qwplugin.runtime.weights import SHIPPED_DIR, load_weights_file

    torch.backends.cudnn.benchmark = True
    int_file = load_weights_file(SHIPPED_DIR / "qwnet-int4.safetensors")
    fp32 = load_weights_file(SHIPPED_DIR / "qwnet-fp32.safetensors").model.eval()
    program = int_file.model.program
    rows, stopped = [], False
    for w, h in state.sizes:
        wp, hp = padded(w, h, program.pad_multiple)
        report = mac_report(int_file.config, h, w)
        ext_macs = program.macs_per_pixel() * wp * hp
        g = torch.Generator(device="cpu").manual_seed(1)
        x = torch.rand(1, program.input_spec.channels, hp, wp, generator=g).to(state.device)
        color = torch.rand(1, 3, h, w, generator=g).to(state.device)
        hist = torch.rand(1, 3, h, w, generator=g).to(state.device)
        variants = []
        for pref in (("triton",) if state.device == "cuda" else ("cpu",)) + ("fakequant",):
            variants.append(("int4 " + pref, pref, None))
        variants += [(label, m, dtype) for label, m, dtype in
                     _float_variants(state, fp32, ("float32", "float16", "bfloat16"))]
        for label, model, dtype in variants:
            if state.time_left() < state.reserve_s:
                stopped = True
                break
            row = {"size": f"{w}x{h}", "path": label, "extractor_macs": ext_macs, "total_macs": report.total}
            try:
                if dtype is None:  # the integer program on a backend (pref in model)
                    net = load_weights_file(SHIPPED_DIR / "qwnet-int4.safetensors").model
                    row["precision"], _ = net.use_backend(model, state.device)
                    row["backend"] = net.backend.name
                    row["fp16"] = model == "fakequant" and state.device == "cuda"  # FP16 cuDNN convs there
                    xi, ci, hi = x, color, hist
                else:
                    net, row["backend"], row["precision"] = model, "torch (cuDNN)" if state.device == "cuda" \
                        else "torch", str(dtype).split(".")[1]
                    row["fp16"] = dtype == torch.float16
                    cl = torch.channels_last if state.device == "cuda" else torch.contiguous_format
                    xi, ci, hi = (t.to(dtype).contiguous(memory_format=cl) for t in (x, color, hist))
                with torch.no_grad():
                    row["extractor_ms"] = summary(cuda_times_ms(lambda: net.features(xi), state.warmup,
                                                                state.repeats))
                    row["whole_ms"] = summary(cuda_times_ms(lambda: net(ci, hi), state.warmup, state.repeats))
                    if dtype is not None and state.device == "cuda":
                        try:  # the whole float network in one CUDA graph (gpu.md section 7, path (b))
                            replay = _graphed(lambda a, b: net(a, b), (ci, hi))
                            row["whole_graph_ms"] = summary(cuda_times_ms(replay, state.warmup, state.repeats))
                        except Exception as exc:  # noqa: BLE001 - the eager figures above still stand
                            row["whole_graph_error"] = f"{type(exc).__name__}: {exc}"[:300]
                row["extractor_mac_per_s"] = ext_macs / (row["extractor_ms"]["median"] / 1e3)
            except Exception as exc:  # noqa: BLE001 - one path failing must not hide the others
                row["error"] = f"{type(exc).__name__}: {exc}"[:500]
            rows.append(row)
        if stopped:
            break
    return {"rows": rows, "stopped_early": stopped, "macs_per_pixel_extractor": program.macs_per_pixel(),
            "macs_per_pixel_with_heads": program.macs_per_pixel(heads=True),
            "cudnn_benchmark": True, "status": "failed" if any("error" in r for r in rows) else "ok"}


class _CallCounter:
    """Counts calls of named functions of a module by wrapping them (restored on exit)."""

    def __init__(self, module, names):
        self.module, self.names, self.counts, self._orig = module, names, dict.fromkeys(names, 0), {}
        self.ok = True  # False when the module refuses new attributes (then nothing is counted)

    def __enter__(self):
        for n in self.names:
            orig = getattr(self.module, n)

            def wrapper(*a, _n=n, _orig=orig, **kw):
                self.counts[_n] += 1
                return _orig(*a, **kw)

            try:
                setattr(self.module, n, wrapper)
            except (AttributeError, TypeError):
                self.ok = False
                continue
            self._orig[n] = orig
        return self

    def __exit__(self, *exc):
        for n, f in self._orig.items():
            setattr(self.module, n, f)


@part("interop", "CUDA-GL interop (EGL on the NVIDIA driver): register once, map per frame, copies",
      needs_cuda=True, min_s=20, cap_s=90)
def part_interop(state) -> dict:
    import numpy as np
    import torch
    from cuda.bindings import runtime
    from OpenGL import GL

    from engine_bridge.gl.textures import create_texture, delete_textures
    from engine_bridge.transfer.cuda_interop import CudaGLInterop
    from engine_bridge.transfer.readback import ReadbackTransfer
    from engine_bridge.transfer.select import decide_interop, probe_interop

    gl = state.gl()
    rows = []
    names = ("cudaGraphicsGLRegisterImage", "cudaGraphicsMapResources", "cudaGraphicsUnmapResources")
    for w, h in state.sizes:
        color, motion, out = (create_texture(w, h, f) for f in (GL.GL_RGBA16F, GL.GL_RG16F, GL.GL_RGBA16F))
        try:
            cap = decide_interop(probe_interop("cuda:0", {"color": color, "motion": motion, "output": out}))
            if not cap.available:
                rows.append({"size": f"{w}x{h}", "error": f"interop unavailable: {cap.reason}"})
                continue
            rng = np.random.default_rng(0)
            img = rng.uniform(0, 8, (h, w, 3)).astype(np.float16).astype(np.float32)
            mot = rng.uniform(-4, 4, (h, w, 2)).astype(np.float16).astype(np.float32)
            rb = ReadbackTransfer(w, h)
            rb.write(color, img)
            rb.write(motion, mot)
            for multi in (False, True):
                row = {"size": f"{w}x{h}", "multi_map": multi, "gl_renderer": gl.renderer}
                with _CallCounter(runtime, names) as calls:
                    io = CudaGLInterop(w, h, device=f"cuda:{cap.cuda_device}", multi_map=multi)
                    try:
                        io.begin_frame([color, motion], [out])
                        got_c, got_m = io.read(color, 3, "color"), io.read(motion, 2, "motion")
                        io.write(out, got_c * 2)
                        io.end_frame()
                        torch.cuda.synchronize()
                        row["on_gpu"] = bool(got_c.is_cuda and got_m.is_cuda)
                        row["exact"] = bool(np.array_equal(got_c.cpu().numpy(), img)
                                            and np.array_equal(got_m.cpu().numpy(), mot)
                                            and np.array_equal(rb.read(out, 3, "output"), img * 2))

                        def frame():
                            io.begin_frame([color, motion], [out])
                            c = io.read(color, 3, "color")
                            io.read(motion, 2, "motion")
                            io.write(out, c)
                            io.end_frame()

                        def map_only():
                            io.begin_frame([color, motion], [out])
                            io.end_frame()

                        before = dict(calls.counts)
                        row["frame_ms"] = summary(cuda_times_ms(frame, state.warmup, state.repeats))
                        frames = state.warmup + row["frame_ms"]["n"]
                        if calls.ok:
                            row["registrations"] = calls.counts[names[0]]
                            row["maps_per_frame"] = (calls.counts[names[1]] - before[names[1]]) / frames
                        row["map_unmap_ms"] = summary(cuda_times_ms(map_only, state.warmup, state.repeats))
                        host = []
                        for _ in range(min(state.repeats, 30)):
                            t0 = time.perf_counter()
                            frame()
                            torch.cuda.synchronize()
                            host.append((time.perf_counter() - t0) * 1e3)
                        row["frame_host_ms"] = summary(host)
                    except Exception as exc:  # noqa: BLE001 - recorded; the other variant still runs
                        row["error"] = f"{type(exc).__name__}: {exc}"[:500]
                    finally:
                        io.close()
                rows.append(row)
        finally:
            delete_textures(color, motion, out)
    # 3 textures: registered once each over all the frames (None: the calls could not be counted)
    ok = rows and all("error" not in r and r.get("exact") and r.get("registrations", 3) == 3 for r in rows)
    return {"rows": rows, "status": "ok" if ok else "failed"}


@part("passes", "G-buffer render and TAA (GL timer queries), whole QW-Net passes with transfers (wall)",
      min_s=30, cap_s=200)
def part_passes(state) -> dict:
    import torch

    from engine_bridge.bench_passes import execute, make_pass
    from engine_bridge.raster.renderer import Renderer
    from engine_bridge.scene.loader import load_scene

    state.gl()
    modes = ("taa", "qwnet-int4", "qwnet-fp32")
    scene = load_scene(state.scene)
    rows, stopped = [], False
    for w, h in state.sizes:
        row = {"size": f"{w}x{h}"}
        timer = None
        renderer = Renderer(scene, w, h)
        passes = {}
        try:
            for m in modes:
                try:
                    passes[m] = make_pass(m, w, h, "qwnet", "auto")
                except Exception as exc:  # noqa: BLE001 - the other passes still run
                    row[f"{m}_error"] = f"{type(exc).__name__}: {exc}"[:500]
            timer = GLTimer()
            samples = {k: [] for k in ("render_gl", "render_wall", "taa_gl", "taa_wall",
                                       "qwnet-int4_wall", "qwnet-fp32_wall")}
            n = state.warmup + state.pass_frames
            for i in range(n):
                if state.time_left() < state.reserve_s:
                    stopped = True
                    break
                t = i / 30.0
                jitter = renderer.jitter_for_frame(i)
                keep = i >= state.warmup
                timer.begin()
                wall = walled_ms(lambda: renderer.render_gbuffer(t, t - 1 / 30.0 if i else None, jitter))
                gl_ms = timer.end_ms()
                if keep:
                    samples["render_gl"].append(gl_ms)
                    samples["render_wall"].append(wall)
                for m, p in passes.items():
                    reset = i == 0
                    if m == "taa":
                        timer.begin()
                        wall = walled_ms(lambda: execute(p, renderer, jitter, reset))
                        gl_ms = timer.end_ms()
                        if keep:
                            samples["taa_gl"].append(gl_ms)
                            samples["taa_wall"].append(wall)
                    else:
                        wall = walled_ms(lambda: execute(p, renderer, jitter, reset))
                        if keep:
                            samples[f"{m}_wall"].append(wall)
            row.update({k: summary(v) for k, v in samples.items() if v})
            for m, p in passes.items():
                if m.startswith("qwnet"):
                    out = p.bridge.last_output
                    row[m] = {"transfer": p.bridge.transfer_name, "transfer_reason": p.bridge.transfer_reason,
                              "precision": p.context.backend_info.precision_detail,
                              "device": p.context.backend_info.device,
                              "output_on_gpu": bool(isinstance(out, torch.Tensor) and out.is_cuda),
                              "bridge_ms": p.bridge.timings_ms(),
                              "context_ms": p.context.stats.timing_median_ms}
        finally:
            if timer is not None:
                timer.close()
            for p in passes.values():
                p.close()
            renderer.close()
        rows.append(row)
        if stopped:
            break
    bad = any(k.endswith("_error") for r in rows for k in r)
    return {"rows": rows, "stopped_early": stopped, "scene": state.scene, "frames": state.pass_frames,
            "status": "failed" if bad else "ok"}
