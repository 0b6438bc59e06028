"""The latent toolkit's functions, on models whose right answers are known by construction."""

import numpy as np
import pytest
import torch
from PIL import Image

from vaelab.errors import InputError
from vaelab.latent.attributes import apply_vector, attribute_vector, is_monotonic, measure, quartile_masks
from vaelab.latent.maps import manifold, project_2d, scatter_codes
from vaelab.latent.paths import interpolate, lerp, path_smoothness, slerp, step_distances
from vaelab.latent.search import knn_accuracy, nearest_neighbors, save_latents
from vaelab.latent.traverse import dimension_order, latent_statistics, traverse


class LatentIsImage:
    """A stand-in model whose code is the image itself (2x2 pixels = 4 latent dimensions), or a
    decoder that snaps every code to the nearer of two prototypes (a 'jumpy' latent space)."""

    conditional = False
    stochastic = True

    def __init__(self, latent_dim=4, logvar=0.0, snap=False):
        self.latent_dim, self.shape, self.snap, self._logvar = latent_dim, (1, 2, 2), snap, logvar

    def encode_all(self, x, y=None, batch_size=500):
        return self.encode(x)

    def encode(self, x, y=None):
        mu = x.reshape(len(x), -1)[:, :self.latent_dim].float()
        return mu, torch.full_like(mu, self._logvar)

    def decode(self, z, y=None):
        z = torch.as_tensor(z, dtype=torch.float32)
        if self.snap:
            z = (z.mean(-1, keepdim=True) > 0.5).float().expand_as(z)
        return z.reshape(len(z), *self.shape)


# --- paths -----------------------------------------------------------------------------------------
def test_lerp_and_slerp_hit_the_endpoints_and_slerp_keeps_the_norm():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 3.0, 0.0])
    for path in (lerp(a, b, 7), slerp(a, b, 7)):
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(lerp(a, b, 3)[1], (a + b) / 2)
    torch.testing.assert_close(slerp(a, b, 7).norm(dim=-1), torch.full((7,), 3.0))
    assert lerp(a, b, 3)[1].norm() < 3.0 - 0.5  # the straight line cuts the corner
    torch.testing.assert_close(slerp(a, 2 * a, 4), lerp(a, 2 * a, 4))  # parallel codes: no arc, plain lerp


def test_interpolation_decodes_from_one_posterior_mean_to_the_other():
    model = LatentIsImage()
    xa, xb = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    frames, z = interpolate(model, xa, xb, steps=5)
    assert frames.shape == (5, 1, 2, 2) and z.shape == (5, 4)
    torch.testing.assert_close(frames[0], xa[0])
    torch.testing.assert_close(frames[-1], xb[0])
    torch.testing.assert_close(step_distances(frames), torch.full((4,), 0.25))
    with pytest.raises(InputError, match="takes 2..1000 steps"):
        interpolate(model, xa, xb, steps=1)


def test_smoothness_tells_an_even_path_from_a_jump():
    x = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2), torch.full((1, 2, 2), 0.2)])
    pairs = torch.tensor([[0, 1], [2, 1]])
    even = path_smoothness(LatentIsImage(), x, pairs, steps=9)
    jumpy = path_smoothness(LatentIsImage(snap=True), x, pairs, steps=9)
    assert even["max_over_mean"] == pytest.approx(1.0)
    assert jumpy["max_over_mean"] == pytest.approx(8.0)  # all the change happens in one of 8 steps
    assert jumpy["max_step"] > 3 * even["max_step"] and even["pairs"] == 2


# --- traversal ---------------------------------------------------------------------------------------
def test_traversal_moves_one_dimension_per_row():
    model = LatentIsImage()
    anchor = torch.tensor([0.1, 0.2, 0.3, 0.4])
    rows = traverse(model, [2, 0], anchor, span=2.0, steps=5)
    assert rows.shape == (2, 5, 1, 2, 2)
    codes = rows.reshape(2, 5, 4)
    for row, d in enumerate([2, 0]):
        torch.testing.assert_close(codes[row, :, d], torch.linspace(-2, 2, 5))
        others = [i for i in range(4) if i != d]
        torch.testing.assert_close(codes[row][:, others], anchor[others].expand(5, 3))
    with pytest.raises(InputError, match="dimension 4 does not exist"):
        traverse(model, [4], anchor)


def test_latent_statistics_rank_dimensions_by_kl_and_mark_the_inactive():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 1, 2, 2, generator=g) * torch.tensor([0.001, 2.0, 0.5, 1.0]).reshape(1, 1, 2, 2)
    stats = latent_statistics(LatentIsImage(logvar=-1.0), x)
    mu = x.reshape(400, 4).double()
    expected_kl = 0.5 * (mu**2 + np.exp(-1.0) - 1 + 1.0).mean(0)
    torch.testing.assert_close(stats["kl"], expected_kl)
    assert stats["active"].tolist() == [False, True, True, True]
    assert dimension_order(stats) == [1, 3, 2, 0]


# --- attributes ------------------------------------------------------------------------------------
def test_attribute_vector_is_the_difference_of_group_means_and_shifts_codes():
    mu = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    has = torch.tensor([True, True, False, False])
    v = attribute_vector(mu, has, ~has)
    torch.testing.assert_close(v, torch.tensor([2.0, -2.0]))
    model = LatentIsImage(latent_dim=4)
    z = torch.zeros(3, 4)
    shifted = apply_vector(model, z, torch.tensor([1.0, 0.0, 0.0, 0.0]), [-1.0, 0.0, 2.0])
    assert shifted.shape == (3, 3, 1, 2, 2)
    torch.testing.assert_close(shifted[:, :, 0, 0, 0], torch.tensor([[-1.0, 0.0, 2.0]] * 3))
    with pytest.raises(InputError, match="with and without"):
        attribute_vector(mu, has, torch.zeros(4, dtype=torch.bool))


def test_ink_quartiles_and_monotonicity():
    x = torch.arange(8, dtype=torch.float32).reshape(8, 1, 1, 1).expand(8, 1, 2, 2) / 8
    torch.testing.assert_close(measure("ink", x), torch.arange(8.0) / 8)
    thick, thin = quartile_masks(measure("ink", x))
    assert thick.tolist() == [False] * 6 + [True] * 2 and thin.tolist() == [True] * 2 + [False] * 6
    assert is_monotonic([0.1, 0.2, 0.5]) and not is_monotonic([0.1, 0.3, 0.2]) and not is_monotonic([0.1, 0.1])
    with pytest.raises(InputError, match="unknown property"):
        measure("colour", x)


# --- export and search ---------------------------------------------------------------------------------
def test_latents_save_as_plain_arrays(tmp_path):
    mu, logvar, labels = torch.randn(5, 3), torch.randn(5, 3), torch.arange(5)
    path = save_latents(tmp_path / "z.npz", mu, logvar, labels)
    with np.load(path, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["mu"], mu.numpy())
        np.testing.assert_array_equal(f["logvar"], logvar.numpy())
        np.testing.assert_array_equal(f["labels"], labels.numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["z.npz"]  # no temporary file left


def test_nearest_neighbours_agree_with_brute_force():
    g = torch.Generator().manual_seed(1)
    index, queries = torch.randn(300, 6, generator=g), torch.randn(10, 6, generator=g)
    dist, idx = nearest_neighbors(index.numpy(), queries.numpy(), 4)
    brute = torch.cdist(queries.double(), index.double()).topk(4, largest=False)
    np.testing.assert_array_equal(idx, brute.indices.numpy())
    np.testing.assert_allclose(dist, brute.values.numpy(), rtol=1e-5)
    with pytest.raises(InputError):
        nearest_neighbors(index.numpy(), queries.numpy(), 301)


def test_knn_accuracy_on_separable_and_on_random_labels():
    g = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 10.0]])
    y_train, y_test = g.integers(0, 2, 200), g.integers(0, 2, 100)
    train, test = centres[y_train] + g.normal(size=(200, 2)), centres[y_test] + g.normal(size=(100, 2))
    assert knn_accuracy(train, y_train, test, y_test)["accuracy"] == 1.0
    assert knn_accuracy(train, g.integers(0, 2, 200), test, y_test)["accuracy"] < 0.75


def test_encode_all_batches_like_one_call():
    model = LatentIsImage()
    x = torch.rand(11, 1, 2, 2)
    mu, logvar = model.encode_all(x, batch_size=4)
    torch.testing.assert_close(mu, x.reshape(11, 4))


# --- maps ------------------------------------------------------------------------------------------
def test_manifold_lays_gaussian_quantiles_out_on_a_grid():
    model = LatentIsImage(latent_dim=2)
    model.shape = (1, 1, 2)
    grid = manifold(model, n=4).reshape(4, 4, 2)
    q = torch.special.ndtri(torch.tensor([0.125, 0.375, 0.625, 0.875]))
    torch.testing.assert_close(grid[0, :, 0], q)  # z1 left to right
    torch.testing.assert_close(grid[:, 0, 1], q.flip(0))  # z2 from the top (high) down
    with pytest.raises(InputError, match="2-D latent"):
        manifold(LatentIsImage(latent_dim=4))


def test_projection_is_pca_above_two_dimensions(tmp_path):
    g = np.random.default_rng(0)
    mu = g.normal(size=(500, 5)) * np.array([5.0, 0.1, 0.1, 2.0, 0.1])
    points, method, axes = project_2d(mu)
    assert "PCA" in method and points.shape == (500, 2)
    assert points[:, 0].var() == pytest.approx(25, rel=0.2) and points[:, 1].var() == pytest.approx(4, rel=0.2)
    same, method2, _ = project_2d(mu[:, :2])
    assert same is not None and np.array_equal(same, mu[:, :2]) and "PCA" not in method2
    out = scatter_codes(mu, g.integers(0, 3, 500), tmp_path / "map.png", title="test")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 300
