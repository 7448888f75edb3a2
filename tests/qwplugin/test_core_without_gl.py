"""The core installs and runs without the GL world: no GL package is a required dependency, and a
``Context`` runs on numpy and torch arrays, and every module of ``qwplugin`` imports, in a process where
every GL package is refused at import.

The refusal is a ``sys.meta_path`` finder that raises ``ModuleNotFoundError`` for glfw, OpenGL, trimesh,
PIL, pyglet, moderngl, glcontext and ``engine_bridge`` itself (the same error an environment without the
``gl`` extra gives), installed before anything of the project is imported. It stands in for a
``pip install .`` without extras, which this offline test machine cannot do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GL_PACKAGES = ("glfw", "PyOpenGL", "trimesh", "pillow", "pyglet", "moderngl", "glcontext")
"""Distribution names that belong to the GL world (``gl``/``embed`` extras, the host examples)."""
BLOCKED_MODULES = ("glfw", "OpenGL", "trimesh", "PIL", "pyglet", "moderngl", "glcontext", "engine_bridge")

SCRIPT = textwrap.dedent('''
    import sys

    BLOCKED = set(sys.argv[2].split(","))


    class RefuseGL:
        """Import hook: every blocked top-level package (and its submodules) is missing."""

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None


    sys.meta_path.insert(0, RefuseGL())
    sys.path.insert(0, sys.argv[3])  # tests/qwplugin: the shared synthetic frame stream

    import dataclasses

    import numpy as np
    import torch

    import qwplugin
    from qwplugin import Context, ContextDesc
    from runtime_frames import SIZE, pan_frame

    try:
        import OpenGL  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("the import blocker did not refuse OpenGL")


    def as_torch(frame):
        """The same frame with every numpy field as a torch tensor (the Context accepts either)."""
        return dataclasses.replace(frame, **{
            f.name: torch.from_numpy(getattr(frame, f.name)) for f in dataclasses.fields(frame)
            if isinstance(getattr(frame, f.name), np.ndarray)})


    results = {}
    for precision in ("fp32", "int4"):
        frames = [pan_frame(t) for t in range(4)]
        with_numpy = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", precision=precision,
                                         backend="cpu", seed=5))
        with_torch = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", precision=precision,
                                         backend="cpu", seed=5))
        outs = []
        for f in frames:
            a = with_numpy.dispatch(f)
            b = with_torch.dispatch(as_torch(f))
            assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor), (type(a), type(b))
            assert np.array_equal(a, b.numpy()), "numpy and torch inputs gave different outputs"
            outs.append(a)
        with_numpy.close()
        with_torch.close()
        results[precision] = np.stack(outs)

    # Every module of the core imports without them too (training, evaluation, metrics, integer backends).
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(qwplugin.__path__, "qwplugin."):
        importlib.import_module(info.name)

    loaded = sorted({m.partition(".")[0] for m in sys.modules} & BLOCKED)
    assert not loaded, f"GL modules were imported: {loaded}"
    np.savez(sys.argv[1], **results)
    print("core-without-gl: ok")
''')


def _requirement_name(spec: str) -> str:
    """``"PyOpenGL>=3.1.7; extra == 'x'"`` -> ``"pyopengl"`` (PEP 503 normalised)."""
    name = re.match(r"[A-Za-z0-9._-]+", spec.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def _extra_closure(optional: dict[str, list[str]], extra: str) -> set[str]:
    """Normalised names of everything ``pip install qwplugin[extra]`` adds (self-references followed)."""
    names: set[str] = set()
    for spec in optional[extra]:
        m = re.match(r"qwplugin\[([^\]]+)\]", spec)
        if m:
            for inner in m.group(1).split(","):
                names |= _extra_closure(optional, inner.strip())
        else:
            names.add(_requirement_name(spec))
    return names


def test_required_dependencies_hold_no_gl_package_and_dev_installs_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {_requirement_name(s) for s in project["dependencies"]}
    gl_names = {_requirement_name(n) for n in GL_PACKAGES}
    assert not required & gl_names, f"GL packages among the required dependencies: {required & gl_names}"
    optional = project["optional-dependencies"]
    gl_extra = _extra_closure(optional, "gl")
    assert {"glfw", "pyopengl", "trimesh", "pillow"} <= gl_extra, gl_extra
    # scripts/setup.sh (and so CI) installs `.[dev]`: it must still bring the whole GL world for the suite.
    assert "pip install -q -e \".[dev]\"" in (ROOT / "scripts" / "setup.sh").read_text()
    dev = _extra_closure(optional, "dev")
    assert gl_names <= dev, f"dev lacks {gl_names - dev}"


def test_context_runs_on_arrays_with_every_gl_package_refused(tmp_path):
    out_file = tmp_path / "outputs.npz"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out_file), ",".join(BLOCKED_MODULES), str(ROOT / "tests" / "qwplugin")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "core-without-gl: ok" in proc.stdout

    # The blocked run computes exactly what this (unblocked) process computes.
    from qwplugin import Context, ContextDesc

    sys.path.insert(0, str(ROOT / "tests" / "qwplugin"))
    from runtime_frames import SIZE, pan_frame

    got = np.load(out_file)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocess (OMP_NUM_THREADS=1): float reductions depend on the split
    try:
        want_by_precision = {}
        for precision in ("fp32", "int4"):
            ctx = Context(ContextDesc(render_size=SIZE, model="qwnet-tiny", precision=precision, backend="cpu",
                                      seed=5))
            want_by_precision[precision] = np.stack([ctx.dispatch(pan_frame(t)) for t in range(4)])
            ctx.close()
    finally:
        torch.set_num_threads(threads)
    for precision, want in want_by_precision.items():
        assert want.shape == (4, SIZE[1], SIZE[0], 3) and np.isfinite(want).all()
        assert np.array_equal(got[precision], want), precision
