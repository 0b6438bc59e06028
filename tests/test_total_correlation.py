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


def test_stratified_estimator_is_mws_at_n_equal_m_and_both_find_a_wide_gaussian_aggregate():
    z, mu, logvar = _gaussian_batch(256, 0.6, 0.1)
    torch.testing.assert_close(total_correlation(z, mu, logvar, dataset_size=256), total_correlation(z, mu, logvar))
    # With posteriors wide next to the codes' spacing, the own posterior hardly matters: both
    # estimators find the closed form (correlation 0.9 * 0.6) from a large batch.
    z, mu, logvar = _gaussian_batch(3000, 0.6, 0.1)
    exact = -0.5 * math.log(1 - (0.9 * 0.6) ** 2)
    for n in (None, 100_000):
        assert abs(total_correlation(z, mu, logvar, dataset_size=n).mean().item() - exact) < 0.05, n


def test_stratified_estimator_looks_past_a_codes_own_narrow_posterior():
    # Narrow posteriors in a small batch: MWS's joint density at z_i is almost only q(z_i|x_i), so
    # its TC hardly tells independent codes from dependent ones; MSS weighs that term 1/N and
    # reads z_i against the other codes, so it separates them.
    def tc(rho, n):
        return sum(total_correlation(*_gaussian_batch(64, rho, 0.0025, seed), dataset_size=n).mean().item()
                   for seed in range(20)) / 20

    mws_gap, mss_gap = tc(0.95, None) - tc(0.0, None), tc(0.95, 80_000) - tc(0.0, 80_000)
    assert mss_gap > 2 * mws_gap > 0, (mss_gap, mws_gap)


def test_the_model_uses_the_stratified_estimator_with_its_training_set_size():
    torch.manual_seed(0)
    x = torch.rand(32, 1, 8, 8).bernoulli()
    config = dict(arch="mlp", shape=(1, 8, 8), latent_dim=3, hidden=(16,), regularizer="tc", beta=4.0)
    mws, mss = VAE(ModelConfig(**config)), VAE(ModelConfig(**config, tc_estimator="mss"))
    mss.load_state_dict(mws.state_dict())
    same = [m(x, generator=torch.Generator().manual_seed(1)).loss for m in (mws, mss)]
    torch.testing.assert_close(same[0], same[1])  # no data-set size known: N = M, i.e. MWS
    qz = mss.posterior(x)
    z = qz.rsample(torch.Generator().manual_seed(1))
    terms = mss(x, generator=torch.Generator().manual_seed(1), dataset_size=50_000)
    expected = terms.recon + terms.reg + 3.0 * total_correlation(z, qz.mu, qz.logvar, 50_000).mean()
    torch.testing.assert_close(terms.loss, expected)
    assert abs(terms.loss.item() - same[0].item()) > 1e-5  # and it is not MWS's loss
