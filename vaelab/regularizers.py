"""The latent regularisers of the VAE family, one registered type each.

A regulariser decides whether z is sampled from q(z|x) or taken as its mean (`stochastic`), and
what the loss adds to the reconstruction term. The loss is always

    recon + weight * (reg + extra)

with `reg` the reported term per example (KL for the VAEs, |z|^2 for the regularised
autoencoder, 0 for the plain one) and `extra` a batch-level term the optimiser sees but the
report does not (free bits, beta-TCVAE's total correlation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .distributions import DiagonalGaussian
from .objectives import total_correlation
from .registry import regularizers

if TYPE_CHECKING:
    from .config import ModelConfig


@dataclass
class Penalty:
    reg: Tensor  # (B,) the reported regulariser per example
    weight: float  # what multiplies reg + extra in the loss
    extra: Tensor | float = 0.0  # a batch-level term added to reg's mean inside the weight


class Regularizer:
    stochastic = True  # z ~ q(z|x) by the reparameterisation trick; False: z = mu, an autoencoder
    uses: tuple[str, ...] = ()  # the ModelConfig fields it reads: others set for it would be ignored

    def __init__(self, config: "ModelConfig"):
        self.config = config

    def penalty(self, qz: DiagonalGaussian, z: Tensor, beta: float | None, dataset_size: int | None) -> Penalty:
        """`beta` overrides the configured one (the KL warm-up passes a rising value); `dataset_size`
        is the number of training examples the aggregate posterior runs over."""
        raise NotImplementedError


@regularizers.register("kl")
class KL(Regularizer):
    """beta * KL(q(z|x) || N(0, I)): the VAE at beta 1, the beta-VAE above."""

    uses = ("beta", "free_bits")

    def penalty(self, qz, z, beta, dataset_size):
        kl_dims = qz.kl_per_dim()
        reg = kl_dims.sum(-1)
        extra = 0.0
        if self.config.free_bits > 0:
            # Free bits (Kingma et al. 2016): a dimension's batch-mean KL below free_bits costs
            # nothing, so the encoder can use it without the decoder learning to ignore z first.
            # `reg` still reports the true KL; only the optimised loss changes.
            floored = kl_dims.mean(0).clamp(min=self.config.free_bits).sum()
            extra = floored - reg.mean()
        return Penalty(reg, self.config.beta if beta is None else beta, extra)


@regularizers.register("tc")
class TotalCorrelation(Regularizer):
    """beta-TCVAE (Chen et al. 2018): KL = index-code MI + TC + dimension-wise KL, and beta weighs only
    the TC, so the loss is the negative ELBO plus (beta - 1) TC. The warm-up scales the whole term."""

    uses = ("beta", "tc_estimator")

    def penalty(self, qz, z, beta, dataset_size):
        cfg = self.config
        kl = qz.kl()  # first: the order the graph is built in is the order its gradients are summed in
        weight = 1.0 if beta is None or cfg.beta == 0 else beta / cfg.beta
        n = (dataset_size or len(z)) if cfg.tc_estimator == "mss" else None
        extra = (cfg.beta - 1) * total_correlation(z, qz.mu, qz.logvar, n).mean()
        return Penalty(kl, weight, extra)


@regularizers.register("l2")
class L2(Regularizer):
    """lambda * |z|^2 on the code of a deterministic encoder: the regularised autoencoder."""

    stochastic = False
    uses = ("lam",)

    def penalty(self, qz, z, beta, dataset_size):
        return Penalty((z**2).sum(-1), self.config.lam)


@regularizers.register("none")
class NoRegularizer(Regularizer):
    """Nothing: the plain autoencoder."""

    stochastic = False

    def penalty(self, qz, z, beta, dataset_size):
        return Penalty(torch.zeros(z.shape[0], device=z.device), 0.0)
