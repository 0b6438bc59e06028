"""beta-TCVAE's total-correlation estimate and its place in the loss."""
import math

import torch

from vaelab.config import ModelConfig
from vaelab.models.vae import VAE
from vaelab.objectives import total_correlation


def _gaussian_batch(m: int, rho: float, posterior_var: float, seed: int = 0):
    """mu from a 2-D Gaussian with correlation rho, posteriors N(mu, posterior_var I), z drawn from them."""
    g = torch.Generator().manual_seed(seed)
    scale = math.sqrt(1 - posterior_var)
    a, b = torch.randn(m, generator=g), torch.randn(m, generator=g)
    mu = scale * torch.stack([a, rho * a + math.sqrt(1 - rho**2) * b], -1)
    logvar = torch.full_like(mu, math.log(posterior_var))
    z = mu + math.sqrt(posterior_var) * torch.randn(mu.shape, generator=g)
    return z, mu, logvar


def test_tc_matches_the_closed_form_of_a_gaussian_aggregate():
    # The aggregate posterior is close to N(0, S) with unit variances and correlation 0.9 * rho,
    # whose TC is -0.5 log(1 - r^2).
    for rho in (0.0, 0.5, 0.9):
        tc = total_correlation(*_gaussian_batch(3000, rho, 0.1)).mean().item()
        r = (1 - 0.1) * rho
        assert abs(tc - (-0.5 * math.log(1 - r**2))) < 0.05, (rho, tc)


def test_tc_grows_with_dependence_between_dimensions():
    values = [total_correlation(*_gaussian_batch(1000, rho, 0.05)).mean().item() for rho in (0.0, 0.6, 0.95)]
    assert values[0] < values[1] < values[2]
    assert abs(values[0]) < 0.05


def test_tc_loss_with_beta_one_is_the_negative_elbo_and_beta_weighs_only_tc():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8).bernoulli()
    config = dict(arch="mlp", shape=(1, 8, 8), latent_dim=3, hidden=(16,))
    plain = VAE(ModelConfig(**config, regularizer="kl"))
    tcvae = VAE(ModelConfig(**config, regularizer="tc"))
    tcvae.load_state_dict(plain.state_dict())
    elbo = plain(x, generator=torch.Generator().manual_seed(1))
    same = tcvae(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(same.loss, elbo.loss)
    torch.testing.assert_close(same.reg, elbo.reg)  # reg reports the KL in both

    heavy = VAE(ModelConfig(**config, regularizer="tc", beta=6.0))
    heavy.load_state_dict(plain.state_dict())
    terms = heavy(x, generator=torch.Generator().manual_seed(1))
    qz = plain.posterior(x)
    z = qz.rsample(torch.Generator().manual_seed(1))
    tc = total_correlation(z, qz.mu, qz.logvar).mean()
    torch.testing.assert_close(terms.loss, elbo.loss + 5.0 * tc)
    half = heavy(x, beta=3.0, generator=torch.Generator().manual_seed(1))  # half-way through a warm-up
    torch.testing.assert_close(half.loss, terms.recon + 0.5 * (terms.reg + 5.0 * tc))
