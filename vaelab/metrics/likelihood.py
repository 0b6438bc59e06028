"""Held-out evaluation in nats: ELBO and its terms, the IWAE bound on -log p(x), active units.

IWAE (Burda et al. 2016): log p(x) >= E[log (1/K) sum_k p(x, z_k) / q(z_k|x)], which tightens as K
grows. The K samples are drawn in chunks and combined with a streaming log-mean-exp, so K = 5000
costs time, not memory.
"""
from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from ..active_units import active_units
from ..config import RunConfig
from ..data import TEST_BINARIZATION_SEED, Splits, presented
from ..errors import InputError
from ..model import TrainedModel, seeded
from ..objectives import StreamingLogMeanExp
from ..progress import progress_bar
from ..registry import likelihoods

# Samples are drawn in passes of about DRAWS_PER_PASS decodes and decoded in slices of about
# DECODES_PER_CALL. Two numbers because the draw size fixes the random stream (and with it every
# published figure), while the decoder call size only sets how much sits in the CPU caches at once
# (docs/design-notes.md has the measurements).
DRAWS_PER_PASS = 512
DECODES_PER_CALL = 128


def importance_terms(network, x: Tensor, k: int, generator: torch.Generator, qz, cond=None,
                     batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """For each example of x: -(IWAE bound with k samples) and the reconstruction term -log p(x|z)
    averaged over the same k samples; float64 (B,) each. The samples go in passes of at most
    DRAWS_PER_PASS decodes, combined by a streaming log-mean-exp."""
    rows = batch_size or len(x)
    chunk = max(1, min(k, DRAWS_PER_PASS // rows))
    per_call = max(1, DECODES_PER_CALL // rows)
    stream, log_px_sum = StreamingLogMeanExp(), torch.zeros(len(x), dtype=torch.float64, device=x.device)
    for done in range(0, k, chunk):
        log_w, log_px = network.log_weights(x, min(chunk, k - done), generator, qz=qz, cond=cond,
                                            samples_per_decode=per_call)
        stream.add(log_w)
        log_px_sum += log_px.double().sum(0)
    return -stream.value(), -log_px_sum / k


MAX_IWAE_K = 100_000  # twenty times the K of the published figures; past it an evaluation would run for days


def check_iwae_k(iwae_k: int) -> None:
    """Refuse an importance-sample count outside 1..MAX_IWAE_K (every IWAE figure vaelab computes)."""
    if not 1 <= iwae_k <= MAX_IWAE_K:
        raise InputError(f"importance samples must lie in 1..{MAX_IWAE_K:,}, got {iwae_k}", "iwae_k")


@torch.no_grad()
def evaluate(model: TrainedModel, data: Splits, split: str = "test", iwae_k: int = 1000, batch_size: int = 100,
             seed: int = 0, n: int | None = None, start: int = 0, progress: bool = False,
             per_example: bool = False) -> dict:
    """Evaluate a model on one split, or on its n examples from `start`; every figure in nats per example.

    >>> result = evaluate(vaelab.load("runs/demo"), splits, iwae_k=100)
    >>> result["elbo"], result["nll_iwae"]         # negative ELBO, IWAE bound on -log p(x)
    """
    check_iwae_k(iwae_k)
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}", "batch_size")
    if start < 0:
        raise InputError(f"the first example must be >= 0, got {start}", "start")
    if n is not None and n < 1:
        raise InputError(f"the number of examples must be at least 1, got {n}", "n")
    model.network.eval()
    x, y = _examples(model, data, split, start, n)
    k = iwae_k if model.stochastic else 1
    began = time.perf_counter()
    terms = _terms(model, x, y, k, batch_size, seeded(seed, model.device),
                   progress_bar(len(x), f"evaluate {split} (K={k})", progress, unit="img", lines=True))
    result = {"split": split, "start": start, **_figures(model.config, terms, k, per_example)}
    if model.conditional:
        result["conditional"] = "on the true labels: the figures are of -log p(x | y)"
    result["seconds"] = round(time.perf_counter() - began, 2)
    return result


def _examples(model: TrainedModel, data: Splits, split: str, start: int, n: int | None) -> tuple[Tensor, Tensor | None]:
    """The examples start..start+n of a split, as the likelihood sees them, and their labels."""
    x_all, y_all = data.split(split)
    total, stop = len(x_all), None if n is None else start + n
    # Binarize from the split's first example, then drop those before `start`: a part must see the
    # very images the whole split's evaluation sees, and the fixed draw runs in order over the split.
    x = presented(x_all[:stop].to(model.device), model.config.data.binarize)[start:]
    y = y_all[start:stop] if y_all is not None else None
    if model.conditional and y is None:
        raise InputError(f"this conditional model needs labels, and the {split} split has none")
    if len(x) == 0:
        raise InputError(f"the {split} split is empty" if start == 0 else
                         f"the {split} split has no examples from {start} on (it has {total})")
    return x, y


def _terms(model: TrainedModel, x: Tensor, y: Tensor | None, k: int, batch_size: int, g: torch.Generator,
           bar) -> dict[str, Tensor]:
    """Per example: -IWAE bound, reconstruction and regulariser terms (float64), and the posterior means.
    For an autoencoder the regulariser is |mu|^2 and there is no bound."""
    network, stochastic = model.network, model.stochastic
    nll, recon, reg, mus = [], [], [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        cond = model.condition(y[i:i + batch_size]) if model.conditional else None
        qz = network.posterior(xb, cond)
        mus.append(qz.mu.float().cpu())
        if stochastic:
            nll_x, recon_x = importance_terms(network, xb, k, g, qz, cond, batch_size)
            nll.append(nll_x.cpu())
            recon.append(recon_x.cpu())
            reg.append(qz.kl().double().cpu())
        else:
            recon.append(-network.px(qz.mu, cond).log_prob(xb).double().cpu())
            reg.append((qz.mu.double() ** 2).sum(-1).cpu())
        bar.update(len(xb))
    bar.close()
    return {"nll": torch.cat(nll) if nll else None, "recon": torch.cat(recon), "reg": torch.cat(reg),
            "mu": torch.cat(mus)}


def _figures(config: RunConfig, terms: dict[str, Tensor], k: int, per_example: bool) -> dict:
    recon_t, reg_t, mu = terms["recon"], terms["reg"], terms["mu"]
    n, dims = len(recon_t), math.prod(config.model.shape)
    result = {"n": n, "binarization": _binarization(config), "likelihood": config.model.likelihood,
              "recon": recon_t.mean().item(), "active_units": active_units(mu) if n > 1 else None,
              "latent_dim": config.model.latent_dim}
    if terms["nll"] is None:
        # An autoencoder has no posterior: no ELBO and no likelihood, only its reconstruction term.
        result.update({"elbo": None, "kl": None, "nll_iwae": None, "iwae_k": None, "bits_per_dim": None,
                       "regularizer": config.model.regularizer, "z_sq": reg_t.mean().item()})
        return result
    nll_t = terms["nll"]
    result.update({
        "elbo": (recon_t + reg_t).mean().item(),  # negative ELBO, nats per example
        "kl": reg_t.mean().item(),
        "nll_iwae": nll_t.mean().item(),
        "iwae_k": k,
        "nll_iwae_sem": (nll_t.std() / math.sqrt(n)).item() if n > 1 else None,
    })
    # a density over continuous pixels is not comparable in bits, and a sequence has no fixed length
    in_bits = likelihoods.get(config.model.likelihood).bits_per_dim
    result["bits_per_dim"] = result["nll_iwae"] / (dims * math.log(2)) if in_bits else None
    if per_example:
        result["per_example"] = {"nll_iwae": nll_t, "elbo": recon_t + reg_t}
    return result


def _binarization(config: RunConfig) -> str:
    if config.data.binarize == "dynamic":
        return f"fixed stochastic binarization (seed {TEST_BINARIZATION_SEED})"
    return "none"

