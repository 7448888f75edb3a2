"""Multi-process data parallelism under ``torchrun`` (PyTorch DDP, gloo on CPU, nccl on CUDA).

``torchrun --nproc_per_node=2 -m qwplugin.train --config FILE`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; a plain ``python -m qwplugin.train`` leaves them unset and runs one process. Every rank
draws the same global batch from ``(seed, step)`` and takes its slice ``items[rank::world_size]``; DDP
averages the gradients, so the update equals the single-process one on the whole batch (up to float
summation order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes checkpoints, logs and runs validation."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1), else do nothing.

    Args:
        backend: "gloo" or "nccl"; default gloo on CPU (and when CUDA is absent), nccl with CUDA.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def wrap_model(module: nn.Module, info: DistInfo) -> nn.Module:
    """``DistributedDataParallel(module)`` in a distributed job, else ``module`` itself.

    Parameters with ``requires_grad=False`` (e.g. the quantizers' clipping maxima in the FP32 stage)
    are ignored by DDP, so no ``find_unused_parameters`` is needed; wrap again after changing them.
    """
    if not info.distributed:
        return module
    device_ids = [info.local_rank] if next(module.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.distributed:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    """Leave the process group (no-op in a single process)."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
