"""Data-parallel training across processes: torchrun, or `vaelab train --nproc N` (vaelab.train.launch).

Every process holds the whole data set, the same model and the same generator. Each global batch
(--batch-size) is cut into contiguous shards, one per process; DistributedDataParallel averages
the gradients, and the random draws are made for the whole batch and sliced (vaelab.shard). So a
run's numbers do not depend on how many processes train it, up to float rounding, and a checkpoint
written under one world size resumes under any other.
"""
from __future__ import annotations

import contextlib
import datetime
import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from ..errors import ResourceError

TIMEOUT = datetime.timedelta(minutes=30)  # a collective waiting longer than this means a process is gone


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes. The default is one process alone."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes the run folder, logs and draws the progress bar."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def shard(self, n: int) -> tuple[int, int, float]:
        """The contiguous rows start:stop of an n-row batch that this process computes, and their share.

        A process whose share is empty (fewer rows than processes) computes the last row with share 0:
        it must still take part in the step's collectives and draw what the others draw."""
        start, stop = n * self.rank // self.world, n * (self.rank + 1) // self.world
        return (start, stop, (stop - start) / n) if stop > start else (n - 1, n, 0.0)

    def sum(self, t: Tensor) -> Tensor:
        """The element-wise sum of `t` over all processes (in place)."""
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def all_ok(self, ok: bool, device: torch.device) -> bool:
        """Whether every process says ok: a failure in one must stop all, not leave them waiting."""
        if not self.distributed:
            return ok
        flag = torch.tensor([0.0 if ok else 1.0], device=device)
        return float(self.sum(flag)) == 0.0


SINGLE = Group()


def requested() -> bool:
    """Whether this process was started as one of several (torchrun's environment variables)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: torch.device) -> Group:
    """Join the process group torchrun (or `vaelab train --nproc`) described in the environment."""
    if not requested():
        return SINGLE
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError) as e:
        raise ResourceError(f"WORLD_SIZE is set but the distributed environment is incomplete ({e}): "
                          "start with torchrun or vaelab train --nproc N") from None
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=TIMEOUT)
        except (RuntimeError, ValueError) as e:
            raise ResourceError(f"cannot join the {world} training processes ({backend}): "
                              f"{str(e).splitlines()[0]}") from None
    return Group(rank, world, local_rank)


@contextlib.contextmanager
def leave_when_done():
    """Hold the process group (if this process joined one) for the block, then leave it.

    After a block that went well, each process waits for the others before leaving, so that none
    exits while another still works with the group (gloo aborts the process whose peer left). After
    a failure it leaves at once: the others' next collective then fails instead of waiting (up to
    TIMEOUT) for a process that will never take part."""
    try:
        yield
    except BaseException:
        if dist.is_initialized():
            dist.destroy_process_group()
        raise
    if dist.is_initialized():
        # Free what may still hold the group (a DDP wrapper in a reference cycle) while the interpreter
        # is whole: freed during its shutdown instead, gloo's threads can abort the process.
        gc.collect()
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def process_device(device: torch.device, group: Group) -> torch.device:
    """Each process on one GPU (its local rank's); processes on CPU share it."""
    if device.type == "cuda" and group.distributed:
        if group.local_rank >= torch.cuda.device_count():
            raise ResourceError(f"process {group.local_rank} on this machine has no GPU of its own "
                              f"({torch.cuda.device_count()} visible); use at most that many processes")
        torch.cuda.set_device(group.local_rank)
        return torch.device("cuda", group.local_rank)
    return device
