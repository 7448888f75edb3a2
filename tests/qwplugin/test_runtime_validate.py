"""Frame checks at the boundary: each bad field raises InvalidArgument naming it, with expected/actual."""

import math

import numpy as np
import pytest
import torch

from qwplugin import Frame, InvalidArgument
from qwplugin.runtime.depth import to_linear_view_depth
from qwplugin.runtime.validate import check_frame, frame_to_tensors
from runtime_frames import H, W, pan_frame, replace_frame

GOOD = pan_frame(3)


def _negative_color():
    c = GOOD.color.copy()
    c[2, 3, 1] = -0.25
    return c


BAD_FIELDS = [
    ("color", {"color": None}),
    ("color", {"color": [[0.0]]}),
    ("color", {"color": np.zeros((W, H, 3), np.float32)}),  # transposed (W, H)
    ("color", {"color": np.zeros((H, W, 2), np.float32)}),
    ("color", {"color": np.zeros((H, W, 3), np.uint8)}),
    ("color", {"color": torch.zeros(H, W, 3, dtype=torch.int32)}),
    ("color", {"color": _negative_color()}),
    ("motion_px", {"motion_px": None}),
    ("motion_px", {"motion_px": np.zeros((H, W, 3), np.float32)}),
    ("motion_px", {"motion_px": np.full((H, W, 2), np.nan, np.float32)}),
    ("jitter_px", {"jitter_px": None}),
    ("jitter_px", {"jitter_px": (0.6, 0.0)}),
    ("jitter_px", {"jitter_px": (0.0, -0.51)}),
    ("jitter_px", {"jitter_px": (0.1,)}),
    ("jitter_px", {"jitter_px": (math.nan, 0.0)}),
    ("jitter_px", {"jitter_px": "ab"}),
    ("depth", {"depth": np.zeros((H, W, 2), np.float32)}),
    ("depth", {"depth": np.full((H, W), -1.0, np.float32)}),
    ("depth", {"depth": np.full((H, W), np.nan, np.float32)}),
    ("reset", {"reset": 1}),
    ("exposure", {"exposure": 0.0}),
    ("exposure", {"exposure": -2.0}),
    ("exposure", {"exposure": math.inf}),
    ("exposure", {"exposure": None}),
    ("frame_time_ms", {"frame_time_ms": -1.0}),
    ("frame_time_ms", {"frame_time_ms": math.nan}),
]


@pytest.mark.parametrize("field, change", BAD_FIELDS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)])
def test_bad_field_raises_named_error(field, change):
    with pytest.raises(InvalidArgument) as e:
        check_frame(replace_frame(GOOD, **change), (H, W), needs_depth=False)
    assert e.value.field == field
    assert e.value.expected and e.value.actual


def test_error_message_has_expected_and_actual():
    with pytest.raises(InvalidArgument) as e:
        check_frame(replace_frame(GOOD, color=np.zeros((5, 7, 3), np.float32)), (H, W), needs_depth=False)
    text = str(e.value)
    assert f"({H}, {W}, 3)" in text and "(5, 7, 3)" in text
    with pytest.raises(InvalidArgument) as e:
        check_frame(replace_frame(GOOD, color=_negative_color()), (H, W), needs_depth=False)
    assert "1 negative values, min -0.25" in str(e.value)


def test_missing_depth_when_needed_and_not_a_frame():
    with pytest.raises(InvalidArgument) as e:
        check_frame(GOOD, (H, W), needs_depth=True)
    assert e.value.field == "depth"
    with pytest.raises(InvalidArgument) as e:
        check_frame({"color": GOOD.color}, (H, W), needs_depth=False)
    assert e.value.field == "frame"


def test_ndc_depth_must_lie_in_unit_range():
    with pytest.raises(InvalidArgument) as e:
        check_frame(replace_frame(GOOD, depth=np.full((H, W), 1.5, np.float32)), (H, W), needs_depth=True,
                    depth_convention="ndc")
    assert e.value.field == "depth"


def test_accepted_variants():
    # torch inputs, RGBA colour, float16 and float64, (H, W, 1) depth, numpy bools, +inf linear depth (sky)
    rgba = np.concatenate([GOOD.color, np.full((H, W, 1), -5.0, np.float32)], axis=-1)  # alpha is ignored
    depth = np.full((H, W, 1), np.inf, np.float32)
    for frame in (replace_frame(GOOD, color=torch.from_numpy(GOOD.color), motion_px=torch.from_numpy(GOOD.motion_px)),
                  replace_frame(GOOD, color=rgba, depth=depth, reset=np.bool_(True)),
                  replace_frame(GOOD, color=GOOD.color.astype(np.float16), motion_px=GOOD.motion_px.astype(np.float64),
                                jitter_px=np.array([0.5, -0.5]), exposure=np.float32(2.0))):
        check_frame(frame, (H, W), needs_depth=False)


def test_conversion_layout_and_sanitising():
    color = GOOD.color.copy()
    color[0, 1, 2] = np.nan
    color[4, 5, 0] = np.inf
    color[6, 7, 1] = -np.inf  # non-finite values are sanitised, not refused as negative
    frame = replace_frame(GOOD, color=color[::-1][::-1])  # a non-contiguous view works too
    check_frame(frame, (H, W), needs_depth=False)
    ft = frame_to_tensors(frame, torch.device("cpu"))
    assert ft.nonfinite_color == 3 and ft.as_numpy
    expected = np.where(np.isfinite(color), color, 0.0).transpose(2, 0, 1)[None]
    assert torch.equal(ft.color, torch.from_numpy(np.ascontiguousarray(expected)))
    assert torch.equal(ft.motion_px, torch.from_numpy(GOOD.motion_px).permute(2, 0, 1)[None])
    assert ft.depth is None


def _window_depth(z, near, far, reversed_z):
    """Window-space depth of view depth z through the projection matrices themselves (reference)."""
    if not reversed_z:  # OpenGL perspective matrix, NDC z in [-1, 1], glDepthRange(0, 1)
        m22, m23 = (far + near) / (near - far), 2.0 * far * near / (near - far)
        z_ndc = (m22 * -z + m23) / z
        return 0.5 * z_ndc + 0.5
    if math.isinf(far):  # reversed-Z infinite projection with [0, 1] clip depth
        return near / z
    m22, m23 = near / (far - near), far * near / (far - near)
    return (m22 * -z + m23) / z


@pytest.mark.parametrize("convention, far", [("ndc", 50.0), ("ndc_inverted", 50.0), ("ndc_inverted", math.inf)])
def test_depth_conventions_invert_the_projection(convention, far):
    near = 0.1
    z = np.array([0.1, 0.37, 1.0, 7.5, 49.0], np.float64)
    d = _window_depth(z, near, far, convention == "ndc_inverted")
    linear = to_linear_view_depth(torch.from_numpy(d), convention, near, far).numpy()
    # float64 round trip of a rational function: relative error ~1e-12 is plenty below 1e-9.
    np.testing.assert_allclose(linear, z, rtol=1e-9)
