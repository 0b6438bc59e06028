"""MIG, FactorVAE score and DCI on synthetic codes whose relation to the factors is known."""
import numpy as np
import pytest

from vaelab.errors import InputError
from vaelab.metrics.disentanglement import (dci, factor_vae_score, mutual_information_gap,
                                            posterior_mutual_information_gap)

SIZES = (3, 6, 10, 8, 8)  # at most 20 values each, so 20 bins can tell every value apart


def _factors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(s, size=n) for s in SIZES], -1)


def _copy_code(factors: np.ndarray, seed: int = 1) -> np.ndarray:
    """One code dimension per factor (its value, scaled to [0, 1]) plus a little noise."""
    rng = np.random.default_rng(seed)
    code = factors / (np.array(SIZES) - 1)
    return code + 0.01 * rng.standard_normal(code.shape)


def _rotation(dim: int, seed: int = 2) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q


@pytest.fixture(scope="module")
def codes():
    factors = _factors(3000)
    copy = _copy_code(factors)
    rotated = copy @ _rotation(len(SIZES))
    noise = np.random.default_rng(3).standard_normal(copy.shape)
    return factors, {"copy": copy, "rotated": rotated, "noise": noise}


def test_mig_is_near_one_for_a_copy_lower_for_a_rotation_and_near_zero_for_noise(codes):
    factors, c = codes
    mig = {name: mutual_information_gap(code, factors)["mig"] for name, code in c.items()}
    assert mig["copy"] > 0.9
    assert mig["rotated"] < mig["copy"] - 0.3
    assert mig["noise"] < 0.05


def test_posterior_mig_follows_the_same_order(codes):
    # Codes as posterior means with narrow posteriors (std 0.01); the noise code with wide ones.
    factors, c = codes
    narrow = np.full(c["copy"].shape, 2 * np.log(0.01))
    mig = {name: posterior_mutual_information_gap(code, narrow if name != "noise" else 0 * narrow, factors,
                                                  seed=0)["mig"] for name, code in c.items()}
    assert mig["copy"] > 0.9
    assert mig["rotated"] < mig["copy"] - 0.3
    assert mig["noise"] < 0.05


def test_posterior_mig_ignores_a_mean_that_wobbles_under_a_wide_posterior():
    # A sixth dimension copies factor 3 at 1/20 the scale under a posterior of std 1: it carries
    # almost nothing, yet binned means give it factor 3's full information and halve that gap.
    factors = _factors(2000)
    copy = _copy_code(factors)
    code = np.concatenate([copy, 0.05 * copy[:, 3:4]], 1)
    logvar = np.concatenate([np.full(copy.shape, 2 * np.log(0.01)), np.zeros((2000, 1))], 1)
    binned = mutual_information_gap(code, factors)["per_factor"][3]
    posterior = posterior_mutual_information_gap(code, logvar, factors)["per_factor"][3]
    assert posterior > 0.9 > 0.5 > binned


def test_dci_disentanglement_follows_the_same_order(codes):
    # the random forest, vaelab's earlier DCI (gradient-boosted trees: tests/test_disentanglement_suite.py)
    factors, c = codes
    result = {name: dci(code, factors, model="forest") for name, code in c.items()}
    d = {name: r["disentanglement"] for name, r in result.items()}
    assert d["copy"] > 0.9 and result["copy"]["completeness"] > 0.9
    assert d["rotated"] < d["copy"] - 0.2
    assert d["noise"] < 0.2
    assert result["copy"]["informativeness"] > 0.95 > result["noise"]["informativeness"] + 0.3
    importance = np.array(result["copy"]["importance"])
    assert (importance.argmax(0) == np.arange(len(SIZES))).all()  # factor j is read from code j


def test_factor_vae_score_follows_the_same_order(codes):
    factors, c = codes
    score = {name: factor_vae_score(code, factors, train_votes=500, eval_votes=300)["factor_vae_score"]
             for name, code in c.items()}
    assert score["copy"] > 0.95
    assert score["noise"] < 0.45  # chance is about 1 / 5 factors
    assert score["rotated"] < score["copy"]


def test_extra_dimensions_and_collapsed_dimensions():
    factors = _factors(2000)
    code = np.concatenate([_copy_code(factors), np.zeros((2000, 3))], 1)  # three collapsed dimensions
    assert mutual_information_gap(code, factors)["mig"] > 0.9
    result = factor_vae_score(code, factors, train_votes=300, eval_votes=200)
    assert result["active_dims"] == len(SIZES) and result["factor_vae_score"] > 0.95


def test_each_dimension_is_named_after_the_factor_it_carries(codes):
    from vaelab.metrics.disentanglement import dimension_factors

    factors, c = codes
    names = ("a", "b", "c", "d", "e")
    order = [3, 0, 4, 1, 2]
    carried = dimension_factors(c["copy"][:, order], factors, names)
    assert [name for name, _ in carried] == [names[j] for j in order]
    assert all(mi > 0.9 for _, mi in carried)  # nats: each factor has at least log 3 = 1.1 of entropy


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match="same N"):
        mutual_information_gap(np.zeros((10, 3)), np.zeros((9, 2)))
    with pytest.raises(InputError, match="NaN"):
        dci(np.full((10, 3), np.nan), np.zeros((10, 2)))
    with pytest.raises(InputError, match="logvar"):
        posterior_mutual_information_gap(np.zeros((10, 3)), np.zeros((10, 2)), np.zeros((10, 2)))


def test_example_subset_is_sorted_distinct_and_the_same_for_the_same_seed():
    from vaelab.metrics.disentanglement import example_subset

    keep = example_subset(100, 30, seed=4)
    assert len(set(keep)) == 30 and (np.diff(keep) > 0).all() and keep.max() < 100
    np.testing.assert_array_equal(keep, example_subset(100, 30, seed=4))
    assert not np.array_equal(keep, example_subset(100, 30, seed=5))
    assert example_subset(100, 100, seed=4) is None and example_subset(100, None, seed=4) is None
