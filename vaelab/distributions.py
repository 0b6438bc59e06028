"""The distributions of a VAE, written for speed and checked against torch.distributions in tests.

Every `log_prob` sums over the event dimensions and returns one value per example (nats); the
likelihoods take an optional mask (1 = observed) to sum over observed pixels only (inpainting).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .shard import randn_rows

LOG_2PI = math.log(2 * math.pi)


def _sum_event(t: Tensor, event_dims: int, mask: Tensor | None = None) -> Tensor:
    """Sum over the event dimensions; with a mask (1 = observed), over the observed elements only."""
    if mask is not None:
        t = t * mask
    return t.flatten(start_dim=t.dim() - event_dims).sum(-1) if event_dims else t


class DiagonalGaussian:
    """q(z|x) = N(mu, diag(exp(logvar))). The encoder outputs mu and logvar, never sigma."""

    def __init__(self, mu: Tensor, logvar: Tensor):
        self.mu, self.logvar = mu, logvar  # (B, L) each

    @property
    def mean(self) -> Tensor:
        return self.mu

    def rsample(self, generator: torch.Generator | None = None, k: int | None = None) -> Tensor:
        """Reparameterised draw z = mu + exp(logvar/2) * eps; with k, shape (k, B, L)."""
        if k is None:  # one draw per example: rows that stay the same however a batch is split (vaelab.shard)
            eps = randn_rows(tuple(self.mu.shape), generator, self.mu.device, self.mu.dtype)
        else:
            eps = torch.randn((k, *self.mu.shape), generator=generator, device=self.mu.device, dtype=self.mu.dtype)
        return self.mu + torch.exp(0.5 * self.logvar) * eps

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (LOG_2PI + self.logvar + (z - self.mu) ** 2 * torch.exp(-self.logvar)).sum(-1)

    def kl(self) -> Tensor:
        """KL(q || N(0, I)) in closed form, Kingma & Welling 2014, App. B. Shape (B,)."""
        return self.kl_per_dim().sum(-1)

    def kl_per_dim(self) -> Tensor:
        """The closed-form KL of each latent dimension, (B, L): what free bits act on."""
        return 0.5 * (self.mu**2 + torch.exp(self.logvar) - 1.0 - self.logvar)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)


class Bernoulli:
    """p(x|z) over binary pixels, parameterised by logits for numerical stability."""

    def __init__(self, logits: Tensor, event_dims: int):
        self.logits, self.event_dims = logits, event_dims

    def log_prob(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        nll = F.binary_cross_entropy_with_logits(self.logits, x.expand_as(self.logits), reduction="none")
        return -_sum_event(nll, self.event_dims, mask)

    @property
    def mean(self) -> Tensor:
        return torch.sigmoid(self.logits)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(self.mean, generator=generator)


_CB_TAYLOR = 0.1  # below this |logit| the closed forms cancel badly; their series are exact to ~1e-9 there


def continuous_bernoulli_log_norm(logits: Tensor) -> Tensor:
    """log C(lambda) of the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), lambda = sigmoid(l).

    With 1 - 2*lambda = -tanh(l/2), C = l / tanh(l/2), which is 2 at l = 0.
    """
    a = logits.abs()
    small = a < _CB_TAYLOR
    safe = torch.where(small, torch.ones_like(a), a)
    # log|l| - log tanh(|l|/2), with log tanh(y/2) = log1p(-e^-y) - log1p(e^-y)
    far = torch.log(safe) - torch.log1p(-torch.exp(-safe)) + torch.log1p(torch.exp(-safe))
    near = math.log(2.0) + a**2 / 12.0 - 7.0 * a**4 / 1440.0
    return torch.where(small, near, far)


class ContinuousBernoulli(Bernoulli):
    """p(x|z) over grey levels in [0, 1], with its normalising constant."""

    def log_prob(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        logits = self.logits
        nll = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
        return _sum_event(continuous_bernoulli_log_norm(logits) - nll, self.event_dims, mask)

    @property
    def mean(self) -> Tensor:
        """E[x] = 1/(1 - e^-l) - 1/l, which is 1/2 + l/12 - l^3/720 + ... near l = 0."""
        l = self.logits
        small = l.abs() < _CB_TAYLOR
        safe = torch.where(small, torch.ones_like(l), l)
        far = -1.0 / torch.expm1(-safe) - 1.0 / safe
        return torch.where(small, 0.5 + l / 12.0 - l**3 / 720.0, far)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """Inverse-CDF draw x = log(1 + u (e^l - 1)) / l, u ~ U(0, 1), rearranged so e^l never overflows."""
        l = self.logits
        u = torch.rand(l.shape, generator=generator, device=l.device, dtype=l.dtype)
        zero = l.abs() < 1e-6  # the uniform distribution
        safe = torch.where(zero, torch.ones_like(l), l)
        pos = 1.0 + torch.log(u + (1 - u) * torch.exp(-safe)) / safe  # for l > 1, where e^l could overflow
        rest = torch.log1p(u * torch.expm1(safe)) / safe
        return torch.where(zero, u, torch.where(l > 1, pos, rest)).clamp(0.0, 1.0)


class Gaussian:
    """p(x|z) = N(loc, exp(logvar)) per dimension; logvar broadcasts (a scalar, per pixel, or per example)."""

    def __init__(self, loc: Tensor, logvar: Tensor, event_dims: int):
        self.loc, self.logvar, self.event_dims = loc, logvar, event_dims

    def log_prob(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        logvar = self.logvar.expand_as(self.loc)
        lp = -0.5 * (LOG_2PI + logvar + (x - self.loc) ** 2 * torch.exp(-logvar))
        return _sum_event(lp, self.event_dims, mask)

    @property
    def mean(self) -> Tensor:
        return self.loc

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(self.loc.shape, generator=generator, device=self.loc.device, dtype=self.loc.dtype)
        return self.loc + torch.exp(0.5 * self.logvar) * eps


class DiscretizedLogistic:
    """p(x|z) over 8-bit values k/255 (k = 0..255): a logistic(loc, e^log_scale) integrated over each
    value's bin of width 1/255, the outer bins reaching to -inf and +inf (as PixelCNN++ does), so the
    256 probabilities of a pixel sum to 1 and -log p is a code length in nats.

    A value between the levels is read as its nearest level."""

    LEVELS = 256

    def __init__(self, loc: Tensor, log_scale: Tensor, event_dims: int):
        self.loc, self.log_scale, self.event_dims = loc, log_scale, event_dims

    def log_prob(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        top = self.LEVELS - 1
        k = torch.round(x.clamp(0.0, 1.0) * top).expand_as(self.loc)
        centred = k / top - self.loc
        inv_scale = torch.exp(-self.log_scale)
        upper, lower = inv_scale * (centred + 0.5 / top), inv_scale * (centred - 0.5 / top)
        log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper): the whole bin of k = 0
        log_sf_lower = -F.softplus(lower)  # log(1 - sigmoid(lower)): the whole bin of k = 255
        mass = torch.sigmoid(upper) - torch.sigmoid(lower)
        # A bin far out in a tail has a mass that float32 rounds to 0: there its density at the
        # centre times the bin width is the same number without the cancellation.
        mid = inv_scale * centred
        log_density = mid - self.log_scale - 2.0 * F.softplus(mid) - math.log(top)
        inner = torch.where(mass > 1e-5, torch.log(mass.clamp_min(1e-12)), log_density)
        lp = torch.where(k <= 0, log_cdf_upper, torch.where(k >= top, log_sf_lower, inner))
        return _sum_event(lp, self.event_dims, mask)

    @property
    def mean(self) -> Tensor:
        """The most typical picture: the logistic's centre, kept to the values' range."""
        return self.loc.clamp(0.0, 1.0)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """A logistic draw loc + s * log(u / (1 - u)), rounded to the nearest level."""
        u = torch.rand(self.loc.shape, generator=generator, device=self.loc.device, dtype=self.loc.dtype)
        u = u.clamp(1e-6, 1 - 1e-6)
        x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
        top = self.LEVELS - 1
        return torch.round(x.clamp(0.0, 1.0) * top) / top
