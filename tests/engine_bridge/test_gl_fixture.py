"""The shared ``gl`` fixture (``tests/engine_bridge/conftest.py``) fails a test that leaves a GL error
pending, and lets clean tests pass.

Runs pytest in a subprocess on a scratch folder holding a copy of the conftest and three tests: one clean,
one that raises ``GL_INVALID_ENUM`` (``glEnable`` of an invalid capability, called through ctypes
without PyOpenGL's error check) and leaves it pending, and one
after it that must start clean again (the flag was drained).
"""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.gl

CASES = textwrap.dedent('''
    import ctypes

    import engine_bridge.gl  # noqa: F401

    from OpenGL import GL, platform


    def test_clean(gl):
        GL.glEnable(GL.GL_BLEND)
        GL.glDisable(GL.GL_BLEND)


    def test_leaves_an_error(gl):
        # Not a capability: GL_INVALID_ENUM. Called straight from the GL library, as a host's unchecked call
        # would (PyOpenGL's own wrapper would read the flag back itself and raise).
        platform.PLATFORM.GL.glEnable(ctypes.c_uint(0x7FFF))


    def test_starts_clean_again(gl):
        assert GL.glGetError() == GL.GL_NO_ERROR
''')


def test_a_pending_gl_error_fails_the_test_that_left_it(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_cases.py").write_text(CASES)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "test_cases.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "PASSED test_cases.py::test_clean" in out, out
    assert "PASSED test_cases.py::test_starts_clean_again" in out, out
    assert "ERROR test_cases.py::test_leaves_an_error" in out, out
    assert "test_leaves_an_error left a GL error pending: GL_INVALID_ENUM (0x0500)" in out, out
