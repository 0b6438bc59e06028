"""Datasets with known generative factors: `--data dsprites` (rendered) or `--data dsprites:FILE.npz` (the original).

A random subset of the factor combinations (`--limit`, default 100,000 of 737,280, drawn with a
fixed seed so every command sees the same one) is split into test (a tenth), validation
(`--val-size`, at most a tenth) and training (the rest). Every split carries its factor classes;
the labels are the shape.
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import DataConfig
from ..registry import datasets
from . import dsprites
from .splits import Splits

DEFAULT_LIMIT = 100_000  # all 737,280 as float32 would take 12 GB
SUBSET_SEED = 0


@datasets.register("dsprites")
def load_dsprites_splits(config: DataConfig) -> Splits:
    limit = config.limit or DEFAULT_LIMIT
    if config.path:
        images, classes = dsprites.load_npz(config.path)
        keep = np.sort(np.random.default_rng(SUBSET_SEED).choice(len(images), min(limit, len(images)), replace=False))
        images, classes = images[keep], classes[keep]
    else:
        classes = dsprites.sample_factor_classes(min(limit, dsprites.FULL_SIZE), seed=SUBSET_SEED)
        images = dsprites.render(classes)
    n = len(images)
    n_test = max(1, n // 10)
    n_val = min(config.val_size, n // 10)
    cut = {"train": (0, n - n_test - n_val), "val": (n - n_test - n_val, n - n_test), "test": (n - n_test, n)}
    x = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 64, 64) uint8
    c = torch.from_numpy(classes)
    parts, factors = {}, {}
    for split, (a, b) in cut.items():
        parts[split] = x[a:b].float()
        parts[f"{split}_labels"] = c[a:b, 0].clone()
        factors[split] = c[a:b].clone()
    return Splits(**parts, name="dsprites", factors=factors, factor_names=dsprites.FACTORS)
