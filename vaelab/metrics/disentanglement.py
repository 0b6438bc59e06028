"""Disentanglement of a code with respect to known factors: MIG, the FactorVAE score, DCI.

Each metric takes codes (N, L) (a VAE's posterior means) and factor classes (N, F) of the same
examples, so it applies to any representation; `disentanglement_report` encodes a split first.
The definitions follow the papers and the choices of Locatello et al. 2019's study, named where
they matter:

* MIG (Chen et al. 2018): for each factor, the gap between the two largest mutual informations
  with a code dimension, over the factor's entropy. Two estimators of those mutual informations:
  `mig` cuts posterior means into 20 equal-width bins (Locatello et al.'s choice, which reads a
  code as its means alone); `mig_posterior` uses the encoder's Gaussian posteriors, as Chen et al.
  do: entropies of mixtures of q(z_j|x), estimated by sampling them. They differ most where a
  dimension's mean varies a little under a wide posterior (binned: informative; posterior: not).
* FactorVAE score (Kim & Mnih 2018): fix one factor, take a batch of 64 examples sharing its
  value, find the code dimension (scaled by its spread over all the data; collapsed dimensions
  left out) whose variance in the batch is smallest; a majority-vote classifier from that
  dimension to the factor, trained on 10,000 votes and scored on 5,000 fresh ones. The batches
  come from the examples given (all other factors as they fall), not from re-rendering.
* DCI (Eastwood & Williams 2018): one classifier per factor from the code (a scikit-learn random
  forest, one of the two regressors of the DCI paper; Locatello et al. use gradient-boosted trees,
  far slower for a 40-class factor); the importance matrix R (L x F) from their impurity-based
  feature importances; disentanglement = 1 - entropy of each code's row (base F), weighted by the
  row's share of R; completeness = 1 - entropy of each factor's column (base L), averaged;
  informativeness = the classifiers' held-out accuracy, averaged.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..errors import InputError

BINS = 20
VOTE_BATCH = 64
PRUNE_STD = 0.05  # a code dimension whose std over the data is below this carries nothing (collapsed)


def _check(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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

    codes, factors = _check(codes, factors)
    binned = discretize(codes, bins)
    return np.array([[mutual_info_score(factors[:, j], binned[:, i]) for j in range(factors.shape[1])]
                     for i in range(codes.shape[1])])


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """(F,) entropy in nats of each factor's empirical distribution."""
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(f, f) for f in np.asarray(factors).T])


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> dict:
    """MIG from posterior means cut into `bins` equal-width bins (Locatello et al. 2019's estimator)."""
    return _gap(mutual_information(codes, factors, bins), factors)


def _gap(mi: np.ndarray, factors: np.ndarray) -> dict:
    """For each factor, (largest - second largest MI with a code dimension) / the factor's entropy."""
    entropy = factor_entropies(factors)
    if mi.shape[0] < 2:
        raise InputError("MIG needs a code of at least two dimensions")
    top = np.sort(mi, axis=0)[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(entropy > 0, (top[0] - top[1]) / entropy, 0.0)
    return {"mig": float(gap.mean()), "per_factor": gap.tolist(), "mutual_information": mi.tolist(),
            "factor_entropy": entropy.tolist()}


def _aggregate_entropy(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(L,) entropy in nats of each dimension of the aggregate posterior q(z_j) = mean_n q(z_j | x_n).

    One z is drawn from each example's posterior, which is a draw from the mixture, so the mean of
    -log q(z_j), the mixture's density taken over all N components (log-mean-exp), is an unbiased
    estimate of its entropy."""
    n = len(mu)
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    total = torch.zeros(mu.shape[1], dtype=mu.dtype)
    chunk = max(1, 4_000_000 // mu.numel())  # (chunk, N, L) log-densities at a time: about 32 MB
    for i in range(0, n, chunk):
        d = (z[i:i + chunk, None, :] - mu[None]) / std[None]
        log_q = -0.5 * (d * d + math.log(2 * math.pi)) - 0.5 * logvar[None]
        total -= (torch.logsumexp(log_q, 1) - math.log(n)).sum(0)
    return total / n


def posterior_mutual_information(mu: np.ndarray, logvar: np.ndarray, factors: np.ndarray, seed: int = 0) -> np.ndarray:
    """(L, F) mutual information in nats between each code dimension z_j and each factor v_k under
    the encoder's posterior: I(z_j; v_k) = H(z_j) - sum_v p(v) H(z_j | v_k = v), each entropy that of
    a mixture of the examples' Gaussian posteriors, estimated by sampling them (Chen et al. 2018).

    Unlike binned posterior means it counts what a dimension can carry given its posterior noise:
    a dimension whose mean wobbles by 0.05 under a posterior of std 1 carries nearly nothing."""
    mu, factors = _check(mu, factors)
    logvar = np.asarray(logvar, dtype=np.float64)
    if logvar.shape != mu.shape or not np.isfinite(logvar).all():
        raise InputError(f"logvar must be finite and shaped like the means {mu.shape}; got {logvar.shape}")
    mu_t, logvar_t = torch.from_numpy(mu), torch.from_numpy(logvar)
    generator = torch.Generator().manual_seed(seed)
    marginal = _aggregate_entropy(mu_t, logvar_t, generator)
    mi = np.zeros((mu.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        conditional = torch.zeros_like(marginal)
        for value in np.unique(factors[:, k]):
            rows = torch.from_numpy(np.flatnonzero(factors[:, k] == value))
            conditional += len(rows) / len(mu) * _aggregate_entropy(mu_t[rows], logvar_t[rows], generator)
        mi[:, k] = (marginal - conditional).numpy()
    return np.maximum(mi, 0.0)  # a sampled difference can dip just below 0 where the truth is 0


def posterior_mutual_information_gap(mu: np.ndarray, logvar: np.ndarray, factors: np.ndarray, seed: int = 0) -> dict:
    """MIG as Chen et al. 2018 define it, from the posterior q(z|x) rather than binned means."""
    return _gap(posterior_mutual_information(mu, logvar, factors, seed), factors)


def dimension_factors(codes: np.ndarray, factors: np.ndarray, names, bins: int = BINS) -> list[tuple[str, float]]:
    """For each code dimension, the factor it carries most information about and that MI in nats."""
    mi = mutual_information(codes, factors, bins)
    return [(names[j], float(mi[i, j])) for i, j in enumerate(mi.argmax(1))]


def factor_vae_score(codes: np.ndarray, factors: np.ndarray, train_votes: int = 10_000, eval_votes: int = 5_000,
                     batch: int = VOTE_BATCH, seed: int = 0) -> dict:
    codes, factors = _check(codes, factors)
    rng = np.random.default_rng(seed)
    std = codes.std(0)
    active = np.flatnonzero(std >= PRUNE_STD)
    if len(active) == 0:
        return {"factor_vae_score": 0.0, "active_dims": 0}
    scaled = codes[:, active] / std[active]
    # For every factor, the example indices of each of its values that occurs often enough for a batch.
    groups = [[np.flatnonzero(factors[:, j] == v) for v in np.unique(factors[:, j])] for j in range(factors.shape[1])]
    groups = [[g for g in gs if len(g) >= 2] for gs in groups]
    usable = [j for j, gs in enumerate(groups) if gs and len(np.unique(factors[:, j])) > 1]
    if not usable:
        raise InputError("no factor has two or more values with repeated examples; the FactorVAE score needs them")

    def votes(n: int) -> tuple[np.ndarray, np.ndarray]:
        dims, ks = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        for t in range(n):
            k = usable[rng.integers(len(usable))]
            pool = groups[k][rng.integers(len(groups[k]))]
            pick = rng.choice(pool, size=batch, replace=len(pool) < batch)
            dims[t], ks[t] = np.argmin(scaled[pick].var(0)), k
        return dims, ks

    train_dims, train_ks = votes(train_votes)
    counts = np.zeros((len(active), factors.shape[1]), dtype=np.int64)
    np.add.at(counts, (train_dims, train_ks), 1)
    majority = counts.argmax(1)  # the factor each code dimension votes for
    eval_dims, eval_ks = votes(eval_votes)
    return {"factor_vae_score": float((majority[eval_dims] == eval_ks).mean()),
            "train_accuracy": float((majority[train_dims] == train_ks).mean()), "active_dims": int(len(active))}


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy of each row of a non-negative matrix (rows normalised), in base `base`."""
    p = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(1)
    return h / np.log(base) if base > 1 else np.zeros(len(p))


def dci(codes: np.ndarray, factors: np.ndarray, train_fraction: float = 0.8, seed: int = 0) -> dict:
    from sklearn.ensemble import RandomForestClassifier

    codes, factors = _check(codes, factors)
    n, latent = codes.shape
    cut = int(round(n * train_fraction))
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[:cut], order[cut:]
    if len(test) == 0:
        raise InputError("DCI needs held-out examples; give more examples or a smaller train fraction")
    importance = np.zeros((latent, factors.shape[1]))
    accuracy = []
    for j in range(factors.shape[1]):
        y = factors[:, j]
        if len(np.unique(y[train])) < 2:  # a constant factor: nothing to predict, nothing to explain
            accuracy.append(1.0)
            continue
        # max_features=None: every split may use any dimension, so a factor read off one dimension
        # credits it alone (with sqrt(L) candidates, splits forced onto other dimensions blur R).
        model = RandomForestClassifier(n_estimators=50, min_samples_leaf=5, max_features=None, random_state=seed)
        with warnings.catch_warnings():  # small samples of many-valued factors: sklearn's hint is noise here
            warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
            model.fit(codes[train], y[train])
        importance[:, j] = np.abs(model.feature_importances_)
        accuracy.append(float(model.score(codes[test], y[test])))
    code_share = importance.sum(1) / max(importance.sum(), 1e-12)
    disentanglement = 1 - _entropy_rows(importance, factors.shape[1])
    completeness = 1 - _entropy_rows(importance.T, latent)
    return {"disentanglement": float((code_share * disentanglement).sum()),
            "completeness": float(completeness.mean()), "informativeness": float(np.mean(accuracy)),
            "importance": importance.tolist()}


def example_subset(count: int, n: int | None, seed: int) -> np.ndarray | None:
    """Indices (sorted) of n of `count` examples drawn by `seed`, or None to keep all of them: the
    same examples for the same n and seed in every command that measures a sample of a split."""
    if n is None or n >= count:
        return None
    return np.sort(np.random.default_rng(seed).choice(count, n, replace=False))


def disentanglement_report(model, splits, split: str = "test", n: int | None = None, seed: int = 0) -> dict:
    """All three metrics for `model` on (up to n examples of) a split of data with known factors."""
    if splits.factors is None:
        raise InputError(f"the {splits.name} data has no known factors; disentanglement needs data such as "
                         f"dsprites")
    x, _ = splits.split(split)
    factors = splits.factors[split].numpy()
    keep = example_subset(len(x), n, seed)
    if keep is not None:
        x, factors = x[torch.from_numpy(keep)], factors[keep]
    mu, logvar = (t.numpy() for t in model.encode_all(x))  # the scores read the means; posterior MIG also logvar
    mig = mutual_information_gap(mu, factors)
    # An autoencoder's code is a point (logvar -inf): information about a factor has no finite estimate.
    posterior = (posterior_mutual_information_gap(mu, logvar, factors, seed=seed) if np.isfinite(logvar).all()
                 else {"mig": None, "per_factor": None, "mutual_information": None})
    report = {"split": split, "n": len(mu), "factors": list(splits.factor_names), "mig": mig["mig"],
              "mig_posterior": posterior["mig"], **factor_vae_score(mu, factors, seed=seed)}
    d = dci(mu, factors, seed=seed)
    report.update({"dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
                   "dci_informativeness": d["informativeness"], "mig_per_factor": mig["per_factor"],
                   "mutual_information": mig["mutual_information"], "factor_entropy": mig["factor_entropy"],
                   "mig_posterior_per_factor": posterior["per_factor"],
                   "posterior_mutual_information": posterior["mutual_information"],
                   "dci_importance": d["importance"]})
    return report
