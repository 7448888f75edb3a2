"""Integer execution of the 4-bit QW-Net feature extractor.

- :mod:`~qwplugin.intexec.program`: the exported integer model (:class:`IntProgram`).
- :mod:`~qwplugin.intexec.export`: quantization-aware model -> program; safetensors save/load.
- :mod:`~qwplugin.intexec.reference`: the integer reference executor (defines the right answer).
- :mod:`~qwplugin.intexec.cpu_backend`: fast CPU backend (FBGEMM int8 kernels holding 4-bit values).
- :mod:`~qwplugin.intexec.triton_backend`: GPU backend (Triton int8 implicit-GEMM convolutions).
- :mod:`~qwplugin.intexec.select`: backend selection with fallback and reasons.
- :mod:`~qwplugin.intexec.bench`: ``python -m qwplugin.intexec.bench``.
"""
