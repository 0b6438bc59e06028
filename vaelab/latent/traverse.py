"""Per-dimension traversals, most informative dimension first.

A dimension's information is its average KL(q(z_d|x) || N(0, 1)) over data: an unused ("collapsed")
dimension has a posterior equal to the prior for every x, KL 0, and decodes to the same image
along its whole row. Active units follow Burda et al. 2016: Cov_x(E_q[z_d]) above 0.01.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..active_units import ACTIVE_UNIT_THRESHOLD
from ..errors import InputError
from .paths import MAX_STEPS


@torch.no_grad()
def latent_statistics(model, x: Tensor, y: Tensor | None = None, batch_size: int = 500) -> dict[str, Tensor]:
    """Per dimension over the examples x: mean KL (nats), variance of mu across x, and whether it is active."""
    mu, logvar = (t.double() for t in model.encode_all(x, y, batch_size))
    if model.stochastic:
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(0)
    else:  # an autoencoder's point mass has no KL: rank its dimensions by the spread of the codes instead
        kl = torch.full((mu.shape[1],), float("nan"), dtype=torch.float64)
    spread = mu.var(0) if len(mu) > 1 else torch.zeros(mu.shape[1], dtype=torch.float64)
    return {"kl": kl, "mu_variance": spread, "active": spread > ACTIVE_UNIT_THRESHOLD}


def dimension_order(stats: dict[str, Tensor]) -> list[int]:
    """Most informative first: by KL for a VAE, by code variance for an autoencoder."""
    key = stats["kl"] if not torch.isnan(stats["kl"]).any() else stats["mu_variance"]
    return torch.argsort(key, descending=True, stable=True).tolist()


def traversal_values(span: float, steps: int) -> Tensor:
    if not 2 <= steps <= MAX_STEPS:
        raise InputError(f"a traversal takes 2..{MAX_STEPS} steps, got {steps}", "steps")
    if not (span > 0 and math.isfinite(span)):
        raise InputError(f"a traversal's span must be finite and > 0, got {span}", "span")
    return torch.linspace(-span, span, steps)


@torch.no_grad()
def traverse(model, dims: list[int], anchor: Tensor, span: float = 3.0, steps: int = 9,
             y: Tensor | None = None) -> Tensor:
    """Decode anchor codes with one dimension swept over [-span, span]: (len(dims), steps, *shape).

    For a VAE the span is in prior standard deviations; the other dimensions stay at `anchor`.
    """
    for d in dims:
        if not 0 <= d < model.latent_dim:
            raise InputError(f"latent dimension {d} does not exist (the model has 0..{model.latent_dim - 1})")
    values = traversal_values(span, steps).to(anchor.device)
    z = anchor.reshape(1, 1, -1).repeat(len(dims), steps, 1)
    for row, d in enumerate(dims):
        z[row, :, d] = values
    images = model.decode(z.reshape(-1, model.latent_dim), y)
    return images.reshape(len(dims), steps, *images.shape[1:])


def factors_carried(model, splits, split: str = "test", n: int = 5000) -> list[tuple[str, float]] | None:
    """For data with known factors: per dimension, the factor it carries most information about and
    that mutual information in nats, on up to n examples of a split; None for other data."""
    from ..metrics.disentanglement import dimension_factors

    if splits.factors is None:
        return None
    x, _ = splits.split(split)
    mu = model.encode_all(x[:n])[0].numpy()
    return dimension_factors(mu, splits.factors[split][:n].numpy(), splits.factor_names)
