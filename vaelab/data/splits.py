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
    """Examples (N, *shape) as float32 in [0, 1] (or any reals for tabular data), labels (N,) or None.

    Images read from files may be held as their uint8 levels instead (`levels` = 255: a quarter of
    the memory); `split` and `as_values` give them as the model reads them, and training converts
    each batch as it is drawn."""

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
    levels: int | None = None  # examples held as uint8 levels 0..levels, each value level / levels

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def split(self, name: str) -> tuple[Tensor, Tensor | None]:
        """A split's examples as the model reads them (float values) and its labels."""
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; choose train, val or test", "split")
        return self.as_values(getattr(self, name)), getattr(self, f"{name}_labels")

    def as_values(self, x: Tensor) -> Tensor:
        """Examples of these splits (any rows of them) as float values: uint8 levels become level / levels."""
        return x if self.levels is None else x.float().div_(self.levels)

    def is_binary(self) -> bool:
        return bool(((self.train == 0) | (self.train == (self.levels or 1))).all())


def finish(splits: Splits, config: DataConfig, limit: bool = True) -> Splits:
    """What every source's splits go through: a limit (unless the source applied it), contrast
    normalisation, keeping some labels."""
    if config.limit is not None and limit:
        splits = limit_examples(splits, config.limit)
    if config.contrast != "none":
        from .contrast import with_contrast

        normalised = {split: with_contrast(splits.split(split)[0], config.contrast) for split in SPLITS}
        for split, x in normalised.items():
            setattr(splits, split, x)
        splits.levels = None
    return keep_labels(splits, config.keep_labels) if config.keep_labels is not None else splits


def limit_counts(sizes: list[int], n: int) -> list[int]:
    """How many of each split's examples a limit of n keeps: shares in proportion to the splits' sizes,
    at least one of every split that has any, what rounding leaves to the first (training) split."""
    total = sum(sizes)
    if total <= n:
        return list(sizes)
    keep = [min(size, max(1, size * n // total)) if size else 0 for size in sizes]
    while sum(keep) > n:  # the minimum of one each overshot a tiny limit: take from the largest
        keep[keep.index(max(keep))] -= 1
    keep[0] += min(n - sum(keep), sizes[0] - keep[0])
    return keep


def limit_examples(s: Splits, n: int) -> Splits:
    """The first examples of every split, n in all (`limit_counts`), with their labels, files and factors."""
    keep = dict(zip(SPLITS, limit_counts([len(getattr(s, split)) for split in SPLITS], n)))
    if all(keep[split] == len(getattr(s, split)) for split in SPLITS):
        return s
    for split, k in keep.items():
        for name in (split, f"{split}_labels"):
            if getattr(s, name) is not None:
                setattr(s, name, getattr(s, name)[:k])
        for per_split in (s.files, s.factors, s.texts):
            if per_split is not None:
                per_split[split] = per_split[split][:k]
    # a table: its statistics must describe the rows kept, not all rows
    return restandardize(s) if s.standardization is not None else s


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
        x, y = getattr(s, split), getattr(s, f"{split}_labels")
        keep = torch.isin(y, wanted) if y is not None else torch.zeros(len(x), dtype=torch.bool)
        parts[split], parts[f"{split}_labels"] = x[keep], (y[keep] if y is not None else None)
        if files is not None:
            files[split] = [f for f, k in zip(s.files[split], keep.tolist()) if k]
        if factors is not None:
            factors[split] = s.factors[split][keep]
    kept = Splits(**parts, name=s.name, files=files, standardization=s.standardization, factors=factors,
                  factor_names=s.factor_names, label_names=s.label_names, levels=s.levels)
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


VALIDATION_SHARE = 6  # at most a sixth of a training file is held out: MNIST's standard 50,000 / 10,000


def hold_out(images: Tensor, labels: Tensor, val_size: int):
    """(train, train labels, val, val labels): the last examples, in file order, for validation: val_size
    of them, or a sixth of the file when that is fewer (so a small file keeps most of its examples)."""
    cut = len(images) - min(val_size, len(images) // VALIDATION_SHARE)
    return images[:cut], labels[:cut], images[cut:], labels[cut:]
