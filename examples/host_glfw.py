"""A raw PyOpenGL + GLFW host: its own window, scene, shaders and textures; QW-Net through the Bridge.

The host draws a spinning checkered quad and three triangles orbiting it (2D, its own geometry and
shaders, nothing from the project's engine) into its own framebuffer: colour ``GL_RGBA16F`` (linear
HDR) and motion ``GL_RG16F``, jittered every frame with the plugin's Halton(2, 3) sequence. Its fragment
shader writes motion already in the contract's units (render pixels, current -> previous, +y down), so
the Bridge keeps ``motion_vector_scale=(1, 1)``. The plugin sees only texture names::

    bridge.dispatch(color_tex, motion_tex, output_tex, jitter_px=jitter, reset=(i == 0))

and the host presents ``output_tex`` (tonemap + sRGB in a fullscreen pass) to its window.

    python examples/host_glfw.py                                    # a window (X11/GLX), Esc quits
    python examples/host_glfw.py --headless --frames 8 --out out/host_glfw

``--headless`` creates the GLFW window on GLFW's null platform with an OSMesa context (no display, no
GPU: Mesa's software rasterizer), so PyOpenGL must use its ``osmesa`` platform; with a window it uses
``glx``. Either way the platform is chosen (``QW_GL_BACKEND``) before ``engine_bridge.gl`` or ``OpenGL``
is imported. ``--out DIR`` writes ``host_glfw.png``, the last presented frame read back from the
window's default framebuffer; ``--dump`` also writes ``frames.npz`` (the host's own read-back of its
textures and the Bridge's outputs, per frame) for the test that compares them with a direct ``Context``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

import numpy as np

VERTEX = """
#version 410 core
uniform mat3 u_model, u_prev_model;   // 2D affine transforms in aspect-corrected NDC, this / previous frame
uniform vec2 u_aspect;                // NDC scale (1/aspect, 1)
uniform vec2 u_jitter_ndc;            // clip-space shift of this frame's jitter
layout(location = 0) in vec2 in_pos;
layout(location = 1) in vec2 in_uv;
out vec2 v_uv; out vec2 v_cur_ndc; out vec2 v_prev_ndc;
void main() {
    v_uv = in_uv;
    v_cur_ndc = (u_model * vec3(in_pos, 1.0)).xy * u_aspect;         // unjittered: motion excludes jitter
    v_prev_ndc = (u_prev_model * vec3(in_pos, 1.0)).xy * u_aspect;
    gl_Position = vec4(v_cur_ndc + u_jitter_ndc, 0.0, 1.0);
}
"""

FRAGMENT = """
#version 410 core
uniform sampler2D u_texture;   // the host's checker (sRGB texture: sampled as linear)
uniform vec3 u_tint;           // linear HDR multiplier
uniform vec2 u_size;           // render size in pixels
in vec2 v_uv; in vec2 v_cur_ndc; in vec2 v_prev_ndc;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec2 out_motion;
void main() {
    out_color = vec4(texture(u_texture, v_uv).rgb * u_tint, 1.0);
    // the contract's units directly: render pixels from here to where this point was, +y down
    out_motion = (v_prev_ndc - v_cur_ndc) * vec2(0.5, -0.5) * u_size;
}
"""

PRESENT_VERTEX = """
#version 410 core
void main() {   // one fullscreen triangle, no vertex buffer
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

PRESENT_FRAGMENT = """
#version 410 core
uniform sampler2D u_output;    // the Bridge's output: linear HDR, render size = window size
out vec4 out_color;
void main() {
    vec3 c = max(texelFetch(u_output, ivec2(gl_FragCoord.xy), 0).rgb, 0.0);
    c = c / (1.0 + c);                                               // tonemap
    vec3 srgb = mix(12.92 * c, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
    out_color = vec4(srgb, 1.0);
}
"""

BACKGROUND = (0.18, 0.2, 0.26, 1.0)  # linear HDR clear colour; its motion is 0
RECORDED = ("color", "motion", "jitter", "reset", "bridge_output", "output_texture")  # --dump, per frame


def affine(angle: float, scale: float, tx: float, ty: float) -> np.ndarray:
    """3x3 column-vector 2D transform: rotate by ``angle`` (radians), scale, then translate."""
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty], [0.0, 0.0, 1.0]], np.float32)


def quad() -> np.ndarray:
    """(6, 4) float32: position (x, y) in [-1, 1] and uv, two triangles."""
    p = [(-1, -1, 0, 0), (1, -1, 3, 0), (1, 1, 3, 3), (-1, 1, 0, 3)]
    return np.asarray([p[k] for k in (0, 1, 2, 0, 2, 3)], np.float32)


def triangle() -> np.ndarray:
    """(3, 4) float32: an equilateral triangle around the origin with uv."""
    a = np.radians([90.0, 210.0, 330.0])
    rows = np.stack([np.cos(a), np.sin(a), 0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)], 1)
    return rows.astype(np.float32)


def checker(size: int = 64, cells: int = 8) -> np.ndarray:
    """(size, size, 4) uint8 sRGB checker: light and dark squares."""
    ij = np.indices((size, size)) // (size // cells)
    on = ((ij[0] + ij[1]) % 2).astype(bool)
    img = np.where(on[..., None], np.uint8([235, 230, 220, 255]), np.uint8([30, 34, 40, 255]))
    return np.ascontiguousarray(img)


class GlfwHost:
    """The host renderer: GLFW window, PyOpenGL objects, MRT framebuffer and a 2D animation.

    Args:
        width, height: window = render size in pixels.
        headless: GLFW null platform + OSMesa (no display) instead of an X11 window.
    """

    def __init__(self, width: int, height: int, headless: bool):
        import glfw
        from OpenGL import GL

        self.glfw, self.GL = glfw, GL
        self.size = (width, height)
        glfw.init_hint(glfw.PLATFORM, glfw.PLATFORM_NULL if headless else glfw.ANY_PLATFORM)
        if not glfw.init():
            raise RuntimeError(f"glfw.init() failed: {glfw.get_error()}")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 4)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 1)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.RESIZABLE, glfw.FALSE)
        if headless:
            glfw.window_hint(glfw.CONTEXT_CREATION_API, glfw.OSMESA_CONTEXT_API)  # no forward-compat hint
            glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
        else:
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)  # macOS needs it for a core profile
        self.window = glfw.create_window(width, height, "qwplugin: raw PyOpenGL + GLFW host", None, None)
        if not self.window:
            glfw.terminate()
            raise RuntimeError(f"glfw.create_window failed: {glfw.get_error()}")
        glfw.make_context_current(self.window)
        glfw.swap_interval(0 if headless else 1)

        self.program = self._program(VERTEX, FRAGMENT)
        self.present_program = self._program(PRESENT_VERTEX, PRESENT_FRAGMENT)
        self.meshes = {name: self._mesh(data) for name, data in (("quad", quad()), ("triangle", triangle()))}
        self.empty_vao = GL.glGenVertexArrays(1)
        self.checker = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.checker)
        tex = checker()
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_SRGB8_ALPHA8, tex.shape[1], tex.shape[0], 0, GL.GL_RGBA,
                        GL.GL_UNSIGNED_BYTE, tex)
        GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_REPEAT)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_REPEAT)
        # the G-buffer the plugin reads, and the output texture it writes (all the host's own)
        self.color = self._texture(GL.GL_RGBA16F, GL.GL_RGBA)
        self.motion = self._texture(GL.GL_RG16F, GL.GL_RG)
        self.output = self._texture(GL.GL_RGBA16F, GL.GL_RGBA)
        self.fbo = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        for slot, tex in ((GL.GL_COLOR_ATTACHMENT0, self.color), (GL.GL_COLOR_ATTACHMENT1, self.motion)):
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, slot, GL.GL_TEXTURE_2D, tex, 0)
        GL.glDrawBuffers(2, [GL.GL_COLOR_ATTACHMENT0, GL.GL_COLOR_ATTACHMENT1])
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError(f"G-buffer framebuffer incomplete: 0x{status:x}")
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def _program(self, vertex: str, fragment: str) -> int:
        from OpenGL.GL import shaders

        GL = self.GL
        return shaders.compileProgram(shaders.compileShader(vertex, GL.GL_VERTEX_SHADER),
                                      shaders.compileShader(fragment, GL.GL_FRAGMENT_SHADER), validate=False)

    def _mesh(self, data: np.ndarray) -> tuple[int, int, int]:
        GL = self.GL
        vao, vbo = GL.glGenVertexArrays(1), GL.glGenBuffers(1)
        GL.glBindVertexArray(vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, data.nbytes, data, GL.GL_STATIC_DRAW)
        for loc, offset in ((0, 0), (1, 8)):
            GL.glEnableVertexAttribArray(loc)
            GL.glVertexAttribPointer(loc, 2, GL.GL_FLOAT, GL.GL_FALSE, 16, ctypes.c_void_p(offset))
        GL.glBindVertexArray(0)
        return vao, vbo, len(data)

    def _texture(self, internal_format: int, fmt: int) -> int:
        GL = self.GL
        tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, internal_format, *self.size, 0, fmt, GL.GL_FLOAT, None)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_NEAREST)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_NEAREST)
        return tex

    def objects(self, t: float) -> list[tuple[str, np.ndarray, tuple[float, float, float]]]:
        """(mesh, transform, linear HDR tint) of every object at time ``t`` seconds, back to front."""
        out = [("quad", affine(0.8 * t, 0.45, 0.15 * np.sin(t), 0.0), (1.0, 0.9, 0.8))]
        for k, tint in enumerate(((4.0, 0.6, 0.2), (0.3, 2.5, 0.6), (0.4, 0.8, 6.0))):
            a = 1.3 * t + k * 2.0 * np.pi / 3
            out.append(("triangle", affine(-3.0 * t + k, 0.12, 0.72 * np.cos(a), 0.72 * np.sin(a)), tint))
        return out

    def render(self, t: float, prev_t: float, jitter_px: tuple[float, float]) -> None:
        """Draw the scene at ``t`` (motion against ``prev_t``) with ``jitter_px`` into the G-buffer."""
        GL, (w, h) = self.GL, self.size
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glViewport(0, 0, w, h)
        GL.glClearBufferfv(GL.GL_COLOR, 0, np.float32(BACKGROUND))
        GL.glClearBufferfv(GL.GL_COLOR, 1, np.zeros(4, np.float32))  # background: no motion
        GL.glUseProgram(self.program)
        loc = lambda name: GL.glGetUniformLocation(self.program, name)  # noqa: E731
        # the jitter moves the sample point +x right / +y down by jitter_px: shift the image the other way
        GL.glUniform2f(loc("u_jitter_ndc"), -2.0 * jitter_px[0] / w, 2.0 * jitter_px[1] / h)
        GL.glUniform2f(loc("u_aspect"), h / w, 1.0)
        GL.glUniform2f(loc("u_size"), w, h)
        GL.glUniform1i(loc("u_texture"), 0)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.checker)
        for (mesh, model, tint), (_, prev_model, _) in zip(self.objects(t), self.objects(prev_t)):
            GL.glUniformMatrix3fv(loc("u_model"), 1, GL.GL_TRUE, model)
            GL.glUniformMatrix3fv(loc("u_prev_model"), 1, GL.GL_TRUE, prev_model)
            GL.glUniform3f(loc("u_tint"), *tint)
            vao, _, count = self.meshes[mesh]
            GL.glBindVertexArray(vao)
            GL.glDrawArrays(GL.GL_TRIANGLES, 0, count)
        GL.glBindVertexArray(0)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def present(self, capture: bool = False) -> np.ndarray | None:
        """Tonemap the Bridge's output texture onto the window (the default framebuffer) and swap.

        Returns:
            with ``capture``, what was drawn (:meth:`read_window`, read before the swap), else None.
        """
        GL = self.GL
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        GL.glViewport(0, 0, *self.size)
        GL.glUseProgram(self.present_program)
        GL.glUniform1i(GL.glGetUniformLocation(self.present_program, "u_output"), 0)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.output)
        GL.glBindVertexArray(self.empty_vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glBindVertexArray(0)
        shot = self.read_window() if capture else None
        self.glfw.swap_buffers(self.window)
        return shot

    def read_texture(self, tex: int, fmt: int, channels: int) -> np.ndarray:
        """The host's own read-back of a half-float texture, top-down (H, W, channels) float32."""
        GL, (w, h) = self.GL, self.size
        data = np.empty((h, w, channels), np.float16)
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glGetTexImage(GL.GL_TEXTURE_2D, 0, fmt, GL.GL_HALF_FLOAT, data.ctypes.data_as(ctypes.c_void_p))
        return data[::-1].astype(np.float32)

    def read_window(self) -> np.ndarray:
        """What the window shows: the default framebuffer as (H, W, 3) uint8, top-down."""
        GL, (w, h) = self.GL, self.size
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = np.empty((h, w, 3), np.uint8)
        GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, data.ctypes.data_as(ctypes.c_void_p))
        return data[::-1].copy()

    def should_close(self) -> bool:
        self.glfw.poll_events()
        return bool(self.glfw.window_should_close(self.window)
                    or self.glfw.get_key(self.window, self.glfw.KEY_ESCAPE) == self.glfw.PRESS)

    def close(self) -> None:
        self.glfw.destroy_window(self.window)
        self.glfw.terminate()


def run(width: int = 320, height: int = 180, frames: int | None = None, headless: bool = False,
        model: str = "qwnet", precision: str = "int4", backend: str = "auto", out_dir: str | None = None,
        dump: bool = False, fps: float = 30.0) -> dict:
    """Run the host for ``frames`` frames (None: until the window closes), QW-Net through the Bridge.

    Returns:
        ``{"backend": BackendInfo text, "transfer": ..., "gl_renderer": ..., "frames": n}``.
    """
    os.environ.setdefault("QW_GL_BACKEND", "osmesa" if headless else "glfw")  # before OpenGL is imported
    try:
        import engine_bridge  # noqa: F401
    except ImportError:  # a source checkout without `pip install -e .`
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM for that backend)

    host = GlfwHost(width, height, headless)
    from engine_bridge.bridge import Bridge
    from qwplugin.ops.halton import jitter_offset_px
    from qwplugin.runtime import Context, ContextDesc

    GL = host.GL
    bridge = Bridge(Context(ContextDesc(render_size=(width, height), model=model, precision=precision,
                                        backend=backend)))  # motion is in render pixels: scale (1, 1)
    print(f"GL: {GL.glGetString(GL.GL_RENDERER).decode()}\nplugin: {bridge.context.backend_info}\n"
          f"transfer: {bridge.transfer_name} ({bridge.transfer_reason})")
    record: dict[str, list] = {k: [] for k in RECORDED}
    i, prev_t, shot = 0, 0.0, None
    while (frames is None or i < frames) and not host.should_close():
        t, jitter = i / fps, jitter_offset_px(i)
        host.render(t, prev_t, jitter)
        output = bridge.dispatch(host.color, host.motion, host.output, jitter_px=jitter, reset=(i == 0),
                                 frame_time_ms=1000.0 / fps)
        # keep a picture of the last frame (of every frame when running until the window closes)
        shot = host.present(capture=bool(out_dir) and (frames is None or i + 1 == frames))
        if dump:
            record["color"].append(host.read_texture(host.color, GL.GL_RGBA, 4)[..., :3])
            record["motion"].append(host.read_texture(host.motion, GL.GL_RG, 2))
            record["jitter"].append(jitter)
            record["reset"].append(i == 0)
            record["bridge_output"].append(np.array(output, np.float32))
            record["output_texture"].append(host.read_texture(host.output, GL.GL_RGBA, 4))
        i, prev_t = i + 1, t
    if out_dir:
        from PIL import Image

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        if shot is not None:  # None: the window was closed before the last frame
            Image.fromarray(shot).save(Path(out_dir) / "host_glfw.png")
            print(f"wrote {out_dir}/host_glfw.png")
        if dump:
            np.savez(Path(out_dir) / "frames.npz", motion_vector_scale=np.float32(bridge.motion_vector_scale),
                     **{k: np.asarray(v) for k, v in record.items()})
    result = {"backend": str(bridge.context.backend_info), "transfer": bridge.transfer_name,
              "gl_renderer": GL.glGetString(GL.GL_RENDERER).decode(), "frames": i}
    bridge.close(close_context=True)  # while the GL context is still current
    host.close()
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="raw PyOpenGL + GLFW host -> qwplugin Bridge")
    p.add_argument("--size", default="320x180")
    p.add_argument("--frames", type=int, default=None, help="stop after N frames (default: until closed)")
    p.add_argument("--headless", action="store_true", help="GLFW null platform + OSMesa: no display needed")
    p.add_argument("--model", default="qwnet")
    p.add_argument("--precision", default="int4", choices=("int4", "fp32"))
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", default=None, help="write the last presented frame as DIR/host_glfw.png")
    p.add_argument("--dump", action="store_true", help="also write DIR/frames.npz (inputs and outputs)")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    frames = args.frames if args.frames is not None else (8 if args.headless else None)
    run(w, h, frames, args.headless, args.model, args.precision, args.backend, args.out, args.dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
