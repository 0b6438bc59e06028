"""Standardisation of table columns: the training rows' mean and standard deviation, saved with a run.

The statistics travel with the splits (`Splits.standardization`) so that a run can save them
and apply them to new rows; a constant column keeps its scale.
"""
from __future__ import annotations

import numpy as np
import torch


def standardization(train: np.ndarray, features: list[str]) -> dict:
    std = train.std(0)
    return {"columns": features, "mean": train.mean(0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}


def standardize(values: np.ndarray, stats: dict) -> torch.Tensor:
    return torch.from_numpy((values - np.asarray(stats["mean"])) / np.asarray(stats["std"])).float()


def restandardize(s, stats: dict | None = None):
    """Standardise `Splits` anew: with `stats` (a run's saved ones), else with the current training
    rows' own (e.g. after keeping only the normal class)."""
    old = s.standardization
    mean, std = torch.tensor(old["mean"]), torch.tensor(old["std"])
    raw = {split: getattr(s, split).double() * std + mean for split in ("train", "val", "test")}
    stats = stats or standardization(raw["train"].numpy(), old["columns"])
    for split, values in raw.items():
        setattr(s, split, standardize(values.numpy(), stats))
    s.standardization = stats
    return s
