"""Strict, path-tracking reading of parsed JSON for the scene format.

A small hand-written validator rather than ``jsonschema``: every error must be a
:class:`~engine_bridge.scene.errors.SceneError` naming the file and the field path
(``objects[2].material.texture``), values need post-processing (paths relative to the scene file,
vectors to tuples), and procedural parameters are validated from the generators' own signatures.
That is ~150 lines and no extra dependency.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from engine_bridge.scene.errors import SceneError

REQUIRED = object()
#: Keys accepted (and ignored) in every JSON object, for notes in scene files.
COMMENT_KEYS = frozenset({"comment"})


def join(path: str, key: str | int) -> str:
    """Field path of ``key`` (a name or a list index) inside ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def type_name(value) -> str:
    """JSON-ish name of a Python value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


@dataclass
class Where:
    """The scene file being read (as given, for messages)."""

    file: str

    def error(self, field: str, message: str, expected: str = "", actual: str = "") -> SceneError:
        return SceneError(message, file=self.file, field=field, expected=expected, actual=actual)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(
    where: Where,
    field: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """A finite JSON number, optionally range-checked (``lo``/``hi`` inclusive unless ``*_open``)."""
    if not is_number(value):
        raise where.error(field, "wrong type", expected="a number", actual=f"{type_name(value)} {value!r}")
    bad = (lo is not None and (value < lo or (lo_open and value == lo))) or (
        hi is not None and (value > hi or (hi_open and value == hi))
    )
    if bad:
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        interval = f"{'(' if lo_open else '['}{lo_s}, {hi_s}{')' if hi_open else ']'}"
        raise where.error(field, "value out of range", expected=f"a number in {interval}", actual=repr(value))
    return float(value)


def integer(where: Where, field: str, value, lo: int | None = None, hi: int | None = None) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise where.error(field, "wrong type", expected="an integer", actual=f"{type_name(value)} {value!r}")
    number(where, field, value, lo, hi)
    return int(value)


def boolean(where: Where, field: str, value) -> bool:
    if not isinstance(value, bool):
        raise where.error(
            field, "wrong type", expected="true or false", actual=f"{type_name(value)} {value!r}"
        )
    return value


def string(where: Where, field: str, value, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise where.error(field, "wrong type", expected="a string", actual=f"{type_name(value)} {value!r}")
    if choices is not None and value not in choices:
        raise where.error(
            field, f"unknown value {value!r}", expected="one of " + ", ".join(choices), actual=repr(value)
        )
    return value


def vector(
    where: Where,
    field: str,
    value,
    n: int,
    lo: float | None = None,
    lo_open: bool = False,
    allow_scalar: bool = False,
) -> tuple[float, ...]:
    """A JSON array of ``n`` finite numbers (or one number broadcast, when ``allow_scalar``)."""
    if allow_scalar and is_number(value):
        value = [value] * n
    if not isinstance(value, list) or len(value) != n:
        what = f"an array of {n} numbers" + (" or a number" if allow_scalar else "")
        raise where.error(field, "wrong type", expected=what, actual=f"{type_name(value)} {value!r}")
    return tuple(number(where, join(field, i), v, lo=lo, lo_open=lo_open) for i, v in enumerate(value))


def array(where: Where, field: str, value, min_len: int = 0) -> list:
    if not isinstance(value, list):
        raise where.error(field, "wrong type", expected="an array", actual=f"{type_name(value)} {value!r}")
    if len(value) < min_len:
        raise where.error(field, "too few entries", expected=f"at least {min_len}", actual=str(len(value)))
    return value


class Fields:
    """Reads the keys of one JSON object, remembering which were read; :meth:`finish` then rejects the
    rest as unknown fields (with a "did you mean" hint)."""

    def __init__(self, where: Where, field: str, value):
        if not isinstance(value, dict):
            raise where.error(
                field or "(top level)",
                "wrong type",
                expected="an object",
                actual=f"{type_name(value)} {value!r}",
            )
        self.where, self.field, self.data = where, field, value
        self.read: set[str] = set(COMMENT_KEYS)

    def has(self, key: str) -> bool:
        return key in self.data

    def path(self, key: str | int) -> str:
        return join(self.field, key)

    def raw(self, key: str, default=REQUIRED):
        """The raw JSON value of ``key``; a missing required key is an error."""
        self.read.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise self.where.error(self.path(key), "missing required field")
            return default
        return self.data[key]

    def get(self, key: str, reader, default=REQUIRED, **kwargs):
        """``reader(where, field, value, **kwargs)`` on ``key``, or ``default`` when absent."""
        value = self.raw(key, default)
        if key not in self.data:
            return value
        return reader(self.where, self.path(key), value, **kwargs)

    def finish(self, known: tuple[str, ...] | None = None) -> None:
        """Raise on the first key that was never read; ``known`` lists the valid names for the hint."""
        for key in self.data:
            if key not in self.read:
                names = sorted(set(known or ()) | (self.read - COMMENT_KEYS))
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.where.error(
                    self.path(key),
                    f"unknown field {key!r}{hint}",
                    expected="one of " + ", ".join(names),
                    actual=repr(key),
                )
