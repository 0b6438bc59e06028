"""The VAE family as one network: its regulariser makes it a VAE/beta-VAE, a beta-TCVAE, a regularised AE or a plain AE.

Names follow the maths: `qz` = q(z|x), `px` = p(x|z), prior p(z) = N(0, I). This module is the
network only: tensors in the shapes it was built for, no checks on a user's input (that is
`vaelab.Model`'s job), no knowledge of training or of files.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ModelConfig
from ..distributions import DiagonalGaussian, standard_normal_log_prob
from ..errors import InputError
from ..likelihoods import Likelihood
from ..objectives import LossTerms
from ..registry import architectures, likelihoods, regularizers


class VAE(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        architecture, likelihood = architectures.get(config.arch), likelihoods.get(config.likelihood)
        if architecture.reads_tokens != likelihood.reads_tokens:
            raise InputError(f"the {config.arch} networks and the {config.likelihood} likelihood do not go together: "
                             "token sequences need both to read tokens (gru, categorical), other data neither")
        self.regularizer = regularizers.get(config.regularizer)(config)
        # The autoencoders have no posterior variance: their encoder outputs mu alone.
        out_features = 2 * config.latent_dim if self.regularizer.stochastic else config.latent_dim
        self.encoder, self.decoder = architecture.build(config, out_features)
        self.likelihood: Likelihood = likelihood(config.shape, config.sigma)

    def one_hot(self, y: Tensor) -> Tensor:
        """Labels (B,) in 0..num_classes-1 -> the one-hot vectors (B, num_classes) a conditional VAE's networks take."""
        return F.one_hot(y.long(), self.config.num_classes).float()

    def posterior(self, x: Tensor, cond: Tensor | None = None) -> DiagonalGaussian:
        """q(z|x) (q(z|x, y) given the one-hot `cond`). For the autoencoders, a point mass at mu (logvar = -inf)."""
        h = self.encoder(x) if cond is None else self.encoder(x, cond)  # (B, 2L) or (B, L)
        if self.regularizer.stochastic:
            mu, logvar = h.chunk(2, dim=-1)
        else:
            mu, logvar = h, torch.full_like(h, float("-inf"))
        return DiagonalGaussian(mu, logvar)

    def px(self, z: Tensor, cond: Tensor | None = None, generator: torch.Generator | None = None):
        """p(x|z) (p(x|z, y) given the one-hot `cond`) as a distribution with `log_prob`, `mean` and `sample`.
        The generator reaches decoders that draw while training (the GRU's word dropout)."""
        if cond is not None:  # z may carry leading sample axes (K, B, L); the label is per example
            z = torch.cat([z, cond.expand(*z.shape[:-1], cond.shape[-1])], -1)
        return self.likelihood(self.decoder(z, generator))

    def forward(self, x: Tensor, beta: float | None = None, generator: torch.Generator | None = None,
                cond: Tensor | None = None, dataset_size: int | None = None) -> LossTerms:
        """The training loss (the negative ELBO for a VAE) and its terms, batch means in nats per example.

        `beta` overrides the configured one (the KL warm-up passes a rising value); `dataset_size`,
        the number of training examples, is what the beta-TCVAE's MSS estimator weighs by."""
        qz = self.posterior(x, cond)
        z = qz.rsample(generator) if self.regularizer.stochastic else qz.mu
        recon = -self.px(z, cond, generator).log_prob(x)  # (B,)
        p = self.regularizer.penalty(qz, z, beta, dataset_size)
        recon, reg = recon.mean(), p.reg.mean()
        return LossTerms(loss=recon + p.weight * (reg + p.extra), recon=recon, reg=reg, mu=qz.mu.detach())

    def log_weights(self, x: Tensor, k: int, generator: torch.Generator | None = None,
                    qz: DiagonalGaussian | None = None, cond: Tensor | None = None,
                    samples_per_decode: int | None = None) -> tuple[Tensor, Tensor]:
        """Importance log-weights log p(x, z_k) - log q(z_k|x) for z_k ~ q(z|x): (k, B); also log p(x|z_k).
        `samples_per_decode` decodes the k samples in slices of that many (the draw is the same)."""
        qz = self.posterior(x, cond) if qz is None else qz
        z = qz.rsample(generator, k=k)  # (k, B, L)
        log_px = torch.cat([self.px(zs, cond).log_prob(x) for zs in z.split(samples_per_decode or k)])  # (k, B)
        return log_px + standard_normal_log_prob(z) - qz.log_prob(z), log_px


MAX_PARAMETERS = 500_000_000  # 2 GB of float32 weights, 6 GB with Adam's moments: far beyond any VAE here
MAX_SIZE = 2**31  # one width or count: any larger one alone exceeds MAX_PARAMETERS


def build_network(config: ModelConfig) -> VAE:
    """The network of a config, refused in one line before any memory is allocated when it would be
    larger than `MAX_PARAMETERS` (a latent size of 10^9 would otherwise ask for terabytes). The count
    comes from building it on PyTorch's meta device, which records shapes and allocates nothing."""
    for name in ("latent_dim", "hidden", "channels", "dense", "embed_dim", "vocab_size", "num_classes"):
        size = max(getattr(config, name) if name in ("hidden", "channels", "dense") else (getattr(config, name),),
                   default=0)
        if size > MAX_SIZE:  # even the meta device takes shapes of 64-bit sizes only
            raise InputError(f"a size of {size:,} would make more than the {MAX_PARAMETERS:,} parameters vaelab "
                             "builds", name)
    try:
        with torch.device("meta"):
            shapes = VAE(config)
    except RuntimeError as e:  # sizes each below MAX_SIZE whose products (a weight's bytes) overflow 64 bits
        if "overflow" not in str(e):
            raise
        raise InputError(f"this model would have far more parameters than the {MAX_PARAMETERS:,} vaelab builds (its "
                         "sizes overflow 64-bit integers); choose a smaller {latent_dim}, {hidden}, {channels} or "
                         "{dense}") from None
    count = sum(t.numel() for t in (*shapes.parameters(), *shapes.buffers()))
    if count > MAX_PARAMETERS:
        raise InputError(f"this model would have {count:,} parameters, more than the {MAX_PARAMETERS:,} vaelab "
                         "builds; choose a smaller {latent_dim}, {hidden}, {channels} or {dense}")
    return VAE(config)
