"""A pyglet host: its own window, shaders, vertex lists and textures; QW-Net through the Bridge.

The host draws a large striped plane drifting under the camera (motion everywhere, in x and y) and an
HDR quad spinning in front of it, with pyglet's own shader programs and vertex lists (nothing from the
project's engine), into a ``pyglet.image.Framebuffer`` with two textures made by
``pyglet.image.Texture.create``: colour ``GL_RGBA16F`` (linear HDR) and motion ``GL_RG16F``. pyglet's
default texture format is ``GL_RGBA8``, which the Bridge refuses (it is display-referred LDR), so the
formats are given explicitly. Every frame is jittered with the plugin's Halton(2, 3) sequence. The
fragment shader writes GL NDC motion ``prev_ndc - cur_ndc`` (+y up); ``motion_vector_scale=(W/2, -H/2)``
tells the Bridge how to turn that into render pixels, +y down. The plugin sees only texture ids::

    bridge.dispatch(color.id, motion.id, output.id, jitter_px=jitter, reset=(i == 0))

and the host presents ``output`` (tonemap + sRGB in a fullscreen pass) to its window.

    python examples/host_pyglet.py                                   # a window, close it to quit
    python examples/host_pyglet.py --headless --frames 8 --out out/host_pyglet

``--headless`` sets ``pyglet.options['headless'] = True`` before anything else of pyglet is imported:
pyglet then creates its context with EGL (a pbuffer stands in for the window), so PyOpenGL, which the
Bridge uses, must use its ``egl`` platform too (``QW_GL_BACKEND=egl``, set before ``engine_bridge.gl`` is
imported); with a window pyglet uses GLX on X11 and so does PyOpenGL. ``--out DIR`` writes
``host_pyglet.png``, the last presented frame read back from the window's colour buffer; ``--dump`` also
writes ``frames.npz`` (the host's own read-back of its textures and the Bridge's outputs, per frame) for
the test that compares them with a direct ``Context``.
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
in vec2 position;
in vec2 uv;
out vec2 v_uv; out vec2 v_cur_ndc; out vec2 v_prev_ndc;
void main() {
    v_uv = uv;
    v_cur_ndc = (u_model * vec3(position, 1.0)).xy * u_aspect;        // unjittered: motion excludes jitter
    v_prev_ndc = (u_prev_model * vec3(position, 1.0)).xy * u_aspect;
    gl_Position = vec4(v_cur_ndc + u_jitter_ndc, 0.0, 1.0);
}
"""

FRAGMENT = """
#version 410 core
uniform sampler2D u_texture;   // the host's stripes (sRGB texture: sampled as linear)
uniform vec3 u_tint;           // linear HDR multiplier
in vec2 v_uv; in vec2 v_cur_ndc; in vec2 v_prev_ndc;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec2 out_motion;
void main() {
    out_color = vec4(texture(u_texture, v_uv).rgb * u_tint, 1.0);
    out_motion = v_prev_ndc - v_cur_ndc;    // GL NDC, +y up: the Bridge scales by (W/2, -H/2)
}
"""

RECORDED = ("color", "motion", "jitter", "reset", "bridge_output", "output_texture")  # --dump, per frame

PRESENT_VERTEX = """
#version 410 core
in vec2 position;
void main() { gl_Position = vec4(position, 0.0, 1.0); }
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


def affine(angle: float, scale: float, tx: float, ty: float) -> tuple[float, ...]:
    """A 2D rotate-scale-translate transform as the 9 column-major floats of a GLSL ``mat3``."""
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return (c, s, 0.0, -s, c, 0.0, tx, ty, 1.0)


def stripes(size: int = 128) -> bytes:
    """(size, size) RGBA8 sRGB pixels: diagonal stripes with a finer cross pattern (aliases when minified)."""
    y, x = np.indices((size, size))
    band = ((x + y) // 8) % 2
    fine = ((x // 2 + y // 2) % 2) * (1 - band)
    rgb = np.where(band[..., None], [220, 200, 150], [40, 60, 90]) + fine[..., None] * np.array([60, 60, 40])
    img = np.concatenate([np.clip(rgb, 0, 255), np.full((size, size, 1), 255)], -1).astype(np.uint8)
    return img.tobytes()


class PygletHost:
    """The host renderer: a pyglet window, shader programs, vertex lists, framebuffer and textures.

    Args:
        width, height: window = render size in pixels.
        headless: ``pyglet.options['headless']`` was set (EGL, no display).
    """

    def __init__(self, width: int, height: int, headless: bool):
        import pyglet
        from pyglet import gl
        from pyglet.graphics.shader import Shader, ShaderProgram

        self.pyglet, self.gl = pyglet, gl
        self.size = (width, height)
        config = gl.Config(major_version=4, minor_version=1, red_size=8, green_size=8, blue_size=8,
                           alpha_size=8, double_buffer=not headless)
        self.window = pyglet.window.Window(width, height, caption="qwplugin: pyglet host", config=config,
                                           visible=not headless, resizable=False, vsync=not headless)
        self.window.switch_to()
        self.program = ShaderProgram(Shader(VERTEX, "vertex"), Shader(FRAGMENT, "fragment"))
        self.present_program = ShaderProgram(Shader(PRESENT_VERTEX, "vertex"),
                                             Shader(PRESENT_FRAGMENT, "fragment"))
        quad = (-1, -1, 1, -1, 1, 1, -1, -1, 1, 1, -1, 1)
        self.plane = self.program.vertex_list(6, gl.GL_TRIANGLES, position=("f", quad),
                                              uv=("f", tuple(4.0 * (v + 1) for v in quad)))
        self.spinner = self.program.vertex_list(6, gl.GL_TRIANGLES, position=("f", quad),
                                                uv=("f", tuple(0.5 * (v + 1) for v in quad)))
        self.fullscreen = self.present_program.vertex_list(3, gl.GL_TRIANGLES,
                                                           position=("f", (-1, -1, 3, -1, -1, 3)))
        self.texture = pyglet.image.Texture.create(128, 128, internalformat=gl.GL_SRGB8_ALPHA8,
                                                   min_filter=gl.GL_LINEAR_MIPMAP_LINEAR,
                                                   mag_filter=gl.GL_LINEAR)
        self.texture.blit_into(pyglet.image.ImageData(128, 128, "RGBA", stripes()), 0, 0, 0)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.texture.id)
        gl.glGenerateMipmap(gl.GL_TEXTURE_2D)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_S, gl.GL_REPEAT)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_T, gl.GL_REPEAT)
        # the G-buffer the plugin reads, and the output texture it writes: float formats, not pyglet's RGBA8
        nearest = dict(min_filter=gl.GL_NEAREST, mag_filter=gl.GL_NEAREST)
        self.color = pyglet.image.Texture.create(width, height, internalformat=gl.GL_RGBA16F, **nearest)
        self.motion = pyglet.image.Texture.create(width, height, internalformat=gl.GL_RG16F, fmt=gl.GL_RG,
                                                  **nearest)
        self.output = pyglet.image.Texture.create(width, height, internalformat=gl.GL_RGBA16F, **nearest)
        self.framebuffer = pyglet.image.Framebuffer()
        self.framebuffer.attach_texture(self.color, attachment=gl.GL_COLOR_ATTACHMENT0)
        self.framebuffer.attach_texture(self.motion, attachment=gl.GL_COLOR_ATTACHMENT1)
        self.framebuffer.bind()
        gl.glDrawBuffers(2, (gl.GLenum * 2)(gl.GL_COLOR_ATTACHMENT0, gl.GL_COLOR_ATTACHMENT1))
        if not self.framebuffer.is_complete:
            raise RuntimeError(f"G-buffer framebuffer: {self.framebuffer.get_status()}")
        self.framebuffer.unbind()

    def render(self, t: float, prev_t: float, jitter_px: tuple[float, float]) -> None:
        """Draw the scene at ``t`` (motion against ``prev_t``) with ``jitter_px`` into the G-buffer."""
        gl, (w, h) = self.gl, self.size
        self.framebuffer.bind()
        gl.glViewport(0, 0, w, h)
        gl.glClearBufferfv(gl.GL_COLOR, 0, (gl.GLfloat * 4)(0.0, 0.0, 0.0, 1.0))
        gl.glClearBufferfv(gl.GL_COLOR, 1, (gl.GLfloat * 4)(0.0, 0.0, 0.0, 0.0))
        self.program.use()
        # the jitter moves the sample point +x right / +y down by jitter_px: shift the image the other way
        self.program["u_jitter_ndc"] = (-2.0 * jitter_px[0] / w, 2.0 * jitter_px[1] / h)
        self.program["u_aspect"] = (h / w, 1.0)
        self.program["u_texture"] = 0
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.texture.id)

        def plane(s):  # drifts in x and y, slowly turning; large enough to cover the window
            return affine(0.1 * np.sin(0.4 * s), 2.4, 0.35 * np.sin(0.9 * s), 0.25 * np.cos(0.7 * s))

        def spinner(s):
            return affine(1.2 * s, 0.5, 0.2 * np.cos(0.8 * s), 0.1 * np.sin(1.1 * s))

        for vertex_list, transform, tint in ((self.plane, plane, (1.0, 1.0, 1.0)),
                                             (self.spinner, spinner, (3.0, 1.6, 0.6))):
            self.program["u_model"] = transform(t)
            self.program["u_prev_model"] = transform(prev_t)
            self.program["u_tint"] = tint
            vertex_list.draw(gl.GL_TRIANGLES)
        self.program.stop()
        self.framebuffer.unbind()

    def present(self, capture: bool = False) -> np.ndarray | None:
        """Tonemap the Bridge's output texture onto the window (its default framebuffer) and flip.

        Returns:
            with ``capture``, what was drawn (:meth:`read_window`, read before the flip), else None.
        """
        gl = self.gl
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        gl.glViewport(0, 0, *self.size)
        self.present_program.use()
        self.present_program["u_output"] = 0
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.output.id)
        self.fullscreen.draw(gl.GL_TRIANGLES)
        self.present_program.stop()
        shot = self.read_window() if capture else None
        self.window.flip()
        return shot

    def read_texture(self, texture, fmt: int, channels: int) -> np.ndarray:
        """The host's own read-back of a half-float texture, top-down (H, W, channels) float32."""
        gl, (w, h) = self.gl, self.size
        data = np.empty((h, w, channels), np.float16)
        gl.glBindTexture(gl.GL_TEXTURE_2D, texture.id)
        gl.glGetTexImage(gl.GL_TEXTURE_2D, 0, fmt, gl.GL_HALF_FLOAT, data.ctypes.data_as(ctypes.c_void_p))
        return data[::-1].astype(np.float32)

    def read_window(self) -> np.ndarray:
        """What the window shows: its colour buffer as (H, W, 3) uint8, top-down (pyglet's read-back)."""
        image = self.pyglet.image.get_buffer_manager().get_color_buffer().get_image_data()
        w, h = self.size
        return np.frombuffer(image.get_data("RGB", -3 * w), np.uint8).reshape(h, w, 3).copy()

    def should_close(self) -> bool:
        self.window.dispatch_events()
        return bool(self.window.has_exit)

    def close(self) -> None:
        self.window.close()


def run(width: int = 320, height: int = 180, frames: int | None = None, headless: bool = False,
        model: str = "qwnet", precision: str = "int4", backend: str = "auto", out_dir: str | None = None,
        dump: bool = False, fps: float = 30.0) -> dict:
    """Run the host for ``frames`` frames (None: until the window closes), QW-Net through the Bridge.

    Returns:
        ``{"backend": BackendInfo text, "transfer": ..., "gl_renderer": ..., "frames": n}``.
    """
    import pyglet

    if headless:
        pyglet.options["headless"] = True  # before pyglet.window / pyglet.gl are imported: EGL context
    os.environ.setdefault("QW_GL_BACKEND", "egl" if headless else "glfw")  # PyOpenGL on the same platform
    try:
        import engine_bridge  # noqa: F401
    except ImportError:  # a source checkout without `pip install -e .`
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import engine_bridge.gl  # noqa: F401  (sets PYOPENGL_PLATFORM before OpenGL is imported)

    host = PygletHost(width, height, headless)
    from engine_bridge.bridge import Bridge
    from qwplugin.ops.halton import jitter_offset_px
    from qwplugin.runtime import Context, ContextDesc

    gl = host.gl
    bridge = Bridge(Context(ContextDesc(render_size=(width, height), model=model, precision=precision,
                                        backend=backend)), motion_vector_scale=(width / 2, -height / 2))
    renderer = gl.gl_info.get_renderer()
    print(f"GL: {renderer}\nplugin: {bridge.context.backend_info}\n"
          f"transfer: {bridge.transfer_name} ({bridge.transfer_reason})")
    record: dict[str, list] = {k: [] for k in RECORDED}
    i, prev_t, shot = 0, 0.0, None
    while (frames is None or i < frames) and not host.should_close():
        t, jitter = i / fps, jitter_offset_px(i)
        host.render(t, prev_t, jitter)
        output = bridge.dispatch(host.color.id, host.motion.id, host.output.id, jitter_px=jitter,
                                 reset=(i == 0), frame_time_ms=1000.0 / fps)
        # keep a picture of the last frame (of every frame when running until the window closes)
        shot = host.present(capture=bool(out_dir) and (frames is None or i + 1 == frames))
        if dump:
            record["color"].append(host.read_texture(host.color, gl.GL_RGBA, 4)[..., :3])
            record["motion"].append(host.read_texture(host.motion, gl.GL_RG, 2))  # raw NDC, before the scale
            record["jitter"].append(jitter)
            record["reset"].append(i == 0)
            record["bridge_output"].append(np.array(output, np.float32))
            record["output_texture"].append(host.read_texture(host.output, gl.GL_RGBA, 4))
        i, prev_t = i + 1, t
    if out_dir:
        from PIL import Image

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        if shot is not None:  # None: the window was closed before the last frame
            Image.fromarray(shot).save(Path(out_dir) / "host_pyglet.png")
            print(f"wrote {out_dir}/host_pyglet.png")
        if dump:
            np.savez(Path(out_dir) / "frames.npz", motion_vector_scale=np.float32(bridge.motion_vector_scale),
                     **{k: np.asarray(v) for k, v in record.items()})
    result = {"backend": str(bridge.context.backend_info), "transfer": bridge.transfer_name,
              "gl_renderer": renderer, "frames": i}
    bridge.close(close_context=True)  # while the GL context is still current
    host.close()
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="pyglet host -> qwplugin Bridge")
    p.add_argument("--size", default="320x180")
    p.add_argument("--frames", type=int, default=None, help="stop after N frames (default: until closed)")
    p.add_argument("--headless", action="store_true", help="pyglet's headless mode (EGL): no display needed")
    p.add_argument("--model", default="qwnet")
    p.add_argument("--precision", default="int4", choices=("int4", "fp32"))
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", default=None, help="write the last presented frame as DIR/host_pyglet.png")
    p.add_argument("--dump", action="store_true", help="also write DIR/frames.npz (inputs and outputs)")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    frames = args.frames if args.frames is not None else (8 if args.headless else None)
    run(w, h, frames, args.headless, args.model, args.precision, args.backend, args.out, args.dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
