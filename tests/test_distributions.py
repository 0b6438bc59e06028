"""Every formula against torch.distributions, on random inputs."""
import math

import pytest
import torch
import torch.distributions as D

from vaelab.config import ModelConfig
from vaelab.distributions import (Bernoulli, ContinuousBernoulli, DiagonalGaussian, DiscretizedLogistic, Gaussian,
                                  continuous_bernoulli_log_norm, standard_normal_log_prob)
from vaelab.models import VAE
from vaelab.registry import likelihoods


@pytest.fixture(autouse=True)
def _float64_and_seed():
    """Compare formulas, not rounding; restore the default so later test modules are unaffected."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(previous)


def test_kl_matches_torch():
    mu, logvar = torch.randn(64, 8) * 2, torch.randn(64, 8)
    ours = DiagonalGaussian(mu, logvar).kl()
    q = D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = D.Independent(D.Normal(torch.zeros(8), torch.ones(8)), 1)
    torch.testing.assert_close(ours, D.kl_divergence(q, p))


def test_posterior_and_prior_log_prob_match_torch():
    mu, logvar, z = torch.randn(32, 5), torch.randn(32, 5), torch.randn(32, 5)
    q = D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1)
    torch.testing.assert_close(DiagonalGaussian(mu, logvar).log_prob(z), q.log_prob(z))
    torch.testing.assert_close(standard_normal_log_prob(z), D.Independent(D.Normal(0.0, torch.ones(5)), 1).log_prob(z))


def test_bernoulli_matches_torch_even_for_extreme_logits():
    logits = torch.randn(16, 1, 4, 4) * 30
    x = torch.bernoulli(torch.full_like(logits, 0.5))
    expected = D.Independent(D.Bernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(Bernoulli(logits, 3).log_prob(x), expected)
    assert torch.isfinite(Bernoulli(logits, 3).log_prob(x)).all()


@pytest.mark.parametrize("scale", [1e-4, 0.05, 1.0, 5.0])
def test_continuous_bernoulli_matches_torch(scale):
    # torch clamps probabilities, so beyond |logit| ~ 30 it is the one that is off; see the next test.
    logits = torch.randn(16, 30) * scale
    x = torch.rand(16, 30)
    expected = D.Independent(D.ContinuousBernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(ContinuousBernoulli(logits, 1).log_prob(x), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ContinuousBernoulli(logits, 1).mean, D.ContinuousBernoulli(logits=logits).mean,
                               rtol=1e-6, atol=1e-6)


def test_continuous_bernoulli_is_normalised():
    """Its density integrates to 1 over [0, 1] (trapezoid rule), which a missing log C would break."""
    grid = torch.linspace(0, 1, 200001)
    for logit in (-40.0, -8.0, -0.03, 0.0, 0.5, 6.0, 40.0):
        dens = torch.exp(ContinuousBernoulli(torch.full_like(grid, logit), 0).log_prob(grid))
        assert torch.trapezoid(dens, grid).item() == pytest.approx(1.0, abs=1e-6)
    assert continuous_bernoulli_log_norm(torch.zeros(1)).item() == pytest.approx(math.log(2))


def test_continuous_bernoulli_samples_have_the_right_mean():
    logits = torch.tensor([-5.0, -0.05, 0.0, 0.05, 3.0, 80.0]).repeat(200_000, 1)
    dist = ContinuousBernoulli(logits, 0)
    x = dist.sample(torch.Generator().manual_seed(1))
    assert ((x >= 0) & (x <= 1)).all()
    torch.testing.assert_close(x.mean(0), dist.mean[0], atol=3e-3, rtol=0)


def test_gaussian_matches_torch_with_scalar_and_per_pixel_variance():
    loc, x = torch.randn(8, 3, 4), torch.randn(8, 3, 4)
    for logvar in (torch.tensor(0.3), torch.randn(3, 4)):
        expected = D.Independent(D.Normal(loc, torch.exp(0.5 * logvar).expand_as(loc)), 2).log_prob(x)
        torch.testing.assert_close(Gaussian(loc, logvar, 2).log_prob(x), expected)


def test_fixed_gaussian_likelihood_uses_its_sigma():
    head = likelihoods.get("gaussian")((4,), sigma=0.1)
    x, out = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(head(out).log_prob(x).double(),
                               D.Independent(D.Normal(out, 0.1), 1).log_prob(x), rtol=1e-5, atol=1e-5)


def test_reparameterised_samples_have_the_right_moments():
    mu, logvar = torch.tensor([[1.5, -2.0, 0.0]]), torch.tensor([[0.0, math.log(4.0), math.log(0.01)]])
    z = DiagonalGaussian(mu, logvar).rsample(torch.Generator().manual_seed(0), k=200_000)[:, 0]
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), logvar[0].exp(), rtol=0.02, atol=1e-4)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", [n for n in likelihoods.names() if not likelihoods.get(n).reads_tokens])
def test_gradients_reach_the_encoder_through_the_sample(arch, likelihood):
    torch.set_default_dtype(torch.float32)
    model = VAE(ModelConfig(arch=arch, shape=(1, 8, 8), latent_dim=3, hidden=(16,), channels=(4,),
                            likelihood=likelihood))
    x = torch.rand(5, 1, 8, 8).round()
    # Only the reconstruction term: its gradient reaches the encoder solely through z = mu + sigma * eps.
    qz = model.posterior(x)
    z = qz.rsample(torch.Generator().manual_seed(0))
    model.px(z).log_prob(x).sum().backward()
    for name, p in model.encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_autoencoder_has_a_point_mass_posterior():
    torch.set_default_dtype(torch.float32)
    model = VAE(ModelConfig(arch="mlp", shape=(6,), latent_dim=2, hidden=(8,), likelihood="gaussian",
                            regularizer="none"))
    assert torch.isneginf(model.posterior(torch.randn(4, 6)).logvar).all()
    x = torch.randn(4, 6)
    qz = model.posterior(x)
    torch.testing.assert_close(qz.rsample(torch.Generator().manual_seed(3)), qz.mu)


def _logistic_bin_masses(loc: float, scale: float) -> torch.Tensor:
    """The 256 bin masses by the definition: logistic CDF differences at the bin edges, outer bins open."""
    edges = (torch.arange(1, 256, dtype=torch.float64) - 0.5) / 255
    cdf = torch.sigmoid((edges - loc) / scale)
    return torch.diff(torch.cat([torch.zeros(1), cdf, torch.ones(1)]))


@pytest.mark.parametrize("loc,log_scale", [(0.5, -3.0), (0.02, -5.0), (0.97, -1.0), (-0.3, -2.0), (1.4, -6.0)])
def test_discretized_logistic_is_a_distribution_over_the_256_levels(loc, log_scale):
    levels = torch.arange(256, dtype=torch.float64) / 255
    d = DiscretizedLogistic(torch.full((256,), loc), torch.full((256,), log_scale), 0)
    lp = d.log_prob(levels)
    assert torch.isfinite(lp).all()
    # bins below 1e-5 use the density at their centre instead of a CDF difference: off by ~1e-7 in all
    torch.testing.assert_close(lp.exp().sum(), torch.tensor(1.0, dtype=torch.float64), rtol=0, atol=1e-6)
    reference = _logistic_bin_masses(loc, math.exp(log_scale))
    big = reference > 1e-5  # where the mass is large enough that the CDF difference is what is used
    torch.testing.assert_close(lp[big].exp(), reference[big])


def test_discretized_logistic_tails_stay_finite_in_float32():
    d = DiscretizedLogistic(torch.zeros(1, 3, dtype=torch.float32), torch.full((1, 3), -7.0), 1)
    lp = d.log_prob(torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float32))
    assert torch.isfinite(lp).all() and lp.item() < -1000  # far tails are improbable, never -inf or NaN


def test_discretized_logistic_samples_lie_on_the_levels():
    d = DiscretizedLogistic(torch.rand(4, 10), torch.full((4, 10), -3.0), 1)
    x = d.sample(torch.Generator().manual_seed(0))
    assert ((x * 255 - (x * 255).round()).abs() < 1e-9).all() and x.min() >= 0 and x.max() <= 1
