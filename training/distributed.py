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

__all__ = [
    "DistInfo",
    "setup_distributed",
    "cleanup_distributed",
    "DistributedWeightedSampler",
    "ResumableSampler",
    "all_reduce_sum",
]


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


class ResumableSampler(Sampler[int]):
    """The training sampler of the end-to-end modes: an epoch's order, sharded over processes, resumable mid-epoch.

    Each epoch every process computes the same global order from ``seed + epoch``: a random permutation of the N
    samples, or, with ``weights``, N draws with replacement proportional to them (class-balanced sampling for the
    long tail, ``training.datasets.class_balanced_weights``). The order is cut to a multiple of ``world_size`` and
    process ``rank`` takes every ``world_size``-th index from ``rank`` on (disjoint shards of one global order, as
    ``DistributedSampler``). Only the order's indices are held (8 bytes per sample), never the data.

    Resuming: ``state_dict()`` is ``{"epoch", "position", "seed"}``, ``position`` the samples of this process's shard
    already consumed in the epoch (the training loop sets it with ``set_position`` after each step, and it goes into
    the checkpoint); after ``load_state_dict`` the next ``__iter__`` yields the rest of that epoch's shard, exactly
    the indices an uninterrupted run would have seen next. ``set_epoch`` starts a new epoch at position 0.
    """

    def __init__(
        self,
        num_samples: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        weights: Sequence[float] | None = None,
    ) -> None:
        if num_samples < 1:
            raise ValueError("ResumableSampler needs at least one sample")
        self.n = int(num_samples)
        self.rank, self.world, self.seed = int(rank), int(world_size), int(seed)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and len(self.weights) != self.n:
            raise ValueError(f"{len(self.weights)} weights for {self.n} samples")
        self.total = max(self.world, self.n - self.n % self.world)
        self.epoch = 0
        self.position = 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning (a resumed epoch keeps its position: call ``set_epoch`` only for a new
        one, as ``training.fit`` does)."""
        if int(epoch) != self.epoch:
            self.epoch, self.position = int(epoch), 0

    def set_position(self, position: int) -> None:
        """Samples of this shard consumed so far in the current epoch."""
        self.position = max(0, min(int(position), len(self)))

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Raises ValueError when the state comes from another seed (another run's order)."""
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(f"the checkpoint's sampler seed {state.get('seed')} is not this run's seed {self.seed}")
        self.epoch = int(state["epoch"])
        self.set_position(int(state["position"]))

    def shard(self) -> list[int]:
        """This process's whole order for the current epoch."""
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is not None:
            order = torch.multinomial(self.weights, self.total, replacement=True, generator=g)
        else:
            order = torch.randperm(self.n, generator=g)
            if self.total > self.n:  # fewer samples than processes: repeat to give every process one
                order = order.repeat(self.total // self.n + 1)
            order = order[: self.total]
        return order[self.rank :: self.world].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.shard()[self.position :])

    def __len__(self) -> int:
        return self.total // self.world
