"""Latent export and nearest-neighbour search (scikit-learn's index, not a hand-written loop).

Codes come from `Model.encode_all`; these functions take them as arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from ..errors import InputError
from ..io import atomic_path


def save_latents(path: str | Path, mu: Tensor, logvar: Tensor, labels: Tensor | None, **extra: np.ndarray) -> Path:
    """An .npz of plain arrays (mu, logvar, labels when known, and any `extra`); readable with
    numpy.load(path) and allow_pickle left False, since it holds no objects."""
    path = Path(path)
    arrays = {"mu": mu.numpy().astype(np.float32), "logvar": logvar.numpy().astype(np.float32), **extra}
    if labels is not None:
        arrays["labels"] = labels.numpy().astype(np.int64)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a bare temporary name
            np.savez(f, **arrays)
    return path


def nearest_neighbors(index: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean k nearest rows of `index` for each query row: (distances, indices), each (Q, k)."""
    from sklearn.neighbors import NearestNeighbors

    if not 1 <= k <= len(index):
        raise InputError(f"k must be between 1 and the index size {len(index)}, got {k}")
    return NearestNeighbors(n_neighbors=k).fit(index).kneighbors(queries)


def knn_accuracy(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                 k: int = 5) -> dict[str, float]:
    """k-NN label accuracy of the test rows against the training rows, and the query seconds per test row."""
    import time

    from sklearn.neighbors import KNeighborsClassifier

    classifier = KNeighborsClassifier(n_neighbors=k).fit(train, train_labels)
    start = time.perf_counter()
    predicted = classifier.predict(test)
    seconds = time.perf_counter() - start
    return {"accuracy": float((predicted == test_labels).mean()), "query_ms_per_example": 1000 * seconds / len(test),
            "dims": int(train.shape[1]), "k": k}
