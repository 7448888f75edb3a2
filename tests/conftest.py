"""Shared pytest configuration: markers are declared in pyproject.toml.

``gpu`` tests are skipped cleanly where torch sees no CUDA device (the CPU CI machine).
"""

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
