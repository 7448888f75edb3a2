"""ContextDesc: defaults and one InvalidArgument per bad field (naming it)."""

import math

import numpy as np
import pytest

from qwplugin import ContextDesc, InvalidArgument


def test_defaults_and_display_size():
    d = ContextDesc(render_size=(64, 32))
    assert d.display_size == (64, 32)
    assert d.render_shape == (32, 64)
    assert (d.precision, d.backend, d.depth_convention, d.budget_policy) == ("fp32", "auto", "linear_view", "warn")
    assert ContextDesc(render_size=(np.int64(8), np.int32(4))).render_size == (8, 4)


def test_with_sizes_validates():
    d = ContextDesc(render_size=(8, 4))
    assert d.with_sizes((16, 8)).display_size == (16, 8)
    with pytest.raises(InvalidArgument) as e:
        d.with_sizes((0, 8))
    assert e.value.field == "render_size"


@pytest.mark.parametrize("kwargs, field", [
    ({"render_size": (8,)}, "render_size"),
    ({"render_size": (8, 0)}, "render_size"),
    ({"render_size": (8.0, 4)}, "render_size"),
    ({"render_size": (8, 4), "display_size": (32, 8)}, "display_size"),  # 4x: out of range (2x is the Context's check)
    ({"render_size": (8, 4), "model": ""}, "model"),
    ({"render_size": (8, 4), "precision": "int8"}, "precision"),
    ({"render_size": (8, 4), "backend": "vulkan"}, "backend"),
    ({"render_size": (8, 4), "int4_backend": "gpu"}, "int4_backend"),
    ({"render_size": (8, 4), "depth_convention": "log"}, "depth_convention"),
    ({"render_size": (8, 4), "depth_convention": "ndc"}, "camera_near"),
    ({"render_size": (8, 4), "depth_convention": "ndc", "camera_near": 0.1}, "camera_far"),
    ({"render_size": (8, 4), "depth_convention": "ndc", "camera_near": 0.1, "camera_far": math.inf}, "camera_far"),
    ({"render_size": (8, 4), "depth_convention": "ndc", "camera_near": 1.0, "camera_far": 0.5}, "camera_far"),
    ({"render_size": (8, 4), "budget_ms": 0.0}, "budget_ms"),
    ({"render_size": (8, 4), "budget_ms": math.nan}, "budget_ms"),
    ({"render_size": (8, 4), "budget_policy": "skip"}, "budget_policy"),
    ({"render_size": (8, 4), "debug_checks": 1}, "debug_checks"),
    ({"render_size": (8, 4), "timing_window": 0}, "timing_window"),
    ({"render_size": (8, 4), "seed": "0"}, "seed"),
])
def test_bad_field_is_named(kwargs, field):
    with pytest.raises(InvalidArgument) as e:
        ContextDesc(**kwargs)
    assert e.value.field == field
    assert field in str(e.value) or e.value.expected


def test_inverted_depth_allows_infinite_far():
    d = ContextDesc(render_size=(8, 4), depth_convention="ndc_inverted", camera_near=0.1, camera_far=math.inf)
    assert d.camera_far == math.inf
