"""qwplugin: QW-Net (Thomas et al., SIGGRAPH Asia 2020) as a TAA replacement.

The reconstruction core: PyTorch tensors only, no OpenGL. See ARCHITECTURE in the repo's README for the
layers; ``engine_bridge`` wraps this package for OpenGL hosts.
"""

from qwplugin.errors import InvalidArgument, InvalidOperation, QWPluginError, UnsupportedHardware

__all__ = ["QWPluginError", "InvalidArgument", "InvalidOperation", "UnsupportedHardware"]
__version__ = "0.1.0"
