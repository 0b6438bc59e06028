"""The validation loss of an epoch: the negative ELBO on held-out data, comparable across epochs."""
from __future__ import annotations

import torch
from torch import Tensor

from ..active_units import active_units
from ..config import RunConfig
from ..shard import batch_shard
from .distributed import SINGLE, Group


@torch.no_grad()
def validation_loss(network, x: Tensor, config: RunConfig, batch_size: int = 1000, cond: Tensor | None = None,
                    group: Group = SINGLE, dataset_size: int | None = None) -> dict[str, float]:
    """Negative ELBO on held-out data, one posterior sample from a fixed seed, so epochs compare.

    With several processes each computes its shard of every batch; the sums are reduced."""
    network.eval()
    g = torch.Generator(device=x.device).manual_seed(config.train.seed + 1)
    totals = torch.zeros(3, dtype=torch.float64, device=x.device)
    mus = torch.zeros(len(x), config.model.latent_dim, device=x.device)  # rows of other processes stay 0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        start, stop, share = group.shard(len(xb))
        with batch_shard(start, stop, len(xb)):
            t = network(xb[start:stop], generator=g, cond=cond[i + start:i + stop] if cond is not None else None,
                        dataset_size=dataset_size)
        totals += torch.stack([t.loss, t.recon, t.reg]).double() * (share * len(xb))
        if share:
            mus[i + start:i + stop] = t.mu
    network.train()
    loss, recon, reg = (group.sum(totals) / len(x)).tolist()
    record = {"val_loss": loss, "val_recon": recon, "val_reg": reg}
    if config.model.stochastic and len(x) > 1:
        record["val_active_units"] = active_units(group.sum(mus))
    return record
