"""Tensor operations shared by the model, the runtime and the engine (no OpenGL here)."""
