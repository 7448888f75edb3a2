"""engine_bridge: the GL world. OpenGL contexts, the mini engine (rasterizer, G-buffer, references,
scenes), GL passes (TAA, present) and the bridge that hands a host's GL textures to a qwplugin context.
"""
