"""qwplugin: QW-Net (Thomas et al., SIGGRAPH Asia 2020) as a TAA replacement.

The reconstruction core: PyTorch tensors only, no OpenGL. ``qwplugin.make("qwnet-int4", (w, h))`` builds any
method by name (:mod:`qwplugin.runtime.registry`); every method takes the one per-frame contract,
:class:`Frame`. See ARCHITECTURE in the repo's README for the
layers; ``engine_bridge`` wraps this package for OpenGL hosts.
"""

from qwplugin.errors import InvalidArgument, InvalidOperation, QWPluginError, UnsupportedHardware

__all__ = ["QWPluginError", "InvalidArgument", "InvalidOperation", "UnsupportedHardware", "Context", "ContextDesc",
           "Frame", "MethodInfo", "Reconstructor", "make", "register", "QWPluginWarning", "DebugCheckWarning",
           "BudgetWarning", "render_size_for", "scale_factor", "scale_of",
           "UPSCALING_MODES"]

_RUNTIME_NAMES = {"Context", "ContextDesc", "Frame", "MethodInfo", "Reconstructor", "make", "register",
                  "QWPluginWarning", "DebugCheckWarning", "BudgetWarning"}

_UPSCALE_NAMES = {"render_size_for": "render_size_for", "scale_factor": "scale_factor", "scale_of": "scale_of",
                  "UPSCALING_MODES": "MODES"}
"""Temporal-upscaling helpers of :mod:`qwplugin.upscale`: ``qwplugin.render_size_for((1920, 1080),
"performance")`` is ``(960, 540)``; ``UPSCALING_MODES`` maps mode names to per-axis scale factors."""


def __getattr__(name: str):
    """Import the runtime lazily, so ``import qwplugin.errors`` (e.g. from engine_bridge) stays light."""
    if name in _RUNTIME_NAMES:
        import qwplugin.runtime as runtime

        return getattr(runtime, name)
    if name in _UPSCALE_NAMES:
        import qwplugin.upscale as upscale

        return getattr(upscale, _UPSCALE_NAMES[name])
    raise AttributeError(f"module 'qwplugin' has no attribute {name!r}")
__version__ = "0.1.0"
