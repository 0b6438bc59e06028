"""Unsupervised Disentanglement Ranking (UDR, Duan et al. 2020): which of several runs is the most
disentangled, without factor labels.

Why it can work: a disentangled model gives each factor its own dimension, so two such models
trained with different seeds agree dimension for dimension, up to order, sign and a monotone
rescaling; entangled models agree only up to rotations that differ from seed to seed. So for two
runs, R is the matrix of absolute Spearman rank correlations between their informative dimensions'
posterior means over the same inputs, and

    UDR(i, j) = (sum_b max_a R[a, b]^2 / sum_a R[a, b] + sum_a max_b R[a, b]^2 / sum_b R[a, b]) / (d_i + d_j)

(Duan et al.'s Spearman variant): 1 when R is a permutation matrix, lower when a dimension of one run
spreads over several of the other. On N examples even independent dimensions correlate by chance
(about 1/sqrt(N) each), so two identical codes of 5 dimensions score about 0.95 at N = 4000, not 1.
A run's score is the median over its pairs with the others.

Informative dimensions: those whose KL to the prior, averaged over the inputs, exceeds 0.01 nats
(Duan et al.'s threshold). The rest are left out before correlating, not weighted afterwards: an
unused dimension's mean can still wobble in step with a factor, and rank correlation ignores scale.
An autoencoder has no KL (its code is a point); its active units (vaelab.active_units) stand in.

What it rewards is agreement, not completeness: seeds that all drop the same factors agree well.
On dSprites at the README's budget the runs it ranked first kept only x and y (the factors most
seeds find) and scored below the median MIG (README, "Choosing among seeds without labels").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..active_units import ACTIVE_UNIT_THRESHOLD
from ..distributions import DiagonalGaussian
from ..errors import InputError
from ..model import check_seed
from ..progress import progress_bar
from ..run import Run
from .disentanglement import example_subset

KL_THRESHOLD = 0.01  # nats, mean over the inputs


def informative_dimensions(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """(L,) bools: the dimensions a model uses. mu, logvar: (N, L) posterior parameters."""
    if not np.isfinite(logvar).all():  # an autoencoder: a dimension is used when its code varies
        return mu.var(0) > ACTIVE_UNIT_THRESHOLD
    kl = DiagonalGaussian(torch.from_numpy(mu), torch.from_numpy(logvar)).kl_per_dim()
    return (kl.mean(0) > KL_THRESHOLD).numpy()


def rank_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Spearman correlation| between every column of a (N, da) and every column of b (N, db): (da, db),
    the Pearson correlation of their ranks (ties share the mean rank). A constant column correlates
    with nothing: 0."""
    from scipy.stats import rankdata  # here, not at the top: scipy.stats would add a second to every command's start

    def standard_ranks(codes: np.ndarray) -> np.ndarray:
        r = rankdata(codes, axis=0)
        r -= r.mean(0)
        norm = np.sqrt((r**2).sum(0))
        return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)

    return np.abs(standard_ranks(a).T @ standard_ranks(b))


def pair_score(a: np.ndarray, b: np.ndarray) -> float:
    """UDR of two codes of the same N inputs, each already cut to its informative dimensions.
    A run without informative dimensions agrees with nothing: 0."""
    if a.shape[1] == 0 or b.shape[1] == 0:
        return 0.0
    r = rank_correlations(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):  # an all-zero row or column contributes 0
        columns = np.nan_to_num(r.max(0) ** 2 / r.sum(0))
        rows = np.nan_to_num(r.max(1) ** 2 / r.sum(1))
    return float((columns.sum() + rows.sum()) / (a.shape[1] + b.shape[1]))


def udr_scores(codes: list[np.ndarray]) -> dict:
    """codes: one (N, d_i) array of informative posterior means per run, rows the same inputs.
    Returns the pairwise matrix (diagonal None) and each run's median over its pairs."""
    p = len(codes)
    pairs = np.full((p, p), np.nan)
    for i in range(p):
        for j in range(i + 1, p):
            pairs[i, j] = pairs[j, i] = pair_score(codes[i], codes[j])
    return {"udr": [float(np.nanmedian(np.delete(pairs[i], i))) for i in range(p)],
            "pairwise": [[None if i == j else float(pairs[i, j]) for j in range(p)] for i in range(p)]}


def udr_from_posteriors(posteriors: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """UDR of each run from its (mu, logvar) posterior parameters, (N, L_i) each, rows the same inputs."""
    used = [informative_dimensions(mu, logvar) for mu, logvar in posteriors]
    scores = udr_scores([mu[:, u] for (mu, _), u in zip(posteriors, used)])
    return {"n": len(posteriors[0][0]), "informative_dimensions": [[int(d) for d in np.flatnonzero(u)] for u in used],
            **scores}


def udr_report(models: list, x: torch.Tensor, progress: bool = False) -> dict:
    """UDR of each model (two or more, trained on the same kind of data) from their codes of the inputs x.
    `progress`: count the models encoded, the long part (a bar, or a line now and then in a log)."""
    posteriors = []
    with progress_bar(len(models), f"udr: encoding {len(x)} examples", progress, unit="run", lines=True) as bar:
        for model in models:
            posteriors.append(tuple(t.numpy() for t in model.encode_all(x)))
            bar.update()
    return udr_from_posteriors(posteriors)


def udr_of_runs(run_dirs: list, split: str = "test", n: int | None = 10_000, seed: int = 0,
                data: str | None = None, progress: bool = False) -> tuple[dict, list[str]]:
    """UDR of two or more run folders trained on the same data, on up to n examples of a split (the
    examples `disentanglement_report` takes for the same n and seed) of that data, or of `data` (a
    spec). Also warnings for the caller to show: runs that share a seed share their initialisation
    and data order, and agree more."""
    if len(run_dirs) < 2:
        raise InputError(f"UDR compares runs with each other: give at least two run folders, got {len(run_dirs)}")
    if len({Path(r).resolve() for r in run_dirs}) < len(run_dirs):
        raise InputError("a run folder is given twice: it would agree with itself")
    if n is not None and n < 2:
        raise InputError(f"must be at least 2, got {n}", "n")
    check_seed(seed)
    runs = [Run.open(r) for r in run_dirs]
    for run in runs[1:]:
        if run.config.data != runs[0].config.data:
            raise InputError(f"{run.path} was trained on other data than {runs[0].path}; UDR compares runs on the "
                             "same data")
    warnings, seeds = [], {}
    for run in runs:
        seed_of_run = run.config.train.seed
        if seed_of_run in seeds:
            warnings.append(f"{seeds[seed_of_run]} and {run.path} were both trained with seed {seed_of_run}; UDR "
                            "assumes independent seeds, and runs that share one score higher")
        seeds.setdefault(seed_of_run, run.path)
    x, _ = runs[0].data(data).split(split)
    keep = example_subset(len(x), n, seed)
    if keep is not None:
        x = x[torch.from_numpy(keep)]
    report = {"runs": [str(Path(r)) for r in run_dirs], "split": split,
              **udr_report([r.model() for r in runs], x, progress)}
    return report, warnings
