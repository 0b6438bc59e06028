"""Random draws per example that do not depend on how a batch is split across processes.

In data-parallel training each process computes a contiguous shard (rows start:stop) of a global
batch of `total` rows, and every process holds the same generator. If each process drew noise for
its own rows only, the generators would drift apart and an example's noise would depend on the
number of processes. Instead, inside `batch_shard`, a draw whose leading axis is this process's
rows is made for the whole batch and sliced: every generator advances exactly as in one process
with the whole batch, and every example gets the same noise, so a run's numbers do not depend on
its world size (up to float rounding). The price is drawing world-size times the noise.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
from torch import Tensor

_active: tuple[int, int, int] | None = None  # (start, stop, total) of the rows this process computes


@contextlib.contextmanager
def batch_shard(start: int, stop: int, total: int) -> Iterator[None]:
    """Within the block, per-example draws of a (stop - start)-row batch are rows start:stop of a total-row draw."""
    global _active
    outer, _active = _active, (start, stop, total)
    try:
        yield
    finally:
        _active = outer


def rows_to_draw(rows: int) -> tuple[int, slice | None]:
    """How many rows to draw for a batch of `rows` examples, and which of them are this process's."""
    if _active is None or _active[1] - _active[0] != rows:
        return rows, None  # not inside a shard, or not a per-example draw of the sharded batch
    start, stop, total = _active
    return total, slice(start, stop)


def _rows(draw, shape: tuple[int, ...], generator: torch.Generator | None, device, dtype) -> Tensor:
    total, mine = rows_to_draw(shape[0])
    noise = draw((total, *shape[1:]), generator=generator, device=device, dtype=dtype)
    return noise if mine is None else noise[mine]


def randn_rows(shape: tuple[int, ...], generator: torch.Generator | None, device, dtype) -> Tensor:
    """torch.randn(shape) whose rows (axis 0) are examples."""
    return _rows(torch.randn, shape, generator, device, dtype)


def rand_rows(shape: tuple[int, ...], generator: torch.Generator | None, device, dtype=None) -> Tensor:
    """torch.rand(shape) whose rows (axis 0) are examples."""
    return _rows(torch.rand, shape, generator, device, dtype)


def random_bytes_rows(shape: tuple[int, ...], generator: torch.Generator | None, device) -> Tensor:
    """Uniform random uint8 of `shape` (rows = examples), eight bytes to a 64-bit draw.

    The full int64 range makes every bit uniform; a quarter of the generator calls of float draws.
    """
    total, mine = rows_to_draw(shape[0])
    full = (total, *shape[1:])
    n = math.prod(full)
    words = torch.empty((n + 7) // 8, dtype=torch.int64, device=device)
    words.random_(-2**63, None, generator=generator)  # from=int64 min, to=None: all 64 bits
    noise = words.view(torch.uint8)[:n].view(full)
    return noise if mine is None else noise[mine]
