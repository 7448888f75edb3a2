"""Shared GL fixtures of the engine_bridge tests (after moderngl's ``tests/conftest.py``).

``gl``: one headless OpenGL context per test module (:func:`engine_bridge.gl.create_context`: EGL,
OSMesa or a hidden GLFW window), current while the module's tests run, closed after the module.

Every test that uses ``gl`` (directly or through another fixture) must leave the GL error flag clean: a GL
error pending after the test (its fixtures' teardown included) fails it, naming the error codes; one
pending before the test (left by a fixture's set-up) fails it too. Both drain the flag, so the next test
starts clean.
"""

from __future__ import annotations

import pytest

_MAX_DRAIN = 32
"""At most this many error codes are read back (each glGetError call returns and clears one flag)."""

_ERROR_NAMES = {0x0500: "GL_INVALID_ENUM", 0x0501: "GL_INVALID_VALUE", 0x0502: "GL_INVALID_OPERATION",
                0x0503: "GL_STACK_OVERFLOW", 0x0504: "GL_STACK_UNDERFLOW", 0x0505: "GL_OUT_OF_MEMORY",
                0x0506: "GL_INVALID_FRAMEBUFFER_OPERATION"}


def _pending_gl_errors() -> list[str]:
    """Read and clear every pending GL error flag of the current context; their names, oldest first."""
    from OpenGL import GL

    names = []
    for _ in range(_MAX_DRAIN):
        code = GL.glGetError()
        if code == GL.GL_NO_ERROR:
            break
        names.append(f"{_ERROR_NAMES.get(int(code), 'unknown')} (0x{int(code):04x})")
    return names


@pytest.fixture(scope="module")
def gl():
    """A current headless GL context for the module's tests (closed after the last one)."""
    from engine_bridge.gl import create_context

    ctx = create_context()
    yield ctx
    ctx.close()


@pytest.fixture(autouse=True)
def _gl_error_state_is_clean(request):
    """Fail a test using ``gl`` that starts or ends with a pending GL error (see the module docstring)."""
    if "gl" not in request.fixturenames:
        yield
        return
    ctx = request.getfixturevalue("gl")
    ctx.make_current()
    before = _pending_gl_errors()
    if before:
        pytest.fail(f"GL error pending before {request.node.name} (left by a fixture's set-up): "
                    + ", ".join(before), pytrace=False)
    yield
    ctx.make_current()  # a test may have made another context current; the flag is per context
    after = _pending_gl_errors()
    if after:
        pytest.fail(f"{request.node.name} left a GL error pending: " + ", ".join(after), pytrace=False)
