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

from ..errors import InputError
from ..metrics.likelihood import importance_terms

STATISTICS = ("recon", "elbo", "iwae")


@torch.no_grad()
def anomaly_scores(model, x: Tensor, statistic: str = "elbo", samples: int = 10, iwae_k: int = 100,
                   batch_size: int = 100, seed: int = 0) -> Tensor:
    """One score per example (N,), float64, on the CPU."""
    if statistic not in STATISTICS:
        raise InputError(f"unknown score {statistic!r}; choose one of: {', '.join(STATISTICS)}")
    stochastic = model.config.stochastic
    if statistic != "recon" and not stochastic:
        raise InputError(f"an autoencoder has no posterior, so no {statistic} score; use --score recon")
    if samples < 1 or iwae_k < 1:
        raise InputError("the number of posterior samples must be at least 1")
    model.eval()
    g = torch.Generator(device=model.device).manual_seed(seed)
    scores = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(model.device)
        qz = model.posterior(xb)
        if not stochastic:
            scores.append(-model.px(qz.mu).log_prob(xb).double())
            continue
        nll, recon = importance_terms(model, xb, iwae_k if statistic == "iwae" else samples, g, qz)
        if statistic == "recon":
            scores.append(recon)
        elif statistic == "elbo":
            scores.append(recon + qz.kl().double())
        else:
            scores.append(nll)
    return torch.cat(scores).cpu()


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
