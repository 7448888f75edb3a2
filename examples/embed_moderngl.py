"""Embedding QW-Net in a renderer that is not ours: a small moderngl renderer feeds its textures to the Bridge.

The moderngl side owns everything: its context (headless EGL here, ``standalone=True``), its scene (a
checkered ground plane at grazing angles and a spinning cube), its MRT framebuffer (colour RGBA16F, motion
RG16F, depth), its jitter and its motion vectors. The plugin side only sees texture ids (``.glo``):

    bridge.dispatch(color.glo, motion.glo, output.glo, jitter_px=..., reset=...)

The moderngl shader writes motion as ``prev_ndc - cur_ndc`` (GL NDC, +y up); the bridge converts with
``motion_vector_scale=(W/2, -H/2)`` into the contract's render pixels (+y down), as FSR 2's
``motionVectorScale`` does. Jitter follows the plugin's Halton helper (``qwplugin.ops.halton``), applied to
the projection as a clip-space shift.

    python examples/embed_moderngl.py --size 256x144 --frames 16 --out out/embed

Writes ``embed_input_output.png`` (moderngl's aliased colour | the reconstruction) into ``--out``.
PyOpenGL (used by the bridge) must talk to moderngl's current context: both use EGL here, so
``QW_GL_BACKEND=egl`` is set before ``engine_bridge.gl`` is imported.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("QW_GL_BACKEND", "egl")  # before engine_bridge.gl / OpenGL are imported
try:
    import engine_bridge  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VERTEX = """
#version 410 core
uniform mat4 u_model, u_prev_model, u_view_proj, u_prev_view_proj;
uniform vec2 u_jitter_ndc;  // clip-space shift of this frame's jitter
in vec3 in_pos; in vec3 in_normal;
out vec3 v_world; out vec3 v_normal; out vec4 v_cur_clip; out vec4 v_prev_clip;
void main() {
    vec4 world = u_model * vec4(in_pos, 1.0);
    v_world = world.xyz;
    v_normal = mat3(u_model) * in_normal;
    v_cur_clip = u_view_proj * world;                      // unjittered: motion excludes jitter
    v_prev_clip = u_prev_view_proj * u_prev_model * vec4(in_pos, 1.0);
    gl_Position = v_cur_clip + vec4(u_jitter_ndc * v_cur_clip.w, 0.0, 0.0);
}
"""

FRAGMENT = """
#version 410 core
uniform vec3 u_albedo; uniform float u_checker;
in vec3 v_world; in vec3 v_normal; in vec4 v_cur_clip; in vec4 v_prev_clip;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec2 out_motion;
void main() {
    float check = u_checker > 0.0 ? mod(floor(v_world.x * 4.0) + floor(v_world.z * 4.0), 2.0) : 1.0;
    vec3 albedo = u_albedo * mix(0.08, 1.0, check);
    float light = max(dot(normalize(v_normal), normalize(vec3(0.4, 1.0, 0.3))), 0.0);
    out_color = vec4(albedo * (0.15 + 2.5 * light), 1.0);     // linear HDR
    out_motion = v_prev_clip.xy / v_prev_clip.w - v_cur_clip.xy / v_cur_clip.w;  // NDC, +y up
}
"""


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / np.tan(np.radians(fov_y_deg) / 2)
    return np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)], [0, 0, -1, 0]])


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    f = (target - eye) / np.linalg.norm(target - eye)
    s = np.cross(f, up) / np.linalg.norm(np.cross(f, up))
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1.0]])


def cube() -> np.ndarray:
    """(36, 6) float32: position + normal per vertex, unit cube centred at the origin."""
    rows = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            a, b = np.roll(np.eye(3), 1, axis=0)[axis], np.roll(np.eye(3), 2, axis=0)[axis]
            corners = [n * 0.5 + (i * a + j * b) * 0.5 for i, j in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            if np.dot(np.cross(corners[1] - corners[0], corners[2] - corners[0]), n) < 0:
                corners = corners[::-1]
            for k in (0, 1, 2, 0, 2, 3):
                rows.append(np.concatenate([corners[k], n]))
    return np.asarray(rows, np.float32)


def ground(size: float = 40.0) -> np.ndarray:
    p = [(-size, 0, -size), (size, 0, -size), (size, 0, size), (-size, 0, size)]
    return np.asarray([(*p[k], 0, 1, 0) for k in (0, 2, 1, 0, 3, 2)], np.float32)


class ModernglScene:
    """The host renderer: its own moderngl context, buffers, MRT framebuffer and camera animation."""

    def __init__(self, width: int, height: int):
        import moderngl

        self.ctx = moderngl.create_context(standalone=True, backend="egl", require=410)
        self.size = (width, height)
        self.prog = self.ctx.program(vertex_shader=VERTEX, fragment_shader=FRAGMENT)
        self.meshes = []
        for data, albedo, checker in ((ground(), (0.8, 0.8, 0.75), 1.0), (cube(), (0.9, 0.25, 0.1), 0.0)):
            vbo = self.ctx.buffer(data.tobytes())
            vao = self.ctx.vertex_array(self.prog, [(vbo, "3f 3f", "in_pos", "in_normal")])
            self.meshes.append((vao, albedo, checker))
        self.color = self.ctx.texture(self.size, 4, dtype="f2")
        self.motion = self.ctx.texture(self.size, 2, dtype="f2")
        self.depth = self.ctx.depth_texture(self.size)
        self.fbo = self.ctx.framebuffer(color_attachments=[self.color, self.motion], depth_attachment=self.depth)
        self.proj = perspective(50.0, width / height, 0.1, 100.0)

    def camera(self, t: float) -> np.ndarray:
        return self.proj @ look_at((np.sin(0.3 * t) * 2.0, 1.2, 6.0 - 0.8 * t), (0.0, 0.6, 0.0))

    def model(self, index: int, t: float) -> np.ndarray:
        return np.eye(4) if index == 0 else np.array(
            [[1, 0, 0, 0], [0, 1, 0, 0.8], [0, 0, 1, 0], [0, 0, 0, 1.0]]) @ rotation_y(1.5 * t)

    def render(self, t: float, prev_t: float, jitter_px: tuple[float, float]) -> None:
        w, h = self.size
        self.fbo.use()
        self.ctx.enable(self.ctx.DEPTH_TEST)
        self.fbo.clear(0.35, 0.45, 0.6, 1.0, depth=1.0)  # clears both colour attachments (motion gets 0.35, 0.45)
        self.motion.write(np.zeros((h, w, 2), np.float16).tobytes())  # background: no motion
        # the jitter moves the sample point +x right / +y down by jitter_px: shift the image the other way
        self.prog["u_jitter_ndc"].value = (-2.0 * jitter_px[0] / w, 2.0 * jitter_px[1] / h)
        self.prog["u_view_proj"].write(self.camera(t).T.astype("f4").tobytes())
        self.prog["u_prev_view_proj"].write(self.camera(prev_t).T.astype("f4").tobytes())
        for i, (vao, albedo, checker) in enumerate(self.meshes):
            self.prog["u_model"].write(self.model(i, t).T.astype("f4").tobytes())
            self.prog["u_prev_model"].write(self.model(i, prev_t).T.astype("f4").tobytes())
            self.prog["u_albedo"].value = albedo
            self.prog["u_checker"].value = checker
            vao.render()

    def read(self, texture, components: int) -> np.ndarray:
        """moderngl's own read-back, flipped to top-down (for the comparison image and the check)."""
        w, h = self.size
        data = np.frombuffer(texture.read(), np.float16).reshape(h, w, texture.components)
        return data[::-1, :, :components].astype(np.float32)


def to_display(rgb: np.ndarray) -> np.ndarray:
    x = np.clip(rgb, 0, None)
    x = x / (1 + x)
    return (np.clip(np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055), 0, 1) * 255 + .5
            ).astype(np.uint8)


def run(width: int = 128, height: int = 96, frames: int = 8, model: str = "qwnet", precision: str = "int4",
        backend: str = "auto", out_dir: str | None = None, verify: bool = False, fps: float = 30.0) -> dict:
    """Render ``frames`` frames with moderngl and reconstruct each through the Bridge.

    Args:
        verify: also run a second Context directly on moderngl's own read-back of the same textures and
            report the largest difference to the bridge's output texture (both rounded to half floats).

    Returns:
        a dict with ``backend`` (honest BackendInfo text), ``transfer``, ``max_abs_diff`` (verify only),
        ``output`` (last output, (H, W, 3) float32 read back by moderngl) and ``input``.
    """
    scene = ModernglScene(width, height)
    from engine_bridge.bridge import Bridge  # imports PyOpenGL (EGL): moderngl's context is current
    from qwplugin.ops.halton import jitter_offset_px
    from qwplugin.runtime import Context, ContextDesc, Frame

    desc = ContextDesc(render_size=(width, height), model=model, precision=precision, backend=backend)
    bridge = Bridge(Context(desc), motion_vector_scale=(width / 2, -height / 2))
    output = scene.ctx.texture((width, height), 4, dtype="f2")  # the host's output texture
    check = Context(desc) if verify else None
    max_diff = 0.0
    prev_t = 0.0
    for i in range(frames):
        t = i / fps
        jitter = jitter_offset_px(i)
        scene.render(t, prev_t, jitter)
        bridge.dispatch(scene.color.glo, scene.motion.glo, output.glo, jitter_px=jitter, reset=(i == 0))
        if check is not None:
            expected = check.dispatch(Frame(color=scene.read(scene.color, 3),
                                            motion_px=scene.read(scene.motion, 2) * np.float32([width / 2,
                                                                                                -height / 2]),
                                            jitter_px=jitter, reset=(i == 0)))
            got = scene.read(output, 3)
            max_diff = max(max_diff, float(np.max(np.abs(got - expected.astype(np.float16).astype(np.float32)))
                                           / max(1.0, float(np.max(np.abs(expected))))))
        prev_t = t
    result = {"backend": str(bridge.context.backend_info), "trained": bridge.context.backend_info.trained,
              "transfer": bridge.transfer_name, "transfer_reason": bridge.transfer_reason,
              "bridge_ms": bridge.timings_ms(), "input": scene.read(scene.color, 3), "output": scene.read(output, 3),
              "max_abs_diff": max_diff if verify else None, "gl_renderer": scene.ctx.info["GL_RENDERER"]}
    if out_dir:
        from PIL import Image

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        pair = np.concatenate([to_display(result["input"]), to_display(result["output"])], axis=1)
        Image.fromarray(pair).save(Path(out_dir) / "embed_input_output.png")
    bridge.close(close_context=True)
    if check is not None:
        check.close()
    scene.ctx.release()
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="moderngl renderer -> qwplugin Bridge (headless EGL)")
    p.add_argument("--size", default="128x96")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--model", default="qwnet")
    p.add_argument("--precision", default="int4", choices=("int4", "fp32"))
    p.add_argument("--backend", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", default="out/embed")
    p.add_argument("--verify", action="store_true", help="compare with a Context fed moderngl's read-back")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    r = run(w, h, args.frames, args.model, args.precision, args.backend, args.out, args.verify)
    print(f"GL: {r['gl_renderer']}\nplugin: {r['backend']}\ntransfer: {r['transfer']} ({r['transfer_reason']})")
    print("bridge ms (median): " + ", ".join(f"{k} {v:.1f}" for k, v in r["bridge_ms"].items()))
    if args.verify:
        print(f"max relative difference to a direct Context call: {r['max_abs_diff']:.3g}")
    print(f"wrote {args.out}/embed_input_output.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
