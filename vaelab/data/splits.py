"""Datasets as tensors in memory: train / validation / test splits of one event shape.

Indexing one tensor per batch is far cheaper than a DataLoader's per-item fetch and collate.
The sources (one module each) make `Splits`; vaelab.data.load picks one by name.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import IN_MEMORY, DataConfig
from ..errors import InputError
from .standardize import restandardize

SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """Examples (N, *shape) as float32 in [0, 1] (or any reals for tabular data), labels (N,) or None."""

    train: Tensor
    val: Tensor
    test: Tensor
    train_labels: Tensor | None = None
    val_labels: Tensor | None = None
    test_labels: Tensor | None = None
    name: str = IN_MEMORY
    files: dict[str, list[str]] | None = None  # {"train": [...], ...}: each example's file, where it has one
    standardization: dict | None = None  # tables: the training split's column means and stds, to save with a run
    label_names: tuple[str, ...] | None = None  # text labels or class folders: label i is label_names[i]
    factors: dict[str, Tensor] | None = None  # {"train": (N, F) int64, ...}: known generative factors' classes
    factor_names: tuple[str, ...] | None = None  # the F factors' names, e.g. ("shape", "scale", ...)
    texts: dict[str, list[str]] | None = None  # molecules: each example's canonical SMILES, per split
    vocabulary: str | None = None  # molecules: the token vocabulary as JSON, to save with a run
    vocab_size: int | None = None  # molecules: how many token ids the vocabulary has, specials included

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def split(self, name: str) -> tuple[Tensor, Tensor | None]:
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; choose train, val or test", "split")
        return getattr(self, name), getattr(self, f"{name}_labels")

    def is_binary(self) -> bool:
        return bool(((self.train == 0) | (self.train == 1)).all())


def finish(splits: Splits, config: DataConfig) -> Splits:
    """What every source's splits go through: contrast normalisation, keeping some labels."""
    if config.contrast != "none":
        from .contrast import with_contrast

        for split in SPLITS:
            setattr(splits, split, with_contrast(getattr(splits, split), config.contrast))
    return keep_labels(splits, config.keep_labels) if config.keep_labels is not None else splits


def keep_labels(s: Splits, labels: tuple[int, ...]) -> Splits:
    """Only the examples whose label is one of `labels`, in every split (labels keep their values)."""
    if s.train_labels is None:
        raise InputError(f"keeping labels needs labelled data; the {s.name} data has no labels", "keep_labels")
    wanted = torch.tensor(labels)
    missing = [c for c in labels if not (s.train_labels == c).any()]
    if missing:
        raise InputError(f"no training example has label {missing[0]} (labels are "
                         f"{int(s.train_labels.min())}..{int(s.train_labels.max())})", "keep_labels")
    parts, files = {}, ({} if s.files is not None else None)
    factors = {} if s.factors is not None else None
    for split in SPLITS:
        x, y = s.split(split)
        keep = torch.isin(y, wanted) if y is not None else torch.zeros(len(x), dtype=torch.bool)
        parts[split], parts[f"{split}_labels"] = x[keep], (y[keep] if y is not None else None)
        if files is not None:
            files[split] = [f for f, k in zip(s.files[split], keep.tolist()) if k]
        if factors is not None:
            factors[split] = s.factors[split][keep]
    kept = Splits(**parts, name=s.name, files=files, standardization=s.standardization, factors=factors,
                  factor_names=s.factor_names, label_names=s.label_names)
    # a table: its statistics must describe the rows kept, not all rows
    return restandardize(kept) if s.standardization is not None else kept


def label_order(found: list[str], known: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Names of labels -> label numbers: the `known` names (a run's) keep theirs, the others follow in
    sorted order, so a class the run never saw gets a number of its own."""
    known = list(known or [])
    return known + sorted(set(found) - set(known))


def relabel(s: Splits, known: list[str] | tuple[str, ...]) -> Splits:
    """Renumber named labels the way a run numbered them (its saved `label_names`)."""
    if s.label_names is None or list(s.label_names) == list(known):
        return s
    order = label_order(list(s.label_names), known)
    lookup = torch.tensor([order.index(name) for name in s.label_names])
    for split in SPLITS:
        y = getattr(s, f"{split}_labels")
        if y is not None:
            setattr(s, f"{split}_labels", lookup[y])
    s.label_names = tuple(order)
    return s


def hold_out(images: Tensor, labels: Tensor, val_size: int, name: str):
    """(train, train labels, val, val labels): the last val_size examples, in file order, for validation."""
    if val_size >= len(images):
        raise InputError(f"{name}: validation size {val_size} leaves no training examples (pool of {len(images)})",
                         "val_size")
    cut = len(images) - val_size
    return images[:cut], labels[:cut], images[cut:], labels[cut:]
