"""GL texture <-> plugin tensor transfer: read-back/upload through preallocated arrays (everywhere) and
CUDA-GL interop (NVIDIA GL on the GPU torch uses). :func:`select_transfer` picks one and says why."""
