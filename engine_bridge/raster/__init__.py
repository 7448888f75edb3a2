"""The jittered G-buffer rasterizer and the supersampled reference renderer (needs a current GL context)."""

from engine_bridge.raster.gbuffer import GBufferArrays, GBufferTextures
from engine_bridge.raster.renderer import Renderer
from engine_bridge.raster.sampling import jitter_to_ndc, reference_sample_offsets

__all__ = ["GBufferArrays", "GBufferTextures", "Renderer", "jitter_to_ndc", "reference_sample_offsets"]
