"""The rest of the disentanglement_lib set (Locatello et al. 2019): the BetaVAE score, SAP,
modularity and explicitness, IRS. MIG, the FactorVAE score and DCI are in `disentanglement`,
whose `disentanglement_report` gives them all.

Like those, each takes codes (N, L) (a VAE's posterior means) and factor classes (N, F) of the
same examples. disentanglement_lib draws fresh observations from a generator for every metric;
here every metric reads the examples given (a split of a data set, all other factors as they
fall), and those that train a classifier hold out a fifth of them (the same split as DCI's for
the same seed). Which choices follow the paper and which disentanglement_lib, metric by metric:

* BetaVAE score (Higgins et al. 2017): pick a factor; 64 pairs of examples, each pair sharing
  that factor's value; the feature is the mean over the pairs of |z_a - z_b|, per dimension; a
  linear classifier (scikit-learn's LogisticRegression, as disentanglement_lib) names the factor
  from 10,000 such features and is scored on 5,000 fresh ones (disentanglement_lib's sizes).
* SAP (Kumar et al. 2018): a score matrix S (L x F) of how well each single dimension predicts
  each factor, and per factor the gap between its two best dimensions. Continuous factors: the R^2
  of a least-squares line (the squared correlation; as both). Discrete factors: as the paper, the
  balanced accuracy on held-out examples of thresholds on the one dimension (a tree on it with at
  most one leaf per class, classes weighted equally), where disentanglement_lib fits a linear SVM
  and scores plain accuracy. Collapsed dimensions (std < 0.05, the FactorVAE score's cut) score 0,
  a choice of ours (disentanglement_lib scores every dimension): a dimension the model does not use
  should not stand second to the one that carries a factor. Factors are discrete unless said
  otherwise (disentanglement_lib's setting for dSprites in the study).
* Modularity (Ridgeway & Mozer 2018): from the (L x F) mutual information between each dimension
  (20 equal-width bins, as MIG) and each factor: per dimension 1 - (sum of its squared MIs but the
  largest) / (the largest squared * (F - 1)), 0 for a dimension with no information; averaged
  over dimensions (as disentanglement_lib, which bins the same way).
* Explicitness (Ridgeway & Mozer 2018): per factor a one-vs-rest logistic regression from the
  whole standardised code (the paper's classifier; disentanglement_lib's LogisticRegression() was
  one-vs-rest in the scikit-learn of its day), and the ROC AUC of each class from the predicted
  probabilities, averaged over classes and then over factors, on held-out examples (as
  disentanglement_lib).
* IRS (Suter et al. 2019), disentanglement_lib's implementation: factors cut into 20 equal-width
  bins; for each dimension and factor, the 0.99 quantile of |z - E[z | factor value]| averaged
  over the factor's values, over the dimension's largest deviation from its mean; a dimension's
  score is 1 minus the smallest such ratio over factors, and IRS their average weighted by the
  largest deviations (constant dimensions left out).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import InputError
from .disentanglement_base import BINS, PRUNE_STD, check_codes, discretize, mutual_information, sklearn_threads

PAIRS = 64  # pairs per BetaVAE feature (disentanglement_lib's batch_size for the study)
IRS_QUANTILE = 0.99  # disentanglement_lib's diff_quantile (1.0 is the paper's maximum deviation)
SEED_MODULUS = 2**32  # scikit-learn takes a random_state below 2^32; vaelab's seeds go to 2^63 - 1


def held_out(n: int, seed: int, train_fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """The training and held-out example indices: the split DCI makes for the same seed."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * train_fraction))
    if cut < 2 or cut >= n:
        raise InputError(f"{n} examples are too few to hold out a fifth of them; give more examples")
    return order[:cut], order[cut:]


def _value_groups(factor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The examples sorted by the factor's value, and for each example its value's first position
    in that order, its value's count, and its own position within the value's run."""
    order = np.argsort(factor, kind="stable")
    _, inverse, counts = np.unique(factor, return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(len(factor), dtype=np.int64)
    position[order] = np.arange(len(factor)) - starts[inverse[order]]
    return order, starts[inverse], counts[inverse], position


def _pair_features(codes: np.ndarray, factors: np.ndarray, usable: list[int], n: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n BetaVAE features (mean |z_a - z_b| over PAIRS pairs sharing the chosen factor's value) and
    the factors chosen. Partner b is drawn from a's value group, never a itself."""
    ks = np.asarray(usable)[rng.integers(len(usable), size=n)]
    features = np.empty((n, codes.shape[1]))
    for k in usable:
        votes = np.flatnonzero(ks == k)
        if len(votes) == 0:
            continue
        order, start, count, position = _value_groups(factors[:, k])
        eligible = np.flatnonzero(count >= 2)  # an example alone with its value has no partner
        a = eligible[rng.integers(len(eligible), size=(len(votes), PAIRS))]
        r = np.floor(rng.random(a.shape) * (count[a] - 1)).astype(np.int64)
        b = order[start[a] + r + (r >= position[a])]  # skip a's own place in its group
        for i in range(0, len(votes), 512):  # (512, PAIRS, L) differences at a time
            rows = slice(i, i + 512)
            features[votes[rows]] = np.abs(codes[a[rows]] - codes[b[rows]]).mean(1)
    return features, ks


def beta_vae_score(codes: np.ndarray, factors: np.ndarray, train_votes: int = 10_000, eval_votes: int = 5_000,
                   seed: int = 0) -> dict:
    """BetaVAE score (Higgins et al. 2017): the accuracy, on fresh features, of a linear classifier
    naming the factor pairs of examples share from the mean absolute difference of their codes (see
    the module docstring). 1 when each factor has dimensions of its own; chance is 1 / (factors that
    vary). The features of both sets are drawn from the same examples, as the FactorVAE score's votes."""
    from sklearn.linear_model import LogisticRegression

    codes, factors = check_codes(codes, factors)
    usable = [k for k in range(factors.shape[1])
              if len(np.unique(factors[:, k])) > 1 and np.bincount(factors[:, k] - factors[:, k].min()).max() >= 2]
    if len(usable) < 2:
        raise InputError("the BetaVAE score needs two or more factors that vary and repeat a value")
    rng = np.random.default_rng(seed)
    train_x, train_k = _pair_features(codes, factors, usable, train_votes, rng)
    eval_x, eval_k = _pair_features(codes, factors, usable, eval_votes, rng)
    # max_iter above the default 100: lbfgs on unscaled features may need more to converge
    with sklearn_threads():
        classifier = LogisticRegression(max_iter=1000, random_state=seed % SEED_MODULUS).fit(train_x, train_k)
        return {"beta_vae_score": float(classifier.score(eval_x, eval_k)),
                "train_accuracy": float(classifier.score(train_x, train_k))}


def _stump_accuracy(z: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int) -> float:
    """Balanced held-out accuracy of thresholds on one dimension: at most one leaf per class."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    classes = len(np.unique(y[train]))
    if classes < 2:
        return 0.0
    tree = DecisionTreeClassifier(max_leaf_nodes=classes, class_weight="balanced", random_state=seed % SEED_MODULUS)
    # Small samples of many-valued factors, and classes predicted but absent from the held-out part:
    # sklearn's hints about them are noise here, and the score counts them as they are.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tree.fit(z[train, None], y[train])
        return float(balanced_accuracy_score(y[test], tree.predict(z[test, None])))


def sap_score(codes: np.ndarray, factors: np.ndarray, continuous=None, seed: int = 0) -> dict:
    """SAP (Kumar et al. 2018): per factor, the gap between the two dimensions that predict it best
    on their own (R^2 for continuous factors, balanced accuracy of thresholds for discrete ones);
    averaged over factors. `continuous`: one flag per factor (default: all discrete)."""
    codes, factors = check_codes(codes, factors)
    if codes.shape[1] < 2:
        raise InputError("SAP needs a code of at least two dimensions")
    flags = [False] * factors.shape[1] if continuous is None else [bool(c) for c in continuous]
    if len(flags) != factors.shape[1]:
        raise InputError(f"continuous: one flag per factor ({factors.shape[1]}), got {len(flags)}")
    train, test = held_out(len(codes), seed)
    active = codes.std(0) >= PRUNE_STD
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for i in np.flatnonzero(active):
        for j, flag in enumerate(flags):
            y = factors[:, j]
            if flag:  # R^2 of a line = squared correlation, on the training examples (as both)
                scores[i, j] = np.corrcoef(codes[train, i], y[train])[0, 1] ** 2 if y[train].std() > 0 else 0.0
            else:
                scores[i, j] = _stump_accuracy(codes[:, i], y, train, test, seed)
    top = np.sort(scores, axis=0)[::-1]
    gap = top[0] - top[1]
    return {"sap": float(gap.mean()), "per_factor": gap.tolist(), "score_matrix": scores.tolist(),
            "continuous": flags}


def modularity(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> dict:
    """Modularity (Ridgeway & Mozer 2018): how much each dimension's information is about one factor
    alone (1) rather than spread over all (0), from binned mutual information; averaged over dimensions.
    It does not ask whether a dimension carries much: a noise dimension's few nats may still be modular."""
    mi = mutual_information(codes, factors, bins)
    if mi.shape[1] < 2:
        raise InputError("modularity needs at least two factors")
    squared = mi ** 2
    largest = squared.max(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = (squared.sum(1) - largest) / (largest * (mi.shape[1] - 1))
    per_dimension = np.where(largest > 0, 1 - deviation, 0.0)
    return {"modularity": float(per_dimension.mean()), "per_dimension": per_dimension.tolist()}


def _class_auc(classifier, x: np.ndarray, y: np.ndarray) -> float:
    """Mean over classes (present on both sides) of the ROC AUC of the class's predicted probability."""
    from sklearn.metrics import roc_auc_score

    proba = classifier.predict_proba(x)
    if proba.shape[1] == 1:
        return float("nan")
    aucs = [roc_auc_score(y == c, proba[:, col]) for col, c in enumerate(classifier.classes_)
            if 0 < (y == c).sum() < len(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


def explicitness(codes: np.ndarray, factors: np.ndarray, seed: int = 0) -> dict:
    """Explicitness (Ridgeway & Mozer 2018): per factor, the held-out ROC AUC (mean over classes) of a
    one-vs-rest logistic regression from the standardised code; averaged over factors. 0.5 is chance;
    a rotation of a code keeps it (the classifier is linear in the whole code)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    codes, factors = check_codes(codes, factors)
    train, test = held_out(len(codes), seed)
    mean, std = codes[train].mean(0), codes[train].std(0)
    x = (codes - mean) / np.where(std > 0, std, 1.0)  # a constant dimension stays 0, not NaN
    held, fitted = [], []
    for j in range(factors.shape[1]):
        y = factors[:, j]
        if len(np.unique(y[train])) < 2:  # a constant factor: nothing to tell apart
            held.append(1.0)
            fitted.append(1.0)
            continue
        with sklearn_threads():
            classifier = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(x[train], y[train])
            held.append(_class_auc(classifier, x[test], y[test]))
            fitted.append(_class_auc(classifier, x[train], y[train]))
    per_factor = [None if np.isnan(a) else a for a in held]
    known = [a for a in per_factor if a is not None]
    if not known:
        raise InputError("explicitness needs held-out examples of two or more values of a factor; give more examples")
    return {"explicitness": float(np.mean(known)), "per_factor": per_factor, "train": float(np.nanmean(fitted))}


def irs(codes: np.ndarray, factors: np.ndarray, quantile: float = IRS_QUANTILE, bins: int = BINS) -> dict:
    """Interventional robustness score (Suter et al. 2019) as disentanglement_lib computes it: how
    little a dimension still moves once one factor is fixed (1: not at all), see the module docstring."""
    codes, factors = check_codes(codes, factors)
    binned = discretize(factors.astype(np.float64), bins)
    active = np.flatnonzero(codes.var(0) > 0)
    if len(active) == 0:
        return {"irs": 0.0, "per_dimension": [None] * codes.shape[1], "active_dims": 0}
    z = codes[:, active]
    largest = np.abs(z - z.mean(0)).max(0)
    spread = np.zeros((len(active), factors.shape[1]))
    for j in range(factors.shape[1]):
        values = np.unique(binned[:, j])
        for v in values:
            group = z[binned[:, j] == v]
            spread[:, j] += np.quantile(np.abs(group - group.mean(0)), quantile, axis=0)
        spread[:, j] /= len(values)
    robustness = (1 - spread / largest[:, None]).max(1)
    per_dimension: list[float | None] = [None] * codes.shape[1]  # None: a constant dimension, left out
    for i, score in zip(active, robustness):
        per_dimension[i] = float(score)
    return {"irs": float(np.average(robustness, weights=largest)), "per_dimension": per_dimension,
            "active_dims": int(len(active))}
