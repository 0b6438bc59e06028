"""The VAE family: one model, whose regulariser makes it a VAE/beta-VAE, a regularised AE or a plain AE.

Names follow the maths: `qz` = q(z|x), `px` = p(x|z), prior p(z) = N(0, I).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ModelConfig
from ..distributions import DiagonalGaussian, standard_normal_log_prob
from ..errors import InputError
from ..likelihoods import Likelihood
from ..objectives import LossTerms, total_correlation
from ..registry import architectures, likelihoods


class VAE(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.shape = config.shape
        self.latent_dim = config.latent_dim
        # The autoencoders have no posterior variance: their encoder outputs mu alone.
        out_features = 2 * config.latent_dim if config.stochastic else config.latent_dim
        self.encoder, self.decoder = architectures.get(config.arch)(config, out_features)
        self.likelihood: Likelihood = likelihoods.get(config.likelihood)(config.shape, config.sigma)
        # Training examples the aggregate posterior runs over; the trainer sets it. Only the "mss"
        # TC estimator reads it (unset, it falls back to the batch size, i.e. to MWS).
        self.dataset_size: int | None = None

    # --- the probabilistic model -------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        return self.config.classes > 0

    def condition(self, y: Tensor | None, n: int | None = None) -> Tensor | None:
        """Labels (B,) -> the one-hot vector a conditional VAE's networks take; None for the others."""
        if not self.conditional:
            if y is not None:
                raise InputError("this model is not conditional: it takes no label")
            return None
        if y is None:
            raise InputError(f"this conditional model needs a label (0..{self.config.classes - 1}) per example")
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if n is not None and len(y) == 1 and n > 1:
            y = y.expand(n)
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.config.classes):
            raise InputError(f"labels must lie in 0..{self.config.classes - 1}, got {y.min().item()}..{y.max().item()}")
        return F.one_hot(y, self.config.classes).float()

    def posterior(self, x: Tensor, cond: Tensor | None = None) -> DiagonalGaussian:
        """q(z|x) (q(z|x, y) given the one-hot `cond`). For the autoencoders, a point mass at mu (logvar = -inf)."""
        h = self.encoder(x) if cond is None else self.encoder(x, cond)  # (B, 2L) or (B, L)
        if self.config.stochastic:
            mu, logvar = h.chunk(2, dim=-1)
        else:
            mu, logvar = h, torch.full_like(h, float("-inf"))
        return DiagonalGaussian(mu, logvar)

    def px(self, z: Tensor, cond: Tensor | None = None, generator: torch.Generator | None = None):
        """p(x|z) (p(x|z, y) given the one-hot `cond`) as a distribution with `log_prob`, `mean` and `sample`."""
        if cond is not None:  # z may carry leading sample axes (K, B, L); the label is per example
            z = torch.cat([z, cond.expand(*z.shape[:-1], cond.shape[-1])], -1)
        if self.config.sequence:  # the generator drives word dropout while training
            return self.likelihood(self.decoder(z, generator))
        return self.likelihood(self.decoder(z))

    def forward(self, x: Tensor, beta: float | None = None, generator: torch.Generator | None = None,
                cond: Tensor | None = None) -> LossTerms:
        """Negative ELBO (or the autoencoder's, or beta-TCVAE's, loss) and its terms, batch means in nats per example.

        `beta` overrides the configured one (the KL warm-up passes a rising value).
        """
        cfg = self.config
        qz = self.posterior(x, cond)
        z = qz.rsample(generator) if cfg.stochastic else qz.mu
        recon = -self.px(z, cond, generator).log_prob(x)  # (B,)
        extra = 0.0  # a term the loss adds to the regulariser without reporting it as part of `reg`
        if cfg.regularizer == "kl":
            kl_dims = qz.kl_per_dim()
            reg = kl_dims.sum(-1)
            weight = cfg.beta if beta is None else beta
            if cfg.free_bits > 0:
                # Free bits (Kingma et al. 2016): a dimension's batch-mean KL below free_bits costs
                # nothing, so the encoder can use it without the decoder learning to ignore z first.
                # `reg` still reports the true KL; only the optimised loss changes.
                floored = kl_dims.mean(0).clamp(min=cfg.free_bits).sum()
                extra = floored - reg.mean()
        elif cfg.regularizer == "tc":
            # KL = index-code MI + TC + dimension-wise KL; beta-TCVAE weighs only TC by beta, so its
            # loss is the negative ELBO plus (beta - 1) TC. The warm-up scales the whole regulariser.
            reg = qz.kl()
            weight = 1.0 if beta is None or cfg.beta == 0 else beta / cfg.beta
            n = (self.dataset_size or len(z)) if cfg.tc_estimator == "mss" else None
            extra = (cfg.beta - 1) * total_correlation(z, qz.mu, qz.logvar, n).mean()
        elif cfg.regularizer == "l2":
            reg = (z**2).sum(-1)
            weight = cfg.lam
        else:
            reg = torch.zeros_like(recon)
            weight = 0.0
        recon, reg = recon.mean(), reg.mean()
        return LossTerms(loss=recon + weight * (reg + extra), recon=recon, reg=reg, mu=qz.mu.detach())

    def log_weights(self, x: Tensor, k: int, generator: torch.Generator | None = None,
                    qz: DiagonalGaussian | None = None, cond: Tensor | None = None,
                    samples_per_decode: int | None = None) -> tuple[Tensor, Tensor]:
        """Importance log-weights log p(x, z_k) - log q(z_k|x) for z_k ~ q(z|x): (k, B); also log p(x|z_k).
        `samples_per_decode` decodes the k samples in slices of that many (the draw is the same)."""
        qz = self.posterior(x, cond) if qz is None else qz
        z = qz.rsample(generator, k=k)  # (k, B, L)
        log_px = torch.cat([self.px(zs, cond).log_prob(x) for zs in z.split(samples_per_decode or k)])  # (k, B)
        return log_px + standard_normal_log_prob(z) - qz.log_prob(z), log_px

    # --- the user-facing API: labels `y` are for conditional models only ------------------------
    def _as_batch(self, x: Tensor) -> Tensor:
        if self.config.sequence:
            x = torch.as_tensor(x, dtype=torch.long, device=self.device)
            if x.dim() != 2 or x.shape[1] != self.shape[0]:
                raise InputError(f"expected token ids of shape (B, {self.shape[0]}), got {tuple(x.shape)}")
            return x
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        size = math.prod(self.shape)
        n = x.numel() // size
        if n == 0 or n * size != x.numel():
            raise InputError(f"expected examples of shape {self.shape}, got a tensor of shape {tuple(x.shape)}")
        return x.reshape(n, *self.shape)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, *shape) (or anything that reshapes to it) -> (mu, logvar), each (B, L)."""
        x = self._as_batch(x)
        qz = self.posterior(x, self.condition(y, len(x)))
        return qz.mu, qz.logvar

    @torch.no_grad()
    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z: (B, L) -> the mean of p(x|z), (B, *shape); for Bernoulli pixels, their probabilities."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        z = z[None] if z.dim() == 1 else z
        if z.dim() != 2 or z.shape[-1] != self.latent_dim:
            raise InputError(f"expected latents of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.px(z, self.condition(y, len(z))).mean

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               y: Tensor | int | None = None) -> Tensor:
        """Decode n draws z ~ N(0, temperature^2 I): (n, *shape); a conditional model needs labels y (or one)."""
        where = generator.device if generator is not None else self.device
        z = torch.randn((n, self.latent_dim), generator=generator, device=where) * temperature
        return self.decode(z.to(self.device), y)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Decode the posterior mean of each example: (B, *shape)."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)
