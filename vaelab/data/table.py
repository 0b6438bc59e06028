"""A CSV table of numbers as a dataset (`--data csv:FILE`), standardised with its training split's statistics.

The first row names the columns. Every other column must hold numbers: a non-numeric column is
refused, naming it, unless `--ignore` drops it; `--label-column` keeps one column aside as the
labels (integers, or text mapped to 0..C-1 in sorted order, kept as `Splits.label_names` so that
a run numbers another file's labels the same way) instead of as a feature.

Split rule: the rows in a fixed pseudo-random order (seed 0, so the same file always splits the
same way): the first 20% are the test split, then min(val_size, 10% of the rest) validation,
the rest training. Features are standardised with the training rows' mean and standard deviation
(a constant column keeps its scale), and those statistics travel with the splits
(`Splits.standardization`) so that a run can save them and apply them to new rows.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import InputError, ResourceError
from ..registry import datasets
from .splits import SPLITS, Splits, label_order
from .standardize import standardization, standardize

SPLIT_SEED = 0
TEST_SHARE = 0.2


def read_table(path: str | Path, ignore: tuple[str, ...] = (), label_column: str | None = None,
               label_names: list[str] | None = None, label_optional: bool = False,
               ) -> tuple[list[str], np.ndarray, np.ndarray | None, list[str] | None]:
    """(feature names, float64 values (N, D), labels (N,) or None, label names or None).

    Text labels are numbered in sorted order after the given `label_names` (a run's). With
    `label_optional`, a file without the label column is read as unlabelled."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ResourceError(f"CSV file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ResourceError(f"{path}: not a readable CSV file ({e})") from None
    if len(rows) < 2:
        raise ResourceError(f"{path}: no data rows (a header row of column names, then one row per example)")
    header = [name.strip() for name in rows[0]]
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ResourceError(f"{path}, line {i}: {len(row)} values for {len(header)} columns")
    if label_optional and label_column not in header:
        label_column = None
    for name in (*ignore, *([label_column] if label_column else [])):
        if name not in header:
            raise InputError(f"{path}: no column named {name!r} (columns: {', '.join(header[:10])}"
                              f"{', ...' if len(header) > 10 else ''})")
    columns = {name: [row[j].strip() for row in rows[1:]] for j, name in enumerate(header)}
    labels, label_names = _labels(columns[label_column], label_names) if label_column else (None, None)
    features = [name for name in header if name not in ignore and name != label_column]
    if not features:
        raise InputError(f"{path}: no feature columns left", "ignore")
    values, bad = [], []
    for name in features:
        try:
            column = [float(v) for v in columns[name]]
        except ValueError:
            bad.append(name)
            continue
        if not all(math.isfinite(v) for v in column):
            raise ResourceError(f"{path}: column {name!r} has missing or infinite values")
        values.append(column)
    if bad:
        raise ResourceError(f"{path}: non-numeric column(s) {', '.join(repr(b) for b in bad)}; drop them with "
                          f"{{ignore}} {','.join(bad)}" + ("" if label_column else " or use one as {label_column}"))
    return features, np.asarray(values, dtype=np.float64).T, labels, label_names


def _labels(cells: list[str], known: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    try:
        return np.asarray([int(c) for c in cells], dtype=np.int64), None
    except ValueError:
        names = label_order(cells, known)
        lookup = {name: i for i, name in enumerate(names)}
        return np.asarray([lookup[c] for c in cells], dtype=np.int64), names


def split_rows(n: int, val_size: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = int(round(TEST_SHARE * n))
    rest = order[n_test:]
    n_val = min(val_size, len(rest) // 10)
    return {"test": np.sort(order[:n_test]), "val": np.sort(rest[len(rest) - n_val:]),
            "train": np.sort(rest[:len(rest) - n_val])}


@datasets.register("csv")
def load_csv_splits(config: DataConfig) -> Splits:
    features, values, labels, names = read_table(config.path, config.ignore or (), config.label_column)
    parts = split_rows(len(values), config.val_size)
    if len(parts["train"]) == 0:
        raise ResourceError(f"{config.path}: {len(values)} rows leave no training rows")
    stats = standardization(values[parts["train"]], features)
    tensors = {s: standardize(values[parts[s]], stats) for s in SPLITS}
    targets = {f"{s}_labels": (torch.from_numpy(labels[parts[s]]) if labels is not None else None)
               for s in SPLITS}
    return Splits(**tensors, **targets, name="csv", standardization=stats,
                  label_names=tuple(names) if names is not None else None)
