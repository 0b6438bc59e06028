"""bench.ae_vs_vae's pure parts: the moment-matched Gaussian of an aggregate posterior, its KL from
N(0, I), and the classifier verdict on prior samples. Synthetic tensors only: no MNIST, no training."""
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root holds `bench`, not installed
from bench.ae_vs_vae import (
    aggregate_gaussian,
    kl_to_standard_normal,
    moment_matched_kl,
    prior_sample_verdict,
)


def with_moments(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """n points whose mean and covariance (divisor n) are exactly `mean` and `cov`."""
    x = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x - x.mean(0)
    white = torch.linalg.solve_triangular(torch.linalg.cholesky(x.T @ x / n), x.T, upper=False).T  # Cov = I
    return mean + white @ torch.linalg.cholesky(cov).T


def closed_form(mean: torch.Tensor, cov: torch.Tensor) -> float:
    d = len(mean)
    return 0.5 * float(torch.trace(cov) + mean @ mean - d - torch.logdet(cov))


def test_standard_normal_samples_give_about_zero():
    z = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(1))
    assert moment_matched_kl(z) == pytest.approx(0.0, abs=1e-3)


def test_known_mean_and_covariance_give_the_closed_form():
    mean = torch.tensor([1.5, -0.5], dtype=torch.float64)
    cov = torch.tensor([[2.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
    mu = with_moments(500, mean, cov)
    m, s = aggregate_gaussian(mu)
    assert torch.allclose(m, mean) and torch.allclose(s, cov)
    expected = closed_form(mean, cov)
    assert moment_matched_kl(mu) == pytest.approx(expected, rel=1e-9)
    reference = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(mean, cov),
                                                  torch.distributions.MultivariateNormal(torch.zeros(2).double(),
                                                                                         torch.eye(2).double()))
    assert expected == pytest.approx(float(reference), rel=1e-9)


def test_the_posterior_variances_join_the_covariance():
    """A VAE whose means are spread as N(0, 0.75 I) and whose posteriors all have variance 0.25
    has the aggregate moments of N(0, I); without the variances, the KL is that of N(0, 0.75 I)."""
    mu = with_moments(400, torch.zeros(3, dtype=torch.float64), 0.75 * torch.eye(3, dtype=torch.float64))
    logvar = torch.full_like(mu, math.log(0.25))
    _, s = aggregate_gaussian(mu, logvar)
    assert torch.allclose(s, torch.eye(3, dtype=torch.float64))
    assert moment_matched_kl(mu, logvar) == pytest.approx(0.0, abs=1e-12)
    assert moment_matched_kl(mu) == pytest.approx(0.5 * 3 * (0.75 - 1 - math.log(0.75)), rel=1e-9)


def test_point_masses_on_a_line_have_infinite_kl_and_float32_is_accepted():
    assert moment_matched_kl(torch.ones(50, 2)) == math.inf  # S = 0: every code the same point
    t = torch.linspace(-1, 1, 50)
    assert moment_matched_kl(torch.stack([t, 2 * t], 1)) > 15  # S singular (inf) or, after rounding, nearly
    assert math.isfinite(moment_matched_kl(torch.randn(100, 2)))
    assert kl_to_standard_normal(torch.zeros(2), torch.eye(2)) == 0.0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        aggregate_gaussian(torch.zeros(5))
    with pytest.raises(ValueError):
        aggregate_gaussian(torch.zeros(5, 2), torch.zeros(5, 3))


def test_prior_sample_verdict_counts_confident_samples_and_their_digits():
    p = torch.full((5, 10), 0.0)
    p[0, 1] = p[1, 1] = 1.0  # two confident 1s
    p[2, 8] = 0.95
    p[2, 0] = 0.05  # a confident 8
    p[3, 3] = 0.92
    p[3, 1] = 0.08  # a confident 3
    p[4, 1], p[4, 8] = 0.6, 0.4  # unsure
    v = prior_sample_verdict(p)
    assert v["confident"] == pytest.approx(0.8)
    assert (v["share_1"], v["share_8"], v["share_other"]) == pytest.approx((0.5, 0.25, 0.25))
    none = prior_sample_verdict(torch.full((3, 10), 0.1))
    assert none["confident"] == 0.0 and none["share_1"] is None and none["share_other"] is None
