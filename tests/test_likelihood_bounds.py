"""The IWAE bound's ordering, and exact likelihood on probabilistic PCA, where log p(x) has a closed form."""
import math

import pytest
import torch

from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.data import fixed_binarization
from vaelab.metrics.likelihood import evaluate
from vaelab.model import Model
from vaelab.models import VAE
from vaelab.objectives import StreamingLogMeanExp, log_mean_exp
from vaelab.train.trainer import train


def test_streaming_log_mean_exp_equals_the_one_shot_value():
    log_w = torch.randn(1000, 7) * 30
    stream = StreamingLogMeanExp()
    for chunk in log_w.split(37):
        stream.add(chunk)
    torch.testing.assert_close(stream.value(), log_mean_exp(log_w.double(), 0))


def _blobs(n: int, seed: int) -> torch.Tensor:
    """Binary 8x8 images: one of three bars, with pixel noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 8, 8)
    kind = torch.randint(0, 3, (n,), generator=g)
    x[kind == 0, :, 2:4, :] = 1
    x[kind == 1, :, :, 3:5] = 1
    x[kind == 2, :, 5:7, 1:7] = 1
    flip = torch.rand(x.shape, generator=g) < 0.05
    return torch.where(flip, 1 - x, x)


@pytest.fixture(scope="module")
def bar_model():
    data = Splits(_blobs(2000, 0), _blobs(200, 1), _blobs(300, 2))
    config = RunConfig(data=DataConfig(name="arrays", binarize="none"),
                       model=ModelConfig(arch="mlp", shape=(1, 8, 8), latent_dim=4, hidden=(32,)),
                       train=TrainConfig(epochs=3, batch_size=64, lr=3e-3))
    return train(config, data, progress=False), config, data


def test_iwae_is_above_the_elbo_and_tightens_with_k(bar_model):
    model, config, data = bar_model
    results = {k: evaluate(model, data, iwae_k=k, seed=1) for k in (1, 10, 100)}
    # In negative-log form: -IWAE_K <= -ELBO on average, and non-increasing in K.
    for k, r in results.items():
        assert r["nll_iwae"] <= r["elbo"] + 3 * r["nll_iwae_sem"] / math.sqrt(k), k
    assert results[10]["nll_iwae"] < results[1]["nll_iwae"]
    assert results[100]["nll_iwae"] < results[10]["nll_iwae"]
    # With K = 1 the IWAE bound is the ELBO itself (same expectation).
    assert results[1]["nll_iwae"] == pytest.approx(results[1]["elbo"], abs=1.0)
    assert results[100]["nll_iwae"] < results[100]["elbo"] - 0.1


@pytest.mark.parametrize("classes", [0, 3])
def test_decoding_in_slices_gives_the_same_estimate(monkeypatch, classes):
    """The decoder call size is a speed setting only: the draws and the figures do not depend on it."""
    from vaelab.metrics import likelihood

    torch.manual_seed(0)
    model = VAE(ModelConfig(arch="conv", shape=(1, 8, 8), latent_dim=3, channels=(4,), res_blocks=1,
                            num_classes=classes)).eval()
    x = _blobs(10, 3)
    cond = model.one_hot(torch.arange(10) % classes) if classes else None
    results = []
    for per_call in (likelihood.DRAWS_PER_PASS, 10, 1):  # one call per pass; one sample per call; below one
        monkeypatch.setattr(likelihood, "DECODES_PER_CALL", per_call)
        with torch.no_grad():
            qz = model.posterior(x, cond)
            results.append(likelihood.importance_terms(model, x, 130, torch.Generator().manual_seed(5), qz, cond))
    for nll, recon in results[1:]:
        torch.testing.assert_close(nll, results[0][0])
        torch.testing.assert_close(recon, results[0][1])


@pytest.mark.parametrize("binarize", ["none", "dynamic"])
def test_start_and_limit_evaluate_exactly_those_examples(binarize):
    """A part of a long evaluation is the evaluation of its examples alone, as the whole split presents
    them (with dynamic binarization: the same fixed binary draw), so parts can run apart."""
    torch.manual_seed(0)
    network = VAE(ModelConfig(arch="mlp", shape=(1, 8, 8), latent_dim=2, hidden=(16,))).eval()
    grey = torch.rand(300, 1, 8, 8)
    data = Splits(grey[:100], grey[:100], grey)
    model = Model(network, RunConfig(data=DataConfig(name="arrays", binarize=binarize), model=network.config))
    part = evaluate(model, data, iwae_k=20, seed=4, start=100, n=50, per_example=True)
    seen = fixed_binarization(grey) if binarize == "dynamic" else grey
    as_given = Model(network, RunConfig(data=DataConfig(name="arrays", binarize="none"), model=network.config))
    alone = evaluate(as_given, Splits(data.train, data.val, seen[100:150]), iwae_k=20, seed=4, per_example=True)
    assert part["start"] == 100 and part["n"] == 50 and alone["start"] == 0
    torch.testing.assert_close(part["per_example"]["nll_iwae"], alone["per_example"]["nll_iwae"], rtol=0, atol=0)
    torch.testing.assert_close(part["per_example"]["elbo"], alone["per_example"]["elbo"], rtol=0, atol=0)
    whole = evaluate(model, data, iwae_k=20, seed=4, per_example=True)
    assert not torch.equal(part["per_example"]["elbo"], whole["per_example"]["elbo"][:50])  # other examples


# --- probabilistic PCA -------------------------------------------------------------------------
D_X, D_Z, NOISE = 10, 2, 0.5


def _ppca(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D_X, D_Z, generator=g)
    b = torch.randn(D_X, generator=g)

    def draw(n: int, s: int) -> torch.Tensor:
        gg = torch.Generator().manual_seed(s)
        z = torch.randn(n, D_Z, generator=gg)
        return z @ W.T + b + NOISE * torch.randn(n, D_X, generator=gg)

    return W, b, draw


def exact_log_likelihood(x, W, b, noise_var) -> torch.Tensor:
    """log N(x; b, W W^T + s^2 I), the marginal of x = W z + b + noise (Tipping & Bishop 1999)."""
    cov = W.double() @ W.double().T + noise_var * torch.eye(len(b), dtype=torch.float64)
    dist = torch.distributions.MultivariateNormal(b.double(), covariance_matrix=cov)
    return dist.log_prob(x.double())


@pytest.fixture(scope="module")
def ppca_fit():
    W, b, draw = _ppca()
    data = Splits(draw(5000, 1), draw(500, 2), draw(1000, 3))
    config = RunConfig(data=DataConfig(name="arrays", binarize="none"),
                       model=ModelConfig(arch="mlp", shape=(D_X,), latent_dim=D_Z, hidden=(),
                                         likelihood="gaussian-learned"),
                       train=TrainConfig(epochs=20, batch_size=100, lr=1e-2, seed=0))
    model = train(config, data, progress=False)
    return model, config, data, W, b


def test_linear_vae_gets_within_one_nat_of_the_exact_likelihood(ppca_fit):
    model, config, data, W, b = ppca_fit
    r = evaluate(model, data, iwae_k=500, seed=0, per_example=True)
    exact_nll = -exact_log_likelihood(data.test, W, b, NOISE**2)
    assert abs(r["elbo"] - exact_nll.mean().item()) < 1.0, (r["elbo"], exact_nll.mean().item())
    assert abs(r["nll_iwae"] - exact_nll.mean().item()) < 1.0


def test_iwae_is_never_below_the_models_own_exact_nll_beyond_noise(ppca_fit):
    """IWAE bounds the learned model's own marginal, which is exact here: -IWAE >= -log p_theta(x)."""
    model, config, data, _, _ = ppca_fit
    linear = model.network.decoder.net[0]
    own_nll = -exact_log_likelihood(data.test, linear.weight.detach(), linear.bias.detach(),
                                    model.network.likelihood.logvar.exp().item())
    r = evaluate(model, data, iwae_k=500, seed=0, per_example=True)
    gap = r["per_example"]["nll_iwae"] - own_nll  # >= 0 in expectation
    sem = gap.std() / math.sqrt(len(gap))
    assert gap.mean() >= -3 * sem - 1e-4, (gap.mean().item(), sem.item())
    # ... and with the exact posterior family, the bound is nearly tight.
    assert gap.mean() < 0.05
    assert r["elbo"] >= own_nll.mean().item() - 3 * sem


def test_vae_class_is_shared_by_all_models():
    """The autoencoders are a flag of the same class, not copies."""
    for reg in ("kl", "l2", "none"):
        assert type(VAE(ModelConfig(arch="mlp", shape=(4,), latent_dim=2, regularizer=reg))) is VAE


def test_an_autoencoder_reports_reconstruction_and_no_likelihood():
    data = Splits(_blobs(256, 0), _blobs(64, 1), _blobs(64, 2))
    config = RunConfig(data=DataConfig(name="arrays", binarize="none"),
                       model=ModelConfig(arch="mlp", shape=(1, 8, 8), latent_dim=2, hidden=(16,), regularizer="l2"),
                       train=TrainConfig(epochs=1, batch_size=64))
    r = evaluate(train(config, data, progress=False), data, iwae_k=50)
    assert r["elbo"] is None and r["nll_iwae"] is None and r["kl"] is None
    assert math.isfinite(r["recon"]) and r["recon"] > 0 and r["z_sq"] >= 0
