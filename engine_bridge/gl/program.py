"""GLSL program loading from the shaders folder, with ``#include`` and ``#define`` injection.

Shader files live in the repository's top-level ``shaders/`` folder, shipped inside the wheel as
``engine_bridge/shaders`` (pyproject ``force-include``). ``#include "common/x.glsl"`` lines are replaced by
the file's text (relative to the shaders folder, recursively, each file at most once); ``defines`` are
inserted right after the ``#version`` line as ``#define NAME VALUE``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)
from OpenGL import GL

from qwplugin.errors import InvalidArgument, QWPluginError

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.MULTILINE)


class ShaderCompileError(QWPluginError, RuntimeError):
    """A shader failed to compile or a program failed to link; the message holds the driver log."""


def shader_dir() -> Path:
    """The folder holding the GLSL sources: ``engine_bridge/shaders`` in an installed wheel, else the
    repository's top-level ``shaders/``."""
    packaged = Path(__file__).resolve().parent.parent / "shaders"
    if packaged.is_dir():
        return packaged
    repo = Path(__file__).resolve().parent.parent.parent / "shaders"
    assert repo.is_dir(), f"shader folder not found at {packaged} or {repo}"
    return repo


def preprocess(name: str, defines: dict | None = None) -> str:
    """The source of shader file ``name`` (relative to :func:`shader_dir`) with includes expanded and
    ``defines`` injected after ``#version``.

    Raises:
        InvalidArgument: the file or an included file does not exist.
    """
    root = shader_dir()
    seen: set[str] = set()

    def expand(rel: str, chain: tuple[str, ...]) -> str:
        path = root / rel
        if not path.is_file():
            where = f" (included from {chain[-1]})" if chain else ""
            raise InvalidArgument(f"shader file not found{where}", field="shader", expected=f"a file in {root}",
                                  actual=rel)
        if rel in seen:
            return f"// {rel} already included\n"
        seen.add(rel)
        text = path.read_text()
        return _INCLUDE.sub(lambda m: expand(m.group(1), chain + (rel,)), text)

    source = expand(name, ())
    if defines:
        lines = source.split("\n")
        idx = next((i for i, line in enumerate(lines) if line.strip().startswith("#version")), -1)
        block = [f"#define {k} {v}" for k, v in defines.items()]
        lines[idx + 1:idx + 1] = block
        source = "\n".join(lines)
    return source


def compile_shader(name: str, stage: int, defines: dict | None = None) -> int:
    """Compile one shader file; ``stage`` is ``GL_VERTEX_SHADER`` or ``GL_FRAGMENT_SHADER``.

    Raises:
        ShaderCompileError: with the file name and the driver's info log.
    """
    shader = GL.glCreateShader(stage)
    GL.glShaderSource(shader, preprocess(name, defines))
    GL.glCompileShader(shader)
    if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
        log = GL.glGetShaderInfoLog(shader)
        GL.glDeleteShader(shader)
        raise ShaderCompileError(f"{name}: compile failed:\n{log.decode(errors='replace') if log else ''}")
    return shader


def load_glsl_program(vertex: str, fragment: str, defines: dict | None = None) -> int:
    """Compile and link a GLSL program from two shader files in the shaders folder (needs a current context).

    Args:
        vertex: vertex shader file name, e.g. ``"gbuffer.vert.glsl"``.
        fragment: fragment shader file name.
        defines: optional ``{name: value}`` compile-time defines.

    Returns:
        the GL program name.

    Raises:
        InvalidArgument: a file is missing.
        ShaderCompileError: compile or link failure, naming the files and carrying the driver log.
    """
    vs = compile_shader(vertex, GL.GL_VERTEX_SHADER, defines)
    try:
        fs = compile_shader(fragment, GL.GL_FRAGMENT_SHADER, defines)
    except Exception:
        GL.glDeleteShader(vs)
        raise
    program = GL.glCreateProgram()
    GL.glAttachShader(program, vs)
    GL.glAttachShader(program, fs)
    GL.glLinkProgram(program)
    GL.glDeleteShader(vs)
    GL.glDeleteShader(fs)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        log = GL.glGetProgramInfoLog(program)
        GL.glDeleteProgram(program)
        raise ShaderCompileError(f"{vertex} + {fragment}: link failed:\n"
                                 f"{log.decode(errors='replace') if log else ''}")
    return program


def load_program(vertex: str, fragment: str, defines: dict | None = None) -> int:
    """Deprecated name of :func:`load_glsl_program` (it clashed with the integer network's
    ``qwplugin.intexec.export.load_program``); warns, then does the same.

    Raises:
        As :func:`load_glsl_program`.
    """
    warnings.warn("engine_bridge.gl.program.load_program is deprecated: use load_glsl_program",
                  DeprecationWarning, stacklevel=2)
    return load_glsl_program(vertex, fragment, defines)


class _FullscreenTriangle:
    """An empty VAO drawing one screen-covering triangle; ``fullscreen.vert.glsl`` derives the positions
    from ``gl_VertexID`` (core profile needs a bound VAO even without attributes)."""

    def __init__(self):
        self.vao = int(GL.glGenVertexArrays(1))

    def draw(self) -> None:
        GL.glBindVertexArray(self.vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glBindVertexArray(0)

    def release(self) -> None:
        if self.vao:
            GL.glDeleteVertexArrays(1, [self.vao])
            self.vao = 0


def fullscreen_triangle() -> _FullscreenTriangle:
    """A helper whose ``.draw()`` issues ``glDrawArrays(GL_TRIANGLES, 0, 3)`` with its own empty VAO; pair
    it with ``fullscreen.vert.glsl`` (which outputs ``ss_uv`` in [0, 1], origin bottom-left as in GL)."""
    return _FullscreenTriangle()


def set_uniform(program: int, name: str, value) -> None:
    """Set a uniform by name on the bound ``program`` from a Python scalar, tuple or numpy array.

    Matrices are numpy (4, 4)/(3, 3) arrays in the column-vector convention (uploaded transposed).
    Unknown (optimised-out) names are ignored, as GL does.
    """
    import numpy as np

    loc = GL.glGetUniformLocation(program, name)
    if loc < 0:
        return
    if isinstance(value, (bool, int, np.integer)) and not isinstance(value, float):
        GL.glUniform1i(loc, int(value))
        return
    arr = np.asarray(value, dtype=np.float32)
    if arr.shape == ():
        GL.glUniform1f(loc, float(arr))
    elif arr.shape == (2,):
        GL.glUniform2f(loc, *arr)
    elif arr.shape == (3,):
        GL.glUniform3f(loc, *arr)
    elif arr.shape == (4,):
        GL.glUniform4f(loc, *arr)
    elif arr.shape == (4, 4):
        GL.glUniformMatrix4fv(loc, 1, GL.GL_TRUE, np.ascontiguousarray(arr))
    elif arr.shape == (3, 3):
        GL.glUniformMatrix3fv(loc, 1, GL.GL_TRUE, np.ascontiguousarray(arr))
    else:
        raise InvalidArgument(f"unsupported uniform shape for {name!r}", field=name,
                              expected="scalar, 2/3/4-vector, 3x3 or 4x4", actual=str(arr.shape))
