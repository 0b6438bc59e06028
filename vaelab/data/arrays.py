"""Arrays in memory as a dataset: what `vaelab.fit` trains on when given numpy arrays or tensors.

Split rule: the last min(val_size, a tenth) examples, in the order given, are held out for
validation; there is no test split (evaluate on data of your own). A run trained this way records
the source as "arrays" and keeps no copy of it: tools that need its data ask for `--data`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..config import IN_MEMORY, DataConfig
from ..errors import InputError
from ..registry import datasets
from .splits import Splits


@datasets.register(IN_MEMORY)
def in_memory_splits(config: DataConfig) -> Splits:
    """A run trained on arrays kept nothing on disk to reload."""
    raise InputError("this run was trained on in-memory arrays (Python), so there is no data to reload: "
                     "give other data of the same kind ({data})", "data")


def as_examples(x: Any) -> Tensor:
    """A numpy array or tensor of examples -> float32 (N, *shape), refusing what cannot be trained on."""
    if not isinstance(x, (np.ndarray, Tensor)):
        raise InputError(f"expected a numpy array or tensor of examples, got {type(x).__name__}", "data")
    x = torch.as_tensor(x)
    if x.dim() < 2 or len(x) == 0:
        raise InputError(f"expected examples as (N, C, H, W) images or (N, D) rows, got shape {tuple(x.shape)}",
                         "data")
    x = x.float()
    if not bool(torch.isfinite(x).all()):
        raise InputError("the examples hold NaN or infinite values", "data")
    return x


def as_labels(y: Any, n: int) -> Tensor:
    y = torch.as_tensor(y)
    if y.shape != (n,) or y.is_floating_point() and not bool((y == y.round()).all()):
        raise InputError(f"expected {n} integer labels, got an array of shape {tuple(y.shape)}", "labels")
    return y.long()


def from_dataset(dataset: Any) -> tuple[Tensor, Tensor | None]:
    """Every item of a torch Dataset (an example, or an (example, label) pair) as (examples, labels)."""
    if not isinstance(dataset, torch.utils.data.Dataset) or not hasattr(dataset, "__len__"):
        raise InputError("expected a numpy array or tensor of examples, a torch Dataset (with a length) or a data "
                         f"spec, got {type(dataset).__name__}", "data")
    items = [dataset[i] for i in range(len(dataset))]
    if not items:
        raise InputError("the dataset is empty", "data")
    if isinstance(items[0], (tuple, list)):
        return torch.stack([torch.as_tensor(x) for x, *_ in items]), torch.as_tensor([int(y) for _, y, *_ in items])
    return torch.stack([torch.as_tensor(x) for x in items]), None


def splits_from_arrays(x: Any, y: Any = None, val_size: int = 10_000) -> Splits:
    """(N, *shape) examples and optional (N,) labels -> training and validation splits (no test split)."""
    x = as_examples(x)
    y = as_labels(y, len(x)) if y is not None else None
    n_val = min(val_size, len(x) // 10)
    cut = len(x) - n_val
    empty = x[:0]
    return Splits(x[:cut], x[cut:], empty, *((y[:cut], y[cut:], y[:0]) if y is not None else ()), name=IN_MEMORY)
