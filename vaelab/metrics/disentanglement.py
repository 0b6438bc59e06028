"""Disentanglement of a code with respect to known factors: MIG, the FactorVAE score, DCI, and the report.

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
* DCI (Eastwood & Williams 2018): one classifier per factor from the code, trained on 80% of the
  examples; the importance matrix R (L x F) from its importances (each factor's column sums to 1);
  disentanglement = 1 - entropy of each code's row (base F), weighted by the row's share of R;
  completeness = 1 - entropy of each factor's column (base L), averaged; informativeness = the
  classifiers' held-out accuracy, averaged. Two classifiers: gradient-boosted trees (the default,
  as Locatello et al. 2019, whose disentanglement_lib fits scikit-learn's GradientBoostingClassifier
  with its defaults): scikit-learn's HistGradientBoostingClassifier in the same shape (100 rounds
  of depth-3 trees, learning rate 0.1), its importances the split gain each dimension earns over
  all trees; or a random forest (`model="forest"`, vaelab's only choice before: 50 trees, leaves of
  5, impurity-based importances), kept so earlier figures can be reproduced.

The BetaVAE score, SAP, modularity, explicitness and IRS are in `disentanglement_suite`.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..errors import InputError
from ..model import check_seed
from ..progress import progress_bar
from .disentanglement_base import BINS, PRUNE_STD, check_codes, factor_entropies, mutual_information, sklearn_threads
from .disentanglement_suite import beta_vae_score, explicitness, irs, modularity, sap_score

VOTE_BATCH = 64


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
    mu, factors = check_codes(mu, factors)
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
    codes, factors = check_codes(codes, factors)
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


DCI_MODELS = ("gbt", "forest")  # the importance model: gradient-boosted trees (default) or a random forest


def _importance_model(kind: str, seed: int):
    """An unfitted classifier of the kind DCI reads its importances from."""
    if kind == "forest":
        from sklearn.ensemble import RandomForestClassifier

        # max_features=None: every split may use any dimension, so a factor read off one dimension
        # credits it alone (with sqrt(L) candidates, splits forced onto other dimensions blur R).
        return RandomForestClassifier(n_estimators=50, min_samples_leaf=5, max_features=None,
                                      random_state=seed % 2**32)
    from sklearn.ensemble import HistGradientBoostingClassifier

    # The shape of disentanglement_lib's GradientBoostingClassifier(): 100 rounds of depth-3 trees,
    # learning rate 0.1, leaves of one example, no early stopping; binned features make it fast.
    return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_depth=3, max_leaf_nodes=None,
                                          min_samples_leaf=1, early_stopping=False, random_state=seed % 2**32)


def _importances(model, latent: int) -> np.ndarray:
    """(L,) importance of each dimension, summing to 1: a forest's impurity decrease, or for boosted
    trees the split gain each dimension earns over every tree (the total-gain importance; histogram
    boosting has no feature_importances_, and its trees keep the gains in `_predictors`)."""
    if hasattr(model, "feature_importances_"):
        return np.abs(model.feature_importances_)
    gain = np.zeros(latent)
    for round_trees in model._predictors:
        for tree in round_trees:
            split = tree.nodes[tree.nodes["is_leaf"] == 0]
            np.add.at(gain, split["feature_idx"], np.maximum(split["gain"], 0.0))
    return gain / gain.sum() if gain.sum() > 0 else gain


def dci(codes: np.ndarray, factors: np.ndarray, train_fraction: float = 0.8, seed: int = 0,
        model: str = "gbt") -> dict:
    """DCI (Eastwood & Williams 2018) with importances from `model`: "gbt" (gradient-boosted trees,
    as Locatello et al. 2019) or "forest" (a random forest, vaelab's earlier default)."""
    if model not in DCI_MODELS:
        raise InputError(f"the DCI model must be one of {', '.join(DCI_MODELS)}, got {model!r}", "dci_model")
    codes, factors = check_codes(codes, factors)
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
        fitted = _importance_model(model, seed)
        with warnings.catch_warnings(), sklearn_threads():
            # small samples of many-valued factors: sklearn's hint is noise here
            warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
            fitted.fit(codes[train], y[train])
            accuracy.append(float(fitted.score(codes[test], y[test])))
        importance[:, j] = _importances(fitted, latent)
    code_share = importance.sum(1) / max(importance.sum(), 1e-12)
    disentanglement = 1 - _entropy_rows(importance, factors.shape[1])
    completeness = 1 - _entropy_rows(importance.T, latent)
    return {"disentanglement": float((code_share * disentanglement).sum()),
            "completeness": float(completeness.mean()), "informativeness": float(np.mean(accuracy)),
            "importance": importance.tolist(), "model": model,
            "disentanglement_per_dimension": disentanglement.tolist(),
            "completeness_per_factor": completeness.tolist(), "informativeness_per_factor": accuracy}


def example_subset(count: int, n: int | None, seed: int) -> np.ndarray | None:
    """Indices (sorted) of n of `count` examples drawn by `seed`, or None to keep all of them: the
    same examples for the same n and seed in every command that measures a sample of a split."""
    if n is None or n >= count:
        return None
    return np.sort(np.random.default_rng(seed).choice(count, n, replace=False))


def disentanglement_report(model, splits, split: str = "test", n: int | None = None, seed: int = 0,
                           progress: bool = False, dci_model: str = "gbt") -> dict:
    """The disentanglement_lib set of metrics (MIG binned and posterior, the FactorVAE and BetaVAE
    scores, DCI, SAP, modularity, explicitness, IRS) for `model` on (up to n examples of) a split of
    data with known factors: scalars first, then per-factor and per-dimension details.
    `dci_model`: DCI's importance model, "gbt" or "forest" (see `dci`).
    `progress`: show which of its stages runs (a bar, or a line now and then in a log)."""
    check_seed(seed)
    if dci_model not in DCI_MODELS:  # before the encoding, not after minutes of it
        raise InputError(f"the DCI model must be one of {', '.join(DCI_MODELS)}, got {dci_model!r}", "dci_model")
    if splits.factors is None:
        raise InputError(f"the {splits.name} data has no known factors; disentanglement needs data such as "
                         f"dsprites")
    x, _ = splits.split(split)
    factors = splits.factors[split].numpy()
    keep = example_subset(len(x), n, seed)
    if keep is not None:
        x, factors = x[torch.from_numpy(keep)], factors[keep]
    found: dict = {}
    with progress_bar(1 + len(STAGES), f"disentangle {split}", progress, unit="stage", lines=True) as bar:
        bar.set_postfix(now="encode")
        mu, logvar = (t.numpy() for t in model.encode_all(x))  # the scores read the means; posterior MIG also logvar
        for name, measure in STAGES:  # each limits scikit-learn's threads where it fits a model
            _next_stage(bar, name)
            found.update(measure(mu, logvar, factors, seed, dci_model))
        bar.update()
    head = {"split": split, "n": len(mu), "factors": list(splits.factor_names)}
    # lists (and the posterior MIG's, None for an autoencoder) after the scalars, for a readable --json
    details = {k: v for k, v in found.items() if isinstance(v, list) or (v is None and k != "mig_posterior")}
    return {**head, **{k: v for k, v in found.items() if k not in details}, **details}


def _next_stage(bar, name: str) -> None:
    """Count the stage just finished and name the one starting (a log line, if one is due, names it)."""
    bar.set_postfix(now=name, refresh=False)
    bar.update()


# --- the stages of `disentanglement_report` after encoding: each gives its keys of the report --------
def _mig_keys(mu, logvar, factors, seed, dci_model) -> dict:
    mig = mutual_information_gap(mu, factors)
    return {"mig": mig["mig"], "mig_per_factor": mig["per_factor"], "mutual_information": mig["mutual_information"],
            "factor_entropy": mig["factor_entropy"]}


def _posterior_mig_keys(mu, logvar, factors, seed, dci_model) -> dict:
    # An autoencoder's code is a point (logvar -inf): information about a factor has no finite estimate.
    if not np.isfinite(logvar).all():
        return {"mig_posterior": None, "mig_posterior_per_factor": None, "posterior_mutual_information": None}
    mig = posterior_mutual_information_gap(mu, logvar, factors, seed=seed)
    return {"mig_posterior": mig["mig"], "mig_posterior_per_factor": mig["per_factor"],
            "posterior_mutual_information": mig["mutual_information"]}


def _beta_vae_keys(mu, logvar, factors, seed, dci_model) -> dict:
    score = beta_vae_score(mu, factors, seed=seed)
    return {"beta_vae_score": score["beta_vae_score"], "beta_vae_train_accuracy": score["train_accuracy"]}


def _dci_keys(mu, logvar, factors, seed, dci_model) -> dict:
    d = dci(mu, factors, seed=seed, model=dci_model)
    return {"dci_model": d["model"], "dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
            "dci_informativeness": d["informativeness"], "dci_importance": d["importance"],
            "dci_disentanglement_per_dimension": d["disentanglement_per_dimension"],
            "dci_completeness_per_factor": d["completeness_per_factor"],
            "dci_informativeness_per_factor": d["informativeness_per_factor"]}


def _sap_keys(mu, logvar, factors, seed, dci_model) -> dict:
    sap = sap_score(mu, factors, seed=seed)
    return {"sap_score": sap["sap"], "sap_per_factor": sap["per_factor"], "sap_matrix": sap["score_matrix"]}


def _modularity_keys(mu, logvar, factors, seed, dci_model) -> dict:
    m = modularity(mu, factors)
    return {"modularity": m["modularity"], "modularity_per_dimension": m["per_dimension"]}


def _explicitness_keys(mu, logvar, factors, seed, dci_model) -> dict:
    e = explicitness(mu, factors, seed=seed)
    return {"explicitness": e["explicitness"], "explicitness_per_factor": e["per_factor"],
            "explicitness_train": e["train"]}


def _irs_keys(mu, logvar, factors, seed, dci_model) -> dict:
    r = irs(mu, factors)
    return {"irs": r["irs"], "irs_per_dimension": r["per_dimension"], "irs_active_dims": r["active_dims"]}


def _factor_vae_keys(mu, logvar, factors, seed, dci_model) -> dict:
    return factor_vae_score(mu, factors, seed=seed)  # factor_vae_score, train_accuracy, active_dims


STAGES = (("MIG", _mig_keys), ("posterior MIG", _posterior_mig_keys), ("FactorVAE score", _factor_vae_keys),
          ("BetaVAE score", _beta_vae_keys), ("DCI", _dci_keys), ("SAP", _sap_keys), ("modularity", _modularity_keys),
          ("explicitness", _explicitness_keys), ("IRS", _irs_keys))
