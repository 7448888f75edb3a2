"""GL passes sharing one protocol (:class:`RenderPass`): the anti-aliasing toggle swaps pass objects.

Importing this package imports OpenGL (through ``engine_bridge.gl``, which picks the platform first).
"""

from engine_bridge.passes.base import PassFrame, Port, RenderPass
from engine_bridge.passes.noaa_pass import NoAAPass
from engine_bridge.passes.taa_pass import TAAPass

__all__ = ["NoAAPass", "PassFrame", "Port", "RenderPass", "TAAPass"]
