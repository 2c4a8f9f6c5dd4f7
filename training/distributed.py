"""Multi-process training helpers: process-group setup from ``torchrun``'s environment, and samplers.

``torchrun`` (``python -m torch.distributed.run``) sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; ``init_process_group("env://")`` reads them. The backend is NCCL
on CUDA and Gloo on CPU (https://pytorch.org/docs/stable/distributed.html#which-backend-to-use).
Without those variables everything runs as a single process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["DistInfo", "setup_distributed", "cleanup_distributed", "DistributedWeightedSampler", "all_reduce_sum"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: rank, local_rank, world_size, its device, and ``enabled``."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    enabled: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` with ``WORLD_SIZE`` > 1.

    Args:
        device: the device chosen for a single-process run; under DDP on CUDA each process takes
            ``cuda:LOCAL_RANK``.
    Returns:
        ``DistInfo`` (``enabled`` False for a plain single-process run).
    Raises:
        RuntimeError: the process group cannot be initialised (torch's message).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 0, 1, device, False)
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    # one line per process, so a launcher's log shows that every rank took part
    print(f"landmark-train: rank {rank}/{world} (local {local}) joined, backend {backend}, device {device}", flush=True)
    return DistInfo(rank, local, world, device, True)


def cleanup_distributed(info: DistInfo) -> None:
    """Leave the process group (no-op for single-process runs)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(values: Sequence[float], info: DistInfo) -> list[float]:
    """Sum floats over all processes (identity for single-process runs)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.cpu().tolist()


class DistributedWeightedSampler(Sampler[int]):
    """Weighted sampling with replacement, sharded over processes (class balancing under DDP).

    Every process draws the same ``num_samples`` indices from ``torch.multinomial(weights)`` with a
    generator seeded by ``seed + epoch`` and keeps every ``world_size``-th one starting at ``rank``, so
    the shards are disjoint draws of one global sample. Call ``set_epoch`` each epoch (like
    ``DistributedSampler``).
    """

    def __init__(
        self, weights: Sequence[float], num_samples: int, rank: int = 0, world_size: int = 1, seed: int = 0
    ) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        self.total = num_samples - num_samples % world_size if num_samples >= world_size else world_size
        self.rank, self.world, self.seed, self.epoch = rank, world_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        idx = torch.multinomial(self.weights, self.total, replacement=True, generator=g)
        return iter(idx[self.rank :: self.world].tolist())

    def __len__(self) -> int:
        return self.total // self.world
