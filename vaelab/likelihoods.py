"""Likelihood heads: turn the decoder's output (and any learned noise) into p(x|z).

Each head is registered by name and says what it models: `bits_per_dim`, whether nats per
example convert to bits per dimension (a probability, not a density, over a fixed number of
dimensions); `needs_binary_data`; `reads_tokens`; `any_real_value`, whether it models values
outside [0, 1]; `parameter`, the name of the tensor besides the mean that fixes p(x|z) (what an
exported decoder returns); `fixed_sigma`, whether the config's sigma is part of the model.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .distributions import Bernoulli, ContinuousBernoulli, DiscretizedLogistic, Gaussian
from .registry import likelihoods


INITIAL_LOG_SCALE = -2.0  # a scale of e^-2 = 0.14: wide enough over [0, 1] that early gradients reach every pixel


class Likelihood(nn.Module):
    bits_per_dim = False
    needs_binary_data = False
    reads_tokens = False
    any_real_value = False
    parameter = "logits"
    fixed_sigma = False

    def __init__(self, shape: tuple[int, ...], sigma: float = 1.0):
        super().__init__()
        self.shape, self.event_dims = shape, len(shape)

    def forward(self, out: Tensor):  # out: (..., *shape), the decoder's output
        raise NotImplementedError


@likelihoods.register("bernoulli")
class BernoulliLikelihood(Likelihood):
    """Binary pixels; the decoder outputs logits."""

    bits_per_dim = True
    needs_binary_data = True

    def forward(self, out: Tensor) -> Bernoulli:
        return Bernoulli(out, self.event_dims)


@likelihoods.register("cbernoulli")
class ContinuousBernoulliLikelihood(Likelihood):
    """Grey levels in [0, 1], normalised (Loaiza-Ganem & Cunningham 2019)."""

    def forward(self, out: Tensor) -> ContinuousBernoulli:
        return ContinuousBernoulli(out, self.event_dims)


@likelihoods.register("gaussian")
class FixedGaussianLikelihood(Likelihood):
    """N(D(z), sigma^2) with sigma fixed by the config."""

    any_real_value = True
    parameter = "logvar"
    fixed_sigma = True

    def __init__(self, shape: tuple[int, ...], sigma: float = 1.0):
        super().__init__(shape)
        self.register_buffer("logvar", torch.tensor(2.0 * math.log(sigma)))

    def forward(self, out: Tensor) -> Gaussian:
        return Gaussian(out, self.logvar, self.event_dims)


@likelihoods.register("gaussian-learned")
class LearnedGaussianLikelihood(Likelihood):
    """N(D(z), sigma^2) with one learned sigma^2: the d*log(sigma^2) + ||x - D(z)||^2/sigma^2 objective."""

    any_real_value = True
    parameter = "logvar"

    def __init__(self, shape: tuple[int, ...], sigma: float = 1.0):
        super().__init__(shape)
        self.logvar = nn.Parameter(torch.zeros(()))

    def forward(self, out: Tensor) -> Gaussian:
        return Gaussian(out, self.logvar, self.event_dims)


@likelihoods.register("gaussian-learned-pixel")
class PixelGaussianLikelihood(LearnedGaussianLikelihood):
    """N(D(z), diag(sigma^2)) with one learned sigma^2 per pixel (not a function of z)."""

    def __init__(self, shape: tuple[int, ...], sigma: float = 1.0):
        Likelihood.__init__(self, shape)
        self.logvar = nn.Parameter(torch.zeros(shape))


@likelihoods.register("discretized-logistic")
class DiscretizedLogisticLikelihood(Likelihood):
    """8-bit grey or colour pixels: a logistic around D(z) per pixel, with one learned scale per pixel
    (not a function of z), summed over each 8-bit value's bin: a probability, so bits per dimension."""

    bits_per_dim = True
    parameter = "log_scale"

    def __init__(self, shape: tuple[int, ...], sigma: float = 1.0):
        super().__init__(shape)
        self.log_scale = nn.Parameter(torch.full(shape, INITIAL_LOG_SCALE))

    def forward(self, out: Tensor) -> DiscretizedLogistic:
        return DiscretizedLogistic(out, self.log_scale, self.event_dims)


@likelihoods.register("categorical")
class CategoricalSequenceLikelihood(Likelihood):
    """Token sequences: the gru decoder's output already is p(x|z), an autoregressive categorical."""

    reads_tokens = True  # a probability, but no bits per dimension: a sequence has no fixed length
    parameter = None  # not exported: a GRU decoder has no fixed-shape output

    def forward(self, out):  # a vaelab.nets.gru.TokenSequence
        return out

