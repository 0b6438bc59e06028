"""Datasets as tensors in memory: train / validation / test splits of one event shape.

Indexing one tensor per batch is far cheaper than a DataLoader's per-item fetch and collate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..config import DataConfig
from ..errors import VaelabError
from ..registry import datasets
from ..shard import rand_rows, random_bytes_rows
from .idx import find_idx_files, read_idx

TEST_BINARIZATION_SEED = 0  # the fixed binarized test set every report uses


@dataclass
class Splits:
    """Examples (N, *shape) as float32 in [0, 1] (or any reals for tabular data), labels (N,) or None."""

    train: Tensor
    val: Tensor
    test: Tensor
    train_labels: Tensor | None = None
    val_labels: Tensor | None = None
    test_labels: Tensor | None = None
    name: str = "tensors"
    files: dict[str, list[str]] | None = None  # {"train": [...], ...}: each example's file, where it has one
    standardization: dict | None = None  # tables: the training split's column means and stds, to save with a run
    factors: dict[str, Tensor] | None = None  # {"train": (N, F) int64, ...}: known generative factors' classes
    factor_names: tuple[str, ...] | None = None  # the F factors' names, e.g. ("shape", "scale", ...)
    texts: dict[str, list[str]] | None = None  # molecules: each example's canonical SMILES, per split
    vocabulary: str | None = None  # molecules: the token vocabulary as JSON, to save with a run

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def split(self, name: str) -> tuple[Tensor, Tensor | None]:
        if name not in ("train", "val", "test"):
            raise VaelabError(f"unknown split {name!r}; choose train, val or test")
        return getattr(self, name), getattr(self, f"{name}_labels")

    def is_binary(self) -> bool:
        return bool(((self.train == 0) | (self.train == 1)).all())


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """'mnist' -> ('mnist', None); 'idx:DIR' -> ('idx', 'DIR')."""
    name, _, path = spec.partition(":")
    datasets.get(name)
    return name, (path or None)


def load_splits(config: DataConfig) -> Splits:
    splits = datasets.get(config.name)(config)
    if config.contrast != "none":
        from .contrast import with_contrast

        for split in ("train", "val", "test"):
            setattr(splits, split, with_contrast(getattr(splits, split), config.contrast))
    return keep_classes(splits, config.classes) if config.classes is not None else splits


def keep_classes(s: Splits, classes: tuple[int, ...]) -> Splits:
    """Only the examples whose label is one of `classes`, in every split (labels keep their values)."""
    if s.train_labels is None:
        raise VaelabError(f"--classes needs labelled data; the {s.name} data has no labels")
    wanted = torch.tensor(classes)
    missing = [c for c in classes if not (s.train_labels == c).any()]
    if missing:
        raise VaelabError(f"no training example has label {missing[0]} (labels are "
                          f"{int(s.train_labels.min())}..{int(s.train_labels.max())})")
    parts, files = {}, ({} if s.files is not None else None)
    factors = {} if s.factors is not None else None
    for split in ("train", "val", "test"):
        x, y = s.split(split)
        keep = torch.isin(y, wanted) if y is not None else torch.zeros(len(x), dtype=torch.bool)
        parts[split], parts[f"{split}_labels"] = x[keep], (y[keep] if y is not None else None)
        if files is not None:
            files[split] = [f for f, k in zip(s.files[split], keep.tolist()) if k]
        if factors is not None:
            factors[split] = s.factors[split][keep]
    kept = Splits(**parts, name=s.name, files=files, standardization=s.standardization, factors=factors,
                  factor_names=s.factor_names)
    if s.standardization is not None:  # a table: its statistics must describe the rows kept, not all rows
        from .table import restandardize

        kept = restandardize(kept)
    return kept


def _hold_out(images: Tensor, labels: Tensor, val_size: int, name: str):
    if val_size >= len(images):
        raise VaelabError(f"{name}: validation size {val_size} leaves no training examples (pool of {len(images)})")
    cut = len(images) - val_size  # the last val_size examples, in file order
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


@datasets.register("mnist")
def load_mnist_splits(config: DataConfig) -> Splits:
    """MNIST's 70k images: a 60k training pool (the last 10k of it = the usual validation set), 10k test."""
    from .mnist import load_mnist

    t, denominator = load_mnist()
    pool = torch.cat([t["train_images"], t["val_images"]])
    pool_labels = torch.cat([t["train_labels"], t["val_labels"]])
    tr, trl, va, val = _hold_out(pool, pool_labels, config.val_size, "mnist")
    scale = 1.0 / denominator
    return Splits(tr.float() * scale, va.float() * scale, t["test_images"].float() * scale,
                  trl, val, t["test_labels"], name="mnist")


@datasets.register("idx")
def load_idx_splits(config: DataConfig) -> Splits:
    """A folder with the four standard IDX files (MNIST, Fashion-MNIST, KMNIST...), gzipped or not."""
    files = find_idx_files(config.path)
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim not in (3, 4) or labels.ndim != 1 or len(images) != len(labels):
            raise VaelabError(f"{files[split + '_images']}: expected (N, H, W) images and N labels, "
                              f"got {images.shape} and {labels.shape}")
        if images.dtype != np.uint8:
            raise VaelabError(f"{files[split + '_images']}: expected uint8 pixels, got {images.dtype}")
    as_images = lambda a: torch.from_numpy(a.copy()).float().div_(255.0).reshape(len(a), -1, *a.shape[-2:])  # noqa: E731
    tr, trl, va, val = _hold_out(as_images(arrays["train_images"]),
                                 torch.from_numpy(arrays["train_labels"].astype(np.int64)), config.val_size, config.path)
    test = as_images(arrays["test_images"])
    if test.shape[1:] != tr.shape[1:]:
        raise VaelabError(f"{config.path}: train images are {tuple(tr.shape[1:])} but test images {tuple(test.shape[1:])}")
    return Splits(tr, va, test, trl, val, torch.from_numpy(arrays["test_labels"].astype(np.int64)), name="idx")


def presented(x: Tensor, binarization: str, generator: torch.Generator | None = None) -> Tensor:
    """What the likelihood sees: with dynamic binarization, a fresh draw when training (a generator is
    given) and the fixed draw for validation and reports."""
    if binarization != "dynamic":
        return x
    return binarize(x, generator) if generator is not None else fixed_binarization(x)


@datasets.register("tensors")
def in_memory_splits(config: DataConfig) -> Splits:
    """Runs trained through the Python API on tensors record no file to reload."""
    raise VaelabError("this run was trained on in-memory tensors (Python API), so there is no data to reload; "
                      "evaluate it in Python with vaelab.metrics.likelihood.evaluate(model, config, splits)")


def binarize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One Bernoulli draw per pixel with the grey level as its probability.

    u < p with u ~ U[0, 1) on float32's 2^-24 grid: exact to float32's own resolution of p, and
    about twice as fast on CPU as torch.bernoulli.
    """
    u = rand_rows(tuple(x.shape), generator, x.device, x.dtype)
    return (u < x).to(x.dtype)


def byte_levels(x: Tensor) -> Tensor | None:
    """x as uint8 numerators k of k/256 when every value lies on that grid (MNIST's cache does), else None."""
    k = x * 256
    if x.is_floating_point() and len(x) and bool(((k == k.round()) & (k >= 0) & (k <= 255)).all()):
        return k.to(torch.uint8)
    return None


def binarize_levels(levels: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One Bernoulli draw per pixel with probability k/256 exactly, for uint8 levels k.

    A pixel is on when a uniform random byte is below k. The bytes come eight to a 64-bit draw
    (the full int64 range, so every bit is uniform), a quarter of the generator calls of
    `binarize`: on CPU the random numbers were the dearest part of a small model's step.
    """
    noise = random_bytes_rows(tuple(levels.shape), generator, levels.device)
    return (noise < levels).to(torch.float32)


def fixed_binarization(x: Tensor, seed: int = TEST_BINARIZATION_SEED) -> Tensor:
    """The same binarized copy every time: the set a reported likelihood refers to."""
    return binarize(x.cpu(), torch.Generator(device="cpu").manual_seed(seed)).to(x.device)


from . import folder as _folder  # noqa: E402,F401  registers "folder"; last, as it imports Splits from here
from . import table as _table  # noqa: E402,F401  registers "csv"
from . import factors as _factors  # noqa: E402,F401  registers "dsprites"
from . import molecules as _molecules  # noqa: E402,F401  registers "moses" and "smiles"
