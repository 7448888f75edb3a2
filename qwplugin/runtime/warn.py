"""Warning categories of the runtime and a rate limiter, so a persistent problem does not flood the log.

Filter them with the standard :mod:`warnings` machinery, e.g.
``warnings.simplefilter("error", qwplugin.DebugCheckWarning)`` in a test suite, or
``warnings.simplefilter("ignore", qwplugin.BudgetWarning)`` in a shipped game. Every warning is also
logged on the ``qwplugin.runtime`` logger.
"""

from __future__ import annotations

import logging
import warnings

logger = logging.getLogger("qwplugin.runtime")


class QWPluginWarning(UserWarning):
    """Base category of every warning qwplugin emits."""


class DebugCheckWarning(QWPluginWarning):
    """The opt-in debug checker found a likely integration mistake (``ContextDesc.debug_checks``).

    Attributes:
        check: short name of the check that fired (e.g. ``"motion_ndc"``).
    """

    def __init__(self, message: str, check: str = ""):
        super().__init__(message)
        self.check = check


class BudgetWarning(QWPluginWarning):
    """A frame took longer than ``ContextDesc.budget_ms`` (policy ``"warn"``)."""


class RateLimiter:
    """Lets a keyed event through on its first occurrence, then at most once every ``every`` frames.

    Examples:
        >>> r = RateLimiter(every=10)
        >>> [r.allow("k", f) for f in (0, 1, 9, 10, 11)]
        [True, False, False, True, False]
    """

    def __init__(self, every: int = 120):
        assert every >= 1
        self.every = every
        self._last: dict[str, int] = {}

    def allow(self, key: str, frame_index: int) -> bool:
        last = self._last.get(key)
        if last is not None and frame_index - last < self.every:
            return False
        self._last[key] = frame_index
        return True


def emit(warning: QWPluginWarning, stacklevel: int = 4) -> None:
    """Log ``warning`` and raise it through :func:`warnings.warn` (pointing at the host's call site)."""
    logger.warning("%s: %s", type(warning).__name__, warning)
    warnings.warn(warning, stacklevel=stacklevel)
