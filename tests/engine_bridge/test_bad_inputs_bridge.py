"""The bad-input battery through the GL Bridge: texture names, targets, formats, sizes, aliasing, values,
texture contents, constructor and resize arguments.

Every case asserts the exact typed error (never ``OpenGL.error.GLError`` or a ctypes error), the field it
names, that no GL error is left pending, and an unchanged history: after the refused call the next good
frame's output is bit-identical to a fresh Context fed the same good frames (RGBA32F/RG32F textures carry
the float32 arrays exactly). Each case first rewinds the bridge's context with the good first frame
(``reset=True``). 32x24, ``qwnet-tiny`` FP32 on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gl

W, H = 32, 24


def _desc(**kw):
    from qwplugin.runtime import ContextDesc

    return ContextDesc(**{**dict(render_size=(W, H), model="qwnet-tiny", precision="fp32", backend="cpu",
                                 seed=11), **kw})


def _storage(target_name: str, fmt_name: str, w: int = W, h: int = H) -> int:
    """A texture with immutable storage of any target and sized internal format (glTexStorage*)."""
    from OpenGL import GL

    target, fmt = getattr(GL, target_name), getattr(GL, fmt_name)
    tex = int(GL.glGenTextures(1))
    GL.glBindTexture(target, tex)
    if target == GL.GL_TEXTURE_2D_MULTISAMPLE:
        GL.glTexStorage2DMultisample(target, 4, fmt, w, h, True)
    elif target in (GL.GL_TEXTURE_2D_ARRAY, GL.GL_TEXTURE_3D):
        GL.glTexStorage3D(target, 1, fmt, w, h, 2)
    elif target == GL.GL_TEXTURE_CUBE_MAP:
        GL.glTexStorage2D(target, 1, fmt, w, w)
    else:
        GL.glTexStorage2D(target, 1, fmt, w, h)
    GL.glBindTexture(target, 0)
    assert GL.glGetError() == 0
    return tex


@pytest.fixture(scope="module")
def env(gl):
    from engine_bridge.bridge import Bridge
    from engine_bridge.transfer.readback import ReadbackTransfer
    from qwplugin.runtime import Context, Frame

    rng = np.random.default_rng(5)
    frames = []
    for i in range(2):
        color = rng.uniform(0.0, 2.0, (H, W, 3)).astype(np.float32)
        motion = rng.uniform(-1.0, 1.0, (H, W, 2)).astype(np.float32)
        frames.append((color, motion, (0.25, -0.25 * i)))
    reference = Context(_desc())
    for i, (c, m, j) in enumerate(frames):
        expected = reference.dispatch(Frame(color=c, motion_px=m, jitter_px=j, reset=(i == 0)))
    reference.close()
    io = ReadbackTransfer(W, H)
    texs = []
    for c, m, _ in frames:
        ct, mt = _storage("GL_TEXTURE_2D", "GL_RGBA32F"), _storage("GL_TEXTURE_2D", "GL_RG32F")
        io.write(ct, c)
        io.write(mt, m)
        texs.append((ct, mt))
    depth = _storage("GL_TEXTURE_2D", "GL_R32F")
    io.write(depth, np.full((H, W), 5.0, np.float32))
    out = _storage("GL_TEXTURE_2D", "GL_RGBA32F")
    bridge = Bridge(Context(_desc()))
    yield dict(bridge=bridge, texs=texs, frames=frames, out=out, depth=depth, expected=expected, io=io)
    bridge.close(close_context=True)


def _good_call(env, i):
    ct, mt = env["texs"][i]
    return dict(color_tex=ct, motion_tex=mt, output_tex=env["out"], jitter_px=env["frames"][i][2], reset=(i == 0))


def _check(env, call, exc_type, field):
    """Rewind, make the bad call, check the typed error and field, then the bit-identical next frame."""
    from OpenGL.raw.GL.VERSION.GL_1_1 import glGetError

    from qwplugin.errors import QWPluginError

    bridge = env["bridge"]
    bridge.dispatch(**_good_call(env, 0))
    with pytest.raises(QWPluginError) as err:
        call(bridge)
    assert type(err.value) is exc_type, f"{type(err.value).__name__}: {err.value}"
    if field is not None:
        assert getattr(err.value, "field", None) == field, f"field {err.value.field!r}: {err.value}"
    assert glGetError() == 0
    np.testing.assert_array_equal(bridge.dispatch(**_good_call(env, 1)), env["expected"])
    return err.value


def _dispatch_with(env, **changes):
    def call(bridge):
        kw = _good_call(env, 1)
        resolved = {k: (v(env) if callable(v) else v) for k, v in changes.items()}
        kw.update(resolved)
        return bridge.dispatch(**kw)
    return call


SLOT_ARG = {"color": "color_tex", "motion": "motion_tex", "output": "output_tex", "depth": "depth_tex"}


def _deleted(env):
    from OpenGL import GL

    tex = _storage("GL_TEXTURE_2D", "GL_RGBA32F")
    GL.glDeleteTextures(1, [tex])
    return tex


def _never_bound(env):
    from OpenGL import GL

    return int(GL.glGenTextures(1))


BAD_NAMES = {"zero": 0, "negative": -1, "huge": 2 ** 40, "float": 3.5, "string": "1", "bool": True,
             "absent": np.int64(987654), "deleted": _deleted, "never_bound": _never_bound, "none": None}

NAME_CASES = [(f"{slot}-{name}", slot, value) for slot in SLOT_ARG for name, value in BAD_NAMES.items()
              if not (slot == "depth" and name == "none")]  # depth_tex=None means "no depth": valid


@pytest.mark.parametrize("case,slot,value", NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_bad_texture_name(env, case, slot, value):
    _check(env, _dispatch_with(env, **{SLOT_ARG[slot]: value}), _ia(), slot)


def _ia():
    from qwplugin.errors import InvalidArgument

    return InvalidArgument


FORMAT_CASES = [("color", f) for f in ("GL_RGBA8", "GL_SRGB8_ALPHA8", "GL_RGB8", "GL_R16F", "GL_RG16F", "GL_R32F",
                                       "GL_RGBA32UI", "GL_RGBA16I", "GL_RGBA8_SNORM", "GL_RGB10_A2", "GL_RGBA16",
                                       "GL_DEPTH_COMPONENT32F", "GL_DEPTH24_STENCIL8")] + \
               [("motion", f) for f in ("GL_R16F", "GL_R32F", "GL_RG8", "GL_RG16_SNORM", "GL_RG32I", "GL_RG16UI",
                                        "GL_RGBA8", "GL_DEPTH_COMPONENT24", "GL_R11F_G11F_B10F")] + \
               [("output", f) for f in ("GL_RGBA8", "GL_SRGB8_ALPHA8", "GL_RGBA32UI", "GL_DEPTH_COMPONENT24",
                                        "GL_R32F", "GL_RG16F", "GL_RGB10_A2", "GL_RGBA16_SNORM")] + \
               [("depth", f) for f in ("GL_RGBA8", "GL_RG16F", "GL_R8", "GL_RGBA32F", "GL_R32UI")]


@pytest.mark.parametrize("slot,fmt", FORMAT_CASES, ids=[f"{s}-{f}" for s, f in FORMAT_CASES])
def test_refused_internal_format_names_expected_and_actual(env, slot, fmt):
    tex = _storage("GL_TEXTURE_2D", fmt)
    err = _check(env, _dispatch_with(env, **{SLOT_ARG[slot]: tex}), _ia(), slot)
    assert err.actual == fmt and "GL_RGBA16F" in err.expected or (slot == "depth" and "GL_R32F" in err.expected)


def test_hardware_depth_with_linear_view_convention(env):
    tex = _storage("GL_TEXTURE_2D", "GL_DEPTH_COMPONENT32F")
    err = _check(env, _dispatch_with(env, depth_tex=tex), _ia(), "depth")
    assert "linear view depth" in str(err)


TARGET_CASES = [(slot, t) for slot in ("color", "motion", "output") for t in (
    "GL_TEXTURE_2D_MULTISAMPLE", "GL_TEXTURE_2D_ARRAY", "GL_TEXTURE_CUBE_MAP", "GL_TEXTURE_3D",
    "GL_TEXTURE_RECTANGLE")] + [("depth", "GL_TEXTURE_2D_MULTISAMPLE")]


@pytest.mark.parametrize("slot,target", TARGET_CASES, ids=[f"{s}-{t}" for s, t in TARGET_CASES])
def test_refused_texture_target(env, slot, target):
    fmt = {"motion": "GL_RG32F", "depth": "GL_R32F"}.get(slot, "GL_RGBA32F")
    tex = _storage(target, fmt)
    err = _check(env, _dispatch_with(env, **{SLOT_ARG[slot]: tex}), _ia(), slot)
    assert err.expected == "GL_TEXTURE_2D" and (target in err.actual or "not GL_TEXTURE_2D" in err.actual)


SIZE_CASES = [(slot, dw, dh) for slot in SLOT_ARG for dw, dh in ((1, 0), (0, -1))]


@pytest.mark.parametrize("slot,dw,dh", SIZE_CASES, ids=[f"{s}-{dw}x{dh}" for s, dw, dh in SIZE_CASES])
def test_wrong_texture_size(env, slot, dw, dh):
    fmt = {"motion": "GL_RG32F", "depth": "GL_R32F"}.get(slot, "GL_RGBA32F")
    tex = _storage("GL_TEXTURE_2D", fmt, W + dw, H + dh)
    err = _check(env, _dispatch_with(env, **{SLOT_ARG[slot]: tex}), _ia(), slot)
    assert err.expected == f"{W}x{H}" and err.actual == f"{W + dw}x{H + dh}"


ALIAS_CASES = {
    "output_is_color": ("output", dict(output_tex=lambda e: e["texs"][1][0])),
    "output_is_depth": ("output", dict(depth_tex=lambda e: e["depth"], output_tex=lambda e: e["depth"])),
    "motion_is_color": ("motion", dict(motion_tex=lambda e: e["texs"][1][0])),
    "depth_is_color": ("depth", dict(depth_tex=lambda e: e["texs"][1][0])),
    "depth_is_motion": ("depth", dict(depth_tex=lambda e: e["texs"][1][1])),
}


@pytest.mark.parametrize("case", sorted(ALIAS_CASES))
def test_aliased_textures(env, case):
    field, changes = ALIAS_CASES[case]
    _check(env, _dispatch_with(env, **changes), _ia(), field)


VALUE_CASES = {
    "jitter-high": ("jitter_px", dict(jitter_px=(0.6, 0.0))), "jitter-nan": ("jitter_px", dict(jitter_px=(np.nan, 0))),
    "jitter-string": ("jitter_px", dict(jitter_px="ab")), "jitter-none": ("jitter_px", dict(jitter_px=None)),
    "jitter-three": ("jitter_px", dict(jitter_px=(0, 0, 0))),
    "exposure-zero": ("exposure", dict(exposure=0.0)), "exposure-huge": ("exposure", dict(exposure=1e300)),
    "exposure-tiny": ("exposure", dict(exposure=1e-300)), "exposure-string": ("exposure", dict(exposure="1")),
    "reset-none": ("reset", dict(reset=None)), "reset-string": ("reset", dict(reset="yes")),
    "frame_time-negative": ("frame_time_ms", dict(frame_time_ms=-1.0)),
    "frame_time-string": ("frame_time_ms", dict(frame_time_ms="16")),
    "mvs-nan": ("motion_vector_scale", dict(motion_vector_scale=(np.nan, 1.0))),
    "mvs-string": ("motion_vector_scale", dict(motion_vector_scale="x")),
    "mvs-three": ("motion_vector_scale", dict(motion_vector_scale=(1, 2, 3))),
}


@pytest.mark.parametrize("case", sorted(VALUE_CASES))
def test_bad_value(env, case):
    field, changes = VALUE_CASES[case]
    _check(env, _dispatch_with(env, **changes), _ia(), field)


def _content_texture(fmt, data):
    def make(env):
        tex = _storage("GL_TEXTURE_2D", fmt)
        env["io"].write(tex, data)
        return tex
    return make


CONTENT_CASES = {
    "motion-nan": ("motion_px", dict(motion_tex=_content_texture("GL_RG32F", np.full((H, W, 2), np.nan, np.float32)))),
    "motion-inf": ("motion_px", dict(motion_tex=_content_texture("GL_RG32F", np.full((H, W, 2), np.inf, np.float32)))),
    "color-negative": ("color", dict(color_tex=_content_texture("GL_RGBA32F", np.full((H, W, 4), -1, np.float32)))),
}


@pytest.mark.parametrize("case", sorted(CONTENT_CASES))
def test_bad_texture_contents_refused_by_the_context(env, case):
    field, changes = CONTENT_CASES[case]
    _check(env, _dispatch_with(env, **changes), _ia(), field)


def _closed_context():
    from qwplugin.runtime import Context

    ctx = Context(_desc())
    ctx.close()
    return ctx


CONSTRUCTOR_CASES = {
    "context-none": ("context", lambda: dict(context=None)),
    "context-string": ("context", lambda: dict(context="ctx")),
    "context-desc": ("context", lambda: dict(context=_desc())),
    "transfer-unknown": ("transfer", lambda: dict(transfer="gpu")),
    "transfer-none": ("transfer", lambda: dict(transfer=None)),
    "transfer-list": ("transfer", lambda: dict(transfer=["readback"])),
    "timing_window-zero": ("timing_window", lambda: dict(timing_window=0)),
    "timing_window-negative": ("timing_window", lambda: dict(timing_window=-3)),
    "timing_window-string": ("timing_window", lambda: dict(timing_window="60")),
    "mvs-nan": ("motion_vector_scale", lambda: dict(motion_vector_scale=(1.0, np.inf))),
    "mvs-one": ("motion_vector_scale", lambda: dict(motion_vector_scale=(1.0,))),
}


@pytest.mark.parametrize("case", sorted(CONSTRUCTOR_CASES))
def test_bad_bridge_construction(env, case):
    from engine_bridge.bridge import Bridge
    from qwplugin.runtime import Context

    field, make = CONSTRUCTOR_CASES[case]

    def call(bridge):
        kw = make()
        context = kw.pop("context") if "context" in kw else Context(_desc())
        return Bridge(context, **kw)

    _check(env, call, _ia(), field)


def test_bridge_on_closed_context_and_closed_bridge(env):
    from engine_bridge.bridge import Bridge
    from qwplugin.errors import InvalidOperation
    from qwplugin.runtime import Context

    _check(env, lambda b: Bridge(_closed_context()), InvalidOperation, None)
    closed = Bridge(Context(_desc()))
    closed.close(close_context=True)
    _check(env, lambda b: closed.dispatch(**_good_call(env, 1)), InvalidOperation, None)


RESIZE_CASES = {"zero": (0, H), "string": ("a", H), "negative": (W, -1), "float": (2.5, 3), "none": (None, H)}


@pytest.mark.parametrize("case", sorted(RESIZE_CASES))
def test_bad_resize_changes_nothing(env, case):
    w, h = RESIZE_CASES[case]
    _check(env, lambda b: b.resize(w, h), _ia(), "width/height")


def test_no_current_gl_context_is_a_typed_error(env, gl):
    if gl.backend != "egl":
        pytest.skip("releasing the current context is exercised on the EGL backend")
    from OpenGL import EGL

    from qwplugin.errors import InvalidOperation

    def call(bridge):
        EGL.eglMakeCurrent(gl._egl_display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
        try:
            bridge.dispatch(**_good_call(env, 1))
        finally:
            gl.make_current()

    err = _check(env, call, InvalidOperation, None)
    assert "current" in str(err)


def test_bridge_battery_size():
    count = (len(NAME_CASES) + len(FORMAT_CASES) + 1 + len(TARGET_CASES) + len(SIZE_CASES) + len(ALIAS_CASES)
             + len(VALUE_CASES) + len(CONTENT_CASES) + len(CONSTRUCTOR_CASES) + 2 + len(RESIZE_CASES) + 1)
    assert count >= 130
