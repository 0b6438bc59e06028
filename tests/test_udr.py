"""UDR (Duan et al. 2020) on synthetic codes whose agreement is known."""
import numpy as np
import pytest
from scipy.stats import spearmanr

from vaelab.metrics.udr import informative_dimensions, pair_score, rank_correlations, udr_from_posteriors, udr_scores

N, D = 4000, 5


@pytest.fixture(scope="module")
def factors():
    return np.random.default_rng(0).uniform(-1, 1, size=(N, D))


def _rotation(dim: int, seed: int = 2) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q


def _same_up_to_order_sign_and_scale(code: np.ndarray, seed: int) -> np.ndarray:
    """What another disentangled seed would learn: the factors permuted, flipped and monotonically bent."""
    rng = np.random.default_rng(seed)
    bent = np.sinh(2 * code[:, rng.permutation(code.shape[1])]) * rng.choice([-1.0, 1.0], code.shape[1])
    return bent + 0.01 * rng.standard_normal(code.shape)


def test_rank_correlations_are_spearmans(factors):
    a, b = factors[:500, :3], factors[:500, 2:] + 0.3 * factors[:500, :3]
    expected = np.abs(spearmanr(a, b).statistic[:3, 3:])
    np.testing.assert_allclose(rank_correlations(a, b), expected, atol=1e-12)
    constant = np.ones((500, 1))
    assert (rank_correlations(a, constant) == 0).all()  # correlates with nothing, and no NaN


def test_copies_agree_rotations_less_and_noise_not_at_all(factors):
    same = pair_score(factors, _same_up_to_order_sign_and_scale(factors, seed=1))
    rotated = pair_score(factors, factors @ _rotation(D))
    noise = pair_score(factors, np.random.default_rng(5).standard_normal((N, D)))
    assert same > 0.9  # not 1: chance correlations (~1/sqrt(N)) between independent factors stay in the sums
    assert rotated < 0.6
    assert noise < 0.05


def test_extra_dimensions_lower_the_score(factors):
    """A run that splits one factor over two dimensions agrees less than one that keeps it whole."""
    split = np.concatenate([factors, factors[:, :1] + 0.5 * np.random.default_rng(7).standard_normal((N, 1))], 1)
    assert pair_score(factors, split) < pair_score(factors, factors) - 0.05


def test_median_over_pairs_ranks_the_odd_run_last(factors):
    codes = [_same_up_to_order_sign_and_scale(factors, seed=s) for s in (1, 2, 3)] + [factors @ _rotation(D)]
    result = udr_scores(codes)
    assert np.argmin(result["udr"]) == 3
    pairs = result["pairwise"]
    assert all(pairs[i][i] is None for i in range(4))
    assert all(pairs[i][j] == pairs[j][i] for i in range(4) for j in range(4))
    assert result["udr"][0] == pytest.approx(np.median([pairs[0][1], pairs[0][2], pairs[0][3]]))


def test_only_informative_dimensions_count(factors):
    """Dimensions at the prior (KL ~ 0) are dropped, even when their means wobble with a factor."""
    mu = np.concatenate([factors, 0.01 * factors[:, :1]], 1)  # the last one: tiny mean, wide posterior
    logvar = np.concatenate([np.full((N, D), -4.0), np.zeros((N, 1))], 1)
    np.testing.assert_array_equal(informative_dimensions(mu, logvar), [True] * D + [False])
    other = factors[:, ::-1].copy()
    result = udr_from_posteriors([(mu, logvar), (other, np.full((N, D), -4.0))])
    assert result["informative_dimensions"] == [list(range(D)), list(range(D))]
    assert result["udr"][0] == pytest.approx(pair_score(factors, other))
    assert result["udr"][0] > pair_score(mu, other) + 0.03  # the wobbling dimension would have cost agreement
    # an autoencoder (no posterior): its varying dimensions count
    point = np.concatenate([factors, np.zeros((N, 1))], 1)
    np.testing.assert_array_equal(informative_dimensions(point, np.full((N, D + 1), -np.inf)), [True] * D + [False])


def test_a_run_without_informative_dimensions_agrees_with_nothing(factors):
    assert pair_score(factors, np.zeros((N, 0))) == 0.0
