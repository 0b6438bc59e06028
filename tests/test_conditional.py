"""The conditional VAE: the label reaches encoder and decoder, and it is required exactly when it should be."""
import pytest
import torch

from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.errors import VaelabError
from vaelab.metrics.likelihood import evaluate
from vaelab.model import Model
from vaelab.models import VAE
from vaelab.registry import architectures
from vaelab.train.trainer import train

PROTOTYPES = (torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(5)) > 0.5).float()


def labelled(n: int, seed: int):
    """Each label has its own binary prototype, with 5% of the pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    flip = (torch.rand(n, 1, 8, 8, generator=g) < 0.05).float()
    return (PROTOTYPES[y] - flip).abs(), y


def data() -> Splits:
    (tr, trl), (va, val), (te, tel) = labelled(512, 0), labelled(64, 1), labelled(64, 2)
    return Splits(tr, va, te, trl, val, tel)


def config(arch: str, classes: int = 3, epochs: int = 8) -> RunConfig:
    return RunConfig(data=DataConfig(name="arrays"),
                     model=ModelConfig(arch=arch, shape=(1, 8, 8), latent_dim=2, channels=(8,), hidden=(32,),
                                       num_classes=classes),
                     train=TrainConfig(epochs=epochs, batch_size=32, lr=1e-2, device="cpu"))


@pytest.mark.parametrize("arch", [n for n in architectures.names() if not architectures.get(n).reads_tokens])
def test_decoder_draws_the_requested_class(arch):
    model = train(config(arch), data(), progress=False)
    for label in range(3):
        samples = model.sample(200, generator=torch.Generator().manual_seed(label), y=label)
        distance = (samples[:, None] - PROTOTYPES[None]).abs().flatten(2).mean(-1).mean(0)  # to each prototype
        assert distance.argmin() == label, f"label {label}: mean distances to the prototypes {distance.tolist()}"


def test_label_changes_the_posterior_and_evaluation_uses_labels():
    d = data()
    model = train(config("mlp", epochs=1), d, progress=False)
    x = d.test[:4]
    mu0, _ = model.encode(x, torch.zeros(4))
    mu1, _ = model.encode(x, torch.ones(4))
    assert not torch.allclose(mu0, mu1)
    result = evaluate(model, d, iwae_k=5)
    assert result["nll_iwae"] <= result["elbo"] + 1e-4 and "conditional" in result


def test_labels_required_exactly_for_conditional_models():
    conditional, plain = (Model(VAE(c.model), c) for c in (config("mlp"), config("mlp", classes=0)))
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="needs a label"):
        conditional.encode(x)
    with pytest.raises(ValueError, match="not conditional"):
        plain.sample(2, y=1)
    with pytest.raises(ValueError, match="0..2"):
        conditional.sample(2, y=3)
    assert conditional.sample(5, y=2).shape == (5, 1, 8, 8)  # one label for the whole batch


def test_training_a_conditional_model_needs_labels_in_range():
    d = data()
    unlabelled = Splits(d.train, d.val, d.test)
    with pytest.raises(VaelabError, match="needs labels"):
        train(config("mlp"), unlabelled, progress=False)
    with pytest.raises(VaelabError, match="0..1"):
        train(config("mlp", classes=2), d, progress=False)
