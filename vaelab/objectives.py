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
    mu: Tensor | None = None  # the batch's posterior means (B, L), for counting active units


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


TC_ESTIMATORS = ("mws", "mss")


def total_correlation(z: Tensor, mu: Tensor, logvar: Tensor, dataset_size: int | None = None) -> Tensor:
    """beta-TCVAE's total-correlation term KL(q(z) || prod_d q(z_d)), per example (Chen et al. 2018).

    z, mu, logvar: (M, L), z_i drawn from q(z|x_i). The aggregate posterior q(z) = mean_n q(z|x_n)
    over the N training examples, and its marginals q(z_d), are estimated from the batch:

    * dataset_size None -- minibatch-weighted sampling (MWS): every posterior of the batch weighs
      1/M, log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log M. Chen et al. subtract log(N M) instead,
      which only shifts the result by the constant (L - 1) log N: the same gradient. Without it the
      value is the TC of the batch's own mixture, non-negative on average, so a printed loss stays
      readable. With narrow posteriors and a small batch, z_i's own posterior outweighs all the
      others (docs/design-notes.md has a measurement), so the joint term mostly sees q(z_i|x_i)
      and not how z_i sits among the other codes.
    * dataset_size N -- minibatch-stratified sampling (MSS), in its plainest form: z_i's own
      posterior weighs 1/N, as it does in the aggregate over the data, and each of the M - 1 others
      stands for (N - 1)/(M - 1) of the rest. (Chen et al. stratify one of the others differently.)
      With N = M it is MWS again. Its value errs the other way: with narrow posteriors, M - 1 codes
      fill the joint space more thinly than each axis, so the estimate is often negative and a
      printed loss can fall below the negative ELBO.
    """
    m = z.shape[0]
    # log q(z_i,d | x_j) for every pair (i, j): (M, M, L)
    diff = z[:, None, :] - mu[None, :, :]
    log_q_pairs = -0.5 * (math.log(2 * math.pi) + logvar[None] + diff**2 * torch.exp(-logvar[None]))
    if dataset_size is None or m < 2:  # MWS; this order of operations is what the golden runs pin
        log_qz = torch.logsumexp(log_q_pairs.sum(-1), dim=1) - math.log(m)  # (M,)
        log_prod_marginals = (torch.logsumexp(log_q_pairs, dim=1) - math.log(m)).sum(-1)  # (M,)
        return log_qz - log_prod_marginals
    n = max(dataset_size, m)
    log_w = torch.full((m, m), math.log((n - 1) / (n * (m - 1))), dtype=z.dtype, device=z.device)
    log_w.fill_diagonal_(-math.log(n))
    log_qz = torch.logsumexp(log_q_pairs.sum(-1) + log_w, dim=1)
    log_prod_marginals = torch.logsumexp(log_q_pairs + log_w[..., None], dim=1).sum(-1)
    return log_qz - log_prod_marginals
