"""The plugin at run time, with no OpenGL: :class:`ContextDesc` -> :class:`Context` -> ``dispatch(Frame)``.

See docs/runtime.md for the integration guide (input table, conventions, a minimal example).
"""

from qwplugin.runtime.backend import BackendInfo
from qwplugin.runtime.context import Context, ContextStats
from qwplugin.runtime.desc import ContextDesc
from qwplugin.runtime.frame import Frame
from qwplugin.runtime.warn import BudgetWarning, DebugCheckWarning, QWPluginWarning

__all__ = ["BackendInfo", "BudgetWarning", "Context", "ContextDesc", "ContextStats", "DebugCheckWarning",
           "Frame", "QWPluginWarning"]
