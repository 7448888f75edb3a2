"""The typed error hierarchy raised at qwplugin's public boundary.

Library code never exits the process and never prints errors; it raises one of these. Internal
invariants use plain ``assert``.
"""


class QWPluginError(Exception):
    """Base class of every error qwplugin and engine_bridge raise on purpose."""


class InvalidArgument(QWPluginError, ValueError):
    """A caller passed a bad value: wrong shape, dtype, range, unknown name, bad file.

    Attributes:
        field: name of the offending argument or field ("" when not applicable).
        expected: what was expected, as text.
        actual: what was received, as text.
    """

    def __init__(self, message: str, *, field: str = "", expected: str = "", actual: str = ""):
        parts = [message]
        if expected or actual:
            parts.append(f"(expected {expected}, got {actual})")
        super().__init__(" ".join(parts))
        self.field = field
        self.expected = expected
        self.actual = actual


class InvalidOperation(QWPluginError, RuntimeError):
    """The call is not valid in the object's current state (e.g. dispatch after close)."""


class UnsupportedHardware(QWPluginError, RuntimeError):
    """The requested backend, context or device is not available on this machine."""
