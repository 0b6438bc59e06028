"""Anomaly scores from a model trained on normal data only: the less likely an example, the more anomalous.

Three statistics (`statistic`), each in nats per example, higher = more anomalous:
* "recon": the reconstruction term -log p(x|z), averaged over `samples` posterior draws (an
  autoencoder's single z = mu);
* "elbo": the negative ELBO, the same reconstruction term plus KL(q(z|x) || p(z)) in closed form.
  The KL is part of the score, never dropped: a code far out in the prior's tails is evidence too;
* "iwae": the importance-weighted bound on -log p(x) with `iwae_k` samples, the tightest of the three.
A threshold is the (1 - fpr) quantile of the scores of held-out *normal* examples, so that about
a share fpr of normal data is flagged.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..config import IN_MEMORY
from ..errors import InputError, ResourceError
from ..metrics.likelihood import check_iwae_k, importance_terms
from ..model import seeded
from ..progress import progress_bar

STATISTICS = ("recon", "elbo", "iwae")


MAX_SAMPLES = 10_000  # posterior draws per score: a thousand times the default


def _check_samples(samples: int, iwae_k: int) -> None:
    if not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"the number of posterior samples must lie in 1..{MAX_SAMPLES:,}, got {samples}", "samples")
    check_iwae_k(iwae_k)


@torch.no_grad()
def anomaly_scores(model, x: Tensor, statistic: str = "elbo", samples: int = 10, iwae_k: int = 100,
                   batch_size: int = 100, seed: int = 0, progress: bool = False) -> Tensor:
    """One score per example (N,), float64, on the CPU: "elbo" (the negative ELBO), "recon" (its
    reconstruction term) or "iwae" (the IWAE bound), each averaged over `samples` posterior draws.

    Example:
        >>> scores = anomaly_scores(vaelab.load("runs/normal-1"), x, "recon")   # x (N, 1, 28, 28) -> (N,)
    """
    if statistic not in STATISTICS:
        raise InputError(f"unknown score {statistic!r}; choose one of: {', '.join(STATISTICS)}", "statistic")
    stochastic, network = model.stochastic, model.network
    if statistic != "recon" and not stochastic:
        raise InputError(f"an autoencoder has no posterior, so no {statistic} score; use {{statistic}} recon",
                         "statistic")
    _check_samples(samples, iwae_k)
    network.eval()
    g = seeded(seed, model.device)
    scores = []
    with progress_bar(len(x), f"score ({statistic})", progress, unit="ex", lines=True) as bar:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(model.device)
            scores.append(_batch_scores(network, xb, statistic, stochastic, samples, iwae_k, g))
            bar.update(len(xb))
    return torch.cat(scores).cpu() if scores else torch.zeros(0, dtype=torch.float64)


def _batch_scores(network, xb: Tensor, statistic: str, stochastic: bool, samples: int, iwae_k: int,
                  g: torch.Generator) -> Tensor:
    qz = network.posterior(xb)
    if not stochastic:
        return -network.px(qz.mu).log_prob(xb).double()
    nll, recon = importance_terms(network, xb, iwae_k if statistic == "iwae" else samples, g, qz)
    if statistic == "recon":
        return recon
    return recon + qz.kl().double() if statistic == "elbo" else nll


def threshold_at_fpr(normal_scores: Tensor, fpr: float) -> float:
    """The score above which a share `fpr` of these (normal, held-out) examples lies."""
    if not 0 < fpr < 1:
        raise InputError(f"the false-positive rate must lie strictly between 0 and 1, got {fpr}")
    if len(normal_scores) == 0:
        raise InputError("no normal held-out examples to set a threshold on")
    return float(torch.quantile(normal_scores.double(), 1 - fpr))


def detection_metrics(scores: Tensor, is_anomaly: Tensor) -> dict[str, float]:
    """AUROC and average precision (scikit-learn), anomalies as the positive class."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s = is_anomaly.numpy().astype(np.int64), scores.double().numpy()
    if y.min() == y.max():
        raise InputError("AUROC needs both normal and anomalous examples among the labels")
    return {"auroc": float(roc_auc_score(y, s)), "average_precision": float(average_precision_score(y, s)),
            "anomalies": int(y.sum()), "n": int(len(y))}


# --- a run as a detector: the threshold it keeps, the examples it scores ----------------------------------
DEFAULT_FPR = 0.05


def default_statistic(model) -> str:
    """The negative ELBO for a VAE; an autoencoder has only its reconstruction error."""
    return "elbo" if model.stochastic else "recon"


def presented_scores(model, x: Tensor, statistic: str, samples: int = 10, iwae_k: int = 100,
                     progress: bool = False) -> Tensor:
    """Scores of examples as the run presents them to its likelihood (the fixed binarization, if any)."""
    from ..data import presented

    return anomaly_scores(model, presented(x, model.config.data.binarize), statistic, samples=samples, iwae_k=iwae_k,
                          progress=progress)


def check_detector(statistic: str | None, fpr: float, samples: int, iwae_k: int, stochastic: bool,
                   val_size: int) -> None:
    """Refuse a detector that could not be fitted, before any training."""
    if statistic is not None and statistic not in STATISTICS:
        raise InputError(f"unknown score {statistic!r}; choose one of: {', '.join(STATISTICS)}", "statistic")
    if not 0 < fpr < 1:
        raise InputError(f"the false-positive rate must lie strictly between 0 and 1, got {fpr}", "fpr")
    _check_samples(samples, iwae_k)
    if statistic not in (None, "recon") and not stochastic:
        raise InputError(f"an autoencoder has no posterior, so no {statistic} score; use {{statistic}} recon",
                         "statistic")
    if val_size == 0:
        raise InputError("the threshold needs held-out normal examples: give a validation size above 0", "val_size")


def fit_threshold(model, x_normal: Tensor, statistic: str | None = None, fpr: float = DEFAULT_FPR,
                  samples: int = 10, iwae_k: int = 100, normal_labels: tuple[int, ...] | None = None,
                  progress: bool = False) -> dict:
    """The threshold that flags a share `fpr` of held-out normal examples, as the record a run keeps."""
    check_detector(statistic, fpr, samples, iwae_k, model.stochastic, len(x_normal))
    statistic = statistic or default_statistic(model)
    scores = presented_scores(model, x_normal, statistic, samples, iwae_k, progress)
    return {"normal_classes": list(normal_labels) if normal_labels else None, "score": statistic, "fpr": fpr,
            "threshold": threshold_at_fpr(scores, fpr), "samples": samples, "iwae_k": iwae_k,
            "validation_examples": len(scores)}


def fit_detector(model, statistic: str | None = None, fpr: float = DEFAULT_FPR, samples: int = 10,
                 iwae_k: int = 100, progress: bool = False) -> dict:
    """Set a run's threshold on its held-out normal examples (the labels it kept are the normal ones)
    and keep the record in the run folder, where `detect` and `vaelab anomaly score` find it."""
    run = model.run
    if run is None:
        raise InputError("a detector is kept in its run folder: train the model with an out folder", "model")
    normal_val, _ = run.data().split("val")
    record = fit_threshold(model, normal_val, statistic, fpr, samples, iwae_k, run.config.data.keep_labels, progress)
    run.write_artifact("anomaly", record)
    return record


def examples_to_score(run, data: str | None = None, split: str = "test") -> tuple[Tensor, Tensor | None]:
    """(x, labels) to score: the run's own data over every label (normal or not), another dataset of
    the same kind, or for a table run every row of another CSV file, scaled as the run was trained."""
    if data is not None and data.startswith("csv:"):
        return _rows_like_training(run, data[len("csv:"):])
    return run.data(data, every_label=data is None).split(split)


def _rows_like_training(run, path: str) -> tuple[Tensor, Tensor | None]:
    from ..data.standardize import standardize
    from ..data.table import read_table

    if run.config.data.name != "csv":
        raise InputError(f"{run.path} was not trained on a CSV table, so it cannot score one", "data")
    stats = run.read_artifact("standardization")
    if stats is None:
        raise ResourceError(f"{run.path} has no {run.artifact('standardization').name}: without it new rows "
                            "cannot be scaled as the training rows were")
    # labels when the file has the run's label column, numbered as the run numbered them
    features, values, labels, _ = read_table(path, run.config.data.ignore or (), run.config.data.label_column,
                                             run.read_artifact("labels"), label_optional=True)
    if features != stats["columns"]:
        raise InputError(f"{path} has columns {features}; the run was trained on {stats['columns']}", "data")
    return standardize(values, stats), (torch.from_numpy(labels) if labels is not None else None)


def detect(model, x: Tensor, y: Tensor | None = None, statistic: str | None = None, samples: int = 10,
           iwae_k: int = 100, fpr: float | None = None, progress: bool = False) -> dict:
    """Score and flag examples with a run's detector. The threshold is the run's own (anomaly.json)
    when the statistic and samples match and no `fpr` is asked for, else set anew on the run's
    normal validation examples. With labels and the run's normal classes: AUROC and AP too.

    Example:
        >>> r = detect(vaelab.load("runs/normal-1"), x, y)   # r["scores"], r["flagged"]: (N,); AUROC in r["metrics"]
    """
    run = model.run
    fitted = (run.read_artifact("anomaly") if run is not None else None) or {}
    if not isinstance(fitted, dict):
        raise ResourceError(f"{run.path}'s anomaly record is not a JSON object")
    statistic = statistic or fitted.get("score") or default_statistic(model)
    scores = presented_scores(model, x, statistic, samples, iwae_k, progress)
    if fitted.get("score") == statistic and fitted.get("samples") == samples and fpr is None:
        threshold, origin = fitted["threshold"], f"the run's ({fitted['fpr']:.0%} of normal validation examples)"
    else:
        fpr = DEFAULT_FPR if fpr is None else fpr
        if run is None or run.config.data.name == IN_MEMORY:
            raise InputError("a new threshold (another statistic, samples or fpr than the run's detector) is set "
                             "on the run's normal validation examples, and "
                             + ("this model has no run" if run is None else f"{run.path} was trained on arrays "
                                "(nothing to reload)"))
        normal_val = run.data().split("val")[0]
        threshold = threshold_at_fpr(presented_scores(model, normal_val, statistic, samples, iwae_k, progress), fpr)
        origin = f"set now at {fpr:.0%} of the run's {len(normal_val)} normal validation examples"
    normal = fitted.get("normal_classes")
    is_anomaly = (~torch.isin(y, torch.tensor(normal))) if (y is not None and normal) else None
    flagged = scores > threshold
    both = is_anomaly is not None and 0 < int(is_anomaly.sum()) < len(is_anomaly)  # AUROC needs both kinds
    return {"statistic": statistic, "scores": scores, "threshold": threshold, "origin": origin, "flagged": flagged,
            "is_anomaly": is_anomaly, "metrics": detection_metrics(scores, is_anomaly) if both else None}
