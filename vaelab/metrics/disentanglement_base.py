"""What the disentanglement metrics share: checking codes against factors, binning, mutual
information, and scikit-learn's thread pools (`disentanglement` and `disentanglement_suite` build on it)."""
from __future__ import annotations

import numpy as np

from ..errors import InputError

BINS = 20
PRUNE_STD = 0.05  # a code dimension whose std over the data is below this carries nothing (collapsed)


def check_codes(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (N, L) as float64 and factor classes (N, F) as int64, or an InputError saying what is wrong."""
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise InputError(f"codes must be (N, L) and factors (N, F) for the same N; "
                         f"got {codes.shape} and {factors.shape}")
    if len(codes) < 2:
        raise InputError("need at least two examples to measure disentanglement")
    if not np.isfinite(codes).all():
        raise InputError("codes contain NaN or infinite values")
    return codes, factors.astype(np.int64)


def discretize(codes: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each code dimension cut into `bins` equal-width bins over its own range: (N, L) ints."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, i], bins)
        out[:, i] = np.digitize(codes[:, i], edges[1:-1])
    return out


def mutual_information(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> np.ndarray:
    """(L, F) mutual information in nats between each discretised code dimension and each factor."""
    from sklearn.metrics import mutual_info_score

    codes, factors = check_codes(codes, factors)
    binned = discretize(codes, bins)
    return np.array([[mutual_info_score(factors[:, j], binned[:, i]) for j in range(factors.shape[1])]
                     for i in range(codes.shape[1])])


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """(F,) entropy in nats of each factor's empirical distribution."""
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(f, f) for f in np.asarray(factors).T])


def sklearn_threads():
    """A context in which scikit-learn's thread pools (OpenMP, BLAS) use one thread. Its models here
    are small (a few features, thousands of examples; boosting builds thousands of tiny trees), so
    threads buy little, while their barriers cost much on a busy machine: with two threads on two
    shared cores a 40-class boosted-trees fit ran fifty times slower than with one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)
