"""Integer execution of the 4-bit QW-Net (U-Net feature extractor and the filter network's 1x1 convs).

- :mod:`~qwplugin.intexec.program`: the exported integer model (:class:`IntProgram`).
- :mod:`~qwplugin.intexec.export`: quantization-aware model -> program; the shipped int4 file (save/load).
- :mod:`~qwplugin.intexec.interpreter`: the one op loop; backends are sets of kernels.
- :mod:`~qwplugin.intexec.reference`: the integer reference executor (defines the right answer).
- :mod:`~qwplugin.intexec.network`: :class:`IntegerQWNet`, QW-Net run from its program alone.
- :mod:`~qwplugin.intexec.cpu_backend`: fast CPU backend (oneDNN int8 convolutions, AMX / VNNI, on 4- and 8-bit codes).
- :mod:`~qwplugin.intexec.triton_backend`: GPU backend (Triton int8 implicit-GEMM convolutions).
- :mod:`~qwplugin.intexec.select`: backend selection with fallback and reasons.
- :mod:`~qwplugin.intexec.bench`: ``python -m qwplugin.intexec.bench``.
"""
