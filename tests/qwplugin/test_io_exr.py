"""OpenEXR planes: exact round trips for representable values, dtype handling, errors."""

import numpy as np
import pytest

from qwplugin.errors import InvalidArgument
from qwplugin.io.exr import read_exr, write_exr


def test_half_round_trip_is_exact_and_top_down(tmp_path):
    rng = np.random.default_rng(0)
    planes = {"color.R": rng.standard_normal((5, 7)).astype(np.float16),
              "motion.X": np.arange(35, dtype=np.float32).reshape(5, 7) - 17.5}  # representable in half
    planes["color.R"][0, 0] = 1000.0  # an asymmetric marker: row 0 stays row 0
    write_exr(tmp_path / "a.exr", planes)
    back = read_exr(tmp_path / "a.exr")
    assert set(back) == set(planes)
    for name, plane in planes.items():
        assert back[name].dtype == np.float16
        np.testing.assert_array_equal(back[name], plane.astype(np.float16))
    assert back["color.R"][0, 0] == 1000.0


def test_float32_kept_when_half_is_false(tmp_path):
    depth = np.linspace(0.1, 99.9, 12, dtype=np.float32).reshape(3, 4)
    write_exr(tmp_path / "d.exr", {"depth.Z": depth, "mixed": depth.astype(np.float16)}, half=False)
    back = read_exr(tmp_path / "d.exr")
    assert back["depth.Z"].dtype == np.float32 and back["mixed"].dtype == np.float16
    np.testing.assert_array_equal(back["depth.Z"], depth)


def test_half_rounds_float32(tmp_path):
    x = np.array([[1.0 + 2.0 ** -12, 65504.0]], np.float32)
    write_exr(tmp_path / "h.exr", {"x": x})
    np.testing.assert_array_equal(read_exr(tmp_path / "h.exr")["x"], x.astype(np.float16))


def test_errors(tmp_path):
    with pytest.raises(InvalidArgument, match="no channels"):
        write_exr(tmp_path / "e.exr", {})
    with pytest.raises(InvalidArgument, match="2D"):
        write_exr(tmp_path / "e.exr", {"a": np.zeros((2, 2, 3), np.float32)})
    with pytest.raises(InvalidArgument, match="size differs"):
        write_exr(tmp_path / "e.exr", {"a": np.zeros((2, 2), np.float32), "b": np.zeros((2, 3), np.float32)})
    with pytest.raises(InvalidArgument, match="dtype"):
        write_exr(tmp_path / "e.exr", {"a": np.zeros((2, 2), np.int8)})
    with pytest.raises(InvalidArgument, match="not found"):
        read_exr(tmp_path / "missing.exr")
    (tmp_path / "bad.exr").write_bytes(b"not an exr")
    with pytest.raises(InvalidArgument, match="cannot read"):
        read_exr(tmp_path / "bad.exr")
