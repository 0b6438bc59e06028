"""Training objectives and bounds: the ELBO's terms, the IWAE bound, the KL warm-up schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class LossTerms:
    """Batch means in nats per example. `loss` is what the optimiser minimises."""

    loss: Tensor
    recon: Tensor  # -E_q[log p(x|z)]
    reg: Tensor  # KL(q(z|x) || p(z)) for a VAE, |z|^2 for a regularised AE, 0 for an AE


def log_mean_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    """log (1/K) sum_k exp(log_w_k), stable."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


class StreamingLogMeanExp:
    """log-mean-exp over samples that arrive in chunks, so K = 5000 never sits in memory at once."""

    def __init__(self):
        self.lse: Tensor | None = None
        self.count = 0

    def add(self, log_w: Tensor) -> None:  # (k_chunk, B)
        chunk = torch.logsumexp(log_w.double(), dim=0)
        self.lse = chunk if self.lse is None else torch.logaddexp(self.lse, chunk)
        self.count += log_w.shape[0]

    def value(self) -> Tensor:
        assert self.lse is not None, "no samples were added"
        return self.lse - math.log(self.count)


def warmup_beta(beta: float, step: int, warmup_steps: int) -> float:
    """beta rises linearly from 0 to its value over the warm-up (Bowman et al. 2016; Sonderby et al. 2016)."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)
