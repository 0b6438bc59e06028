"""Training contracts: determinism, resume equality, checkpoint round trip, warm-up, regularisers."""
import json

import pytest
import torch
from safetensors.torch import load_file

import vaelab
from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.objectives import warmup_beta
from vaelab.registry import architectures, likelihoods, regularizers
from vaelab.train.trainer import train


BASE = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(123))  # three prototype images


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = BASE
    return (base[torch.randint(0, 3, (n,), generator=g)] * 0.8 + 0.2 * torch.rand(n, 1, 8, 8, generator=g))


DATA = Splits(_images(256, 0), _images(64, 1), _images(64, 2))


def _config(epochs: int, **model) -> RunConfig:
    defaults = dict(arch="conv", shape=(1, 8, 8), latent_dim=3, channels=(4, 8), hidden=(16,))
    return RunConfig(data=DataConfig(name="arrays"), model=ModelConfig(**{**defaults, **model}),
                     train=TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, seed=7, kl_warmup=1.5,
                                       grad_clip=5.0, device="cpu"))


def _state(model):
    """The weights of a Model (or of a bare network)."""
    return {k: v.clone() for k, v in getattr(model, "network", model).state_dict().items()}


REAL_VALUED_ARCHITECTURES = [n for n in architectures.names() if not architectures.get(n).reads_tokens]
REAL_VALUED_LIKELIHOODS = [n for n in likelihoods.names() if not likelihoods.get(n).reads_tokens]


def _on_byte_grid(s: Splits) -> Splits:
    """The same images quantised to k/256, as MNIST's cache stores them (binarized from random bytes)."""
    q = lambda x: (x * 256).floor().clamp(max=255) / 256  # noqa: E731
    return Splits(q(s.train), q(s.val), q(s.test))


@pytest.mark.parametrize("data", [DATA, _on_byte_grid(DATA)], ids=["float-levels", "byte-levels"])
def test_two_epochs_equal_one_plus_resume_one(tmp_path, data):
    straight = train(_config(2), data, tmp_path / "straight", progress=False)
    train(_config(1), data, tmp_path / "resumed", progress=False)
    resumed = train(_config(2), data, tmp_path / "resumed", resume=True, progress=False)
    for key, value in _state(straight).items():
        torch.testing.assert_close(_state(resumed)[key], value, rtol=0, atol=1e-6)
    # The metrics log has one line per epoch, the same in both runs.
    lines = [json.loads(ln) for ln in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(ln) for ln in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == [1, 2]
    assert lines[1]["train_loss"] == pytest.approx(ref[1]["train_loss"], abs=1e-5)


def test_byte_levels_are_used_exactly_when_the_data_lie_on_the_256_grid():
    from vaelab.train.trainer import Trainer

    assert Trainer(_config(1), DATA, None, progress=False).train_levels is None
    grid = _on_byte_grid(DATA)
    levels = Trainer(_config(1), grid, None, progress=False).train_levels
    assert levels is not None and torch.equal(levels.float() / 256, grid.train)


def test_resume_drops_metric_lines_the_checkpoint_does_not_hold(tmp_path):
    train(_config(1), DATA, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:  # as if killed after logging epoch 2
        f.write(json.dumps({"epoch": 2, "train_loss": 0.0}) + "\n")
    train(_config(2), DATA, tmp_path / "run", resume=True, progress=False)
    epochs = [json.loads(ln)["epoch"] for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a, b = train(_config(1), DATA, progress=False), train(_config(1), DATA, progress=False)
    c = train(RunConfig(data=DATA_CONFIG, model=_config(1).model, train=TrainConfig(epochs=1, batch_size=32, seed=8)),
            DATA, progress=False)
    key = "decoder.fc.weight"
    assert torch.equal(_state(a)[key], _state(b)[key])
    assert not torch.equal(_state(a)[key], _state(c)[key])


DATA_CONFIG = DataConfig(name="arrays")


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    model = train(_config(2), DATA, tmp_path / "run", progress=False)
    loaded = vaelab.load(tmp_path / "run")
    saved = load_file(str(tmp_path / "run" / "model.safetensors"))
    for key, value in _state(loaded).items():
        assert torch.equal(value, saved[key])
    x = DATA.test[:8]
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    mu, logvar = loaded.encode(DATA.test[:5])
    assert mu.shape == logvar.shape == (5, 3)
    assert loaded.decode(mu).shape == (5, 1, 8, 8)
    assert loaded.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 1, 8, 8)
    assert torch.equal(loaded.sample(4, generator=torch.Generator().manual_seed(0)),
                       loaded.sample(4, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("resumed", [False, True], ids=["one-process", "resumed-after-best"])
def test_fit_returns_the_kept_weights_not_the_last(tmp_path, monkeypatch, resumed):
    """Validation losses 3, 1, 2: epoch 2 is kept, and train() hands back epoch 2's weights."""
    import vaelab.train.trainer as trainer

    losses = iter([3.0, 1.0, 2.0])
    monkeypatch.setattr(trainer, "validation_loss",
                        lambda *a, **k: {"val_loss": next(losses), "val_recon": 0.0, "val_reg": 0.0})
    if resumed:
        train(_config(2), DATA, tmp_path / "run", progress=False)
        model = train(_config(3), DATA, tmp_path / "run", resume=True, progress=False)
    else:
        model = train(_config(3), DATA, tmp_path / "run", progress=False)
    kept = load_file(str(tmp_path / "run" / "model.safetensors"))
    last = load_file(str(tmp_path / "run" / "checkpoint.safetensors"))
    key = "decoder.fc.weight"
    assert not torch.equal(kept[key], last["model." + key])  # the test means something: epoch 3 moved on
    for name, value in _state(model).items():
        assert torch.equal(value, kept[name])


def test_best_weights_follow_the_validation_loss(tmp_path):
    train(_config(3), DATA, tmp_path / "run", progress=False)
    records = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    best = min(records, key=lambda r: r["val_loss"])
    from safetensors import safe_open

    with safe_open(str(tmp_path / "run" / "model.safetensors"), "pt") as f:
        assert f.metadata()["epoch"] == str(best["epoch"])


def test_kl_warmup_is_linear_then_flat():
    assert warmup_beta(4.0, 0, 100) == 0.0
    assert warmup_beta(4.0, 50, 100) == pytest.approx(2.0)
    assert warmup_beta(4.0, 500, 100) == 4.0
    assert warmup_beta(4.0, 3, 0) == 4.0


@pytest.mark.parametrize("arch", REAL_VALUED_ARCHITECTURES)
@pytest.mark.parametrize("likelihood", REAL_VALUED_LIKELIHOODS)
@pytest.mark.parametrize("regularizer", regularizers.names())
def test_every_model_trains_to_a_finite_lower_loss(arch, likelihood, regularizer):
    """The contract over the whole registered family: finite loss that goes down, any latent size."""
    config = RunConfig(data=DataConfig(name="arrays", binarize="dynamic" if likelihood == "bernoulli" else "none"),
                       model=ModelConfig(arch=arch, shape=(1, 8, 8), latent_dim=5, channels=(4,), hidden=(16,),
                                         likelihood=likelihood, regularizer=regularizer, sigma=0.3),
                       train=TrainConfig(epochs=2, batch_size=32, lr=3e-3))
    x = DATA.test.round() if likelihood == "bernoulli" else DATA.test
    torch.manual_seed(config.train.seed)  # the trainer's initialisation
    before = vaelab.models.VAE(config.model)(x, generator=torch.Generator().manual_seed(0)).loss.item()
    trained = train(config, DATA, progress=False)
    after = trained.network(x, generator=torch.Generator().manual_seed(0)).loss.item()
    assert torch.isfinite(torch.tensor(after)) and after < before


def test_bf16_precision_trains_close_to_fp32_and_auto_is_fp32_on_cpu(tmp_path):
    """--precision bf16 runs the step under bf16 autocast (the CUDA default), which rounds: close
    to fp32, not equal; `auto` on CPU is fp32, bit for bit."""
    import dataclasses

    from vaelab.train.trainer import Trainer

    def with_precision(precision):
        config = _config(2)
        return dataclasses.replace(config, train=dataclasses.replace(config.train, precision=precision))

    fp32 = train(with_precision("fp32"), DATA, progress=False)
    auto = train(with_precision("auto"), DATA, progress=False)
    bf16_trainer = Trainer(with_precision("bf16"), DATA, None, progress=False)
    assert bf16_trainer.autocast_bf16 and not Trainer(with_precision("auto"), DATA, None, progress=False).autocast_bf16
    bf16 = bf16_trainer.fit()
    for key, value in _state(fp32).items():
        assert torch.equal(_state(auto)[key], value), key
    differences = [float((_state(bf16)[k] - v).abs().max()) for k, v in _state(fp32).items()]
    assert max(differences) > 1e-6  # bf16 rounding did happen
    assert max(differences) < 0.05  # but the runs stay close
    with pytest.raises(vaelab.errors.VaelabError, match="precision"):
        TrainConfig(precision="fp16")


@pytest.mark.parametrize("likelihood", ["gaussian-learned", "gaussian-learned-pixel"])
def test_a_learned_noise_variance_reaches_the_data_noise_level_in_few_steps(likelihood):
    """Adam steps every weight by about lr, so a log-variance at lr would still be near its start (0)
    after 80 steps; it steps at NOISE_LR_SCALE x lr and gets close to the residual noise of the data."""
    from vaelab.train.trainer import NOISE_LR_SCALE, Trainer

    config = RunConfig(data=DataConfig(name="arrays", binarize="none"),
                       model=ModelConfig(arch="mlp", shape=(1, 8, 8), latent_dim=3, hidden=(32,), likelihood=likelihood),
                       train=TrainConfig(epochs=10, batch_size=32, lr=1e-3, seed=0, device="cpu"))
    trainer = Trainer(config, DATA, None, progress=False)
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == [1e-3, 1e-3 * NOISE_LR_SCALE]
    assert groups[1]["params"] == [trainer.network.likelihood.logvar]
    trained = trainer.fit()
    assert trained.likelihood.logvar.max().item() < 10 * 80 * -1e-3  # moved more than 10x what lr allows


def test_models_without_learned_noise_keep_one_parameter_group():
    from vaelab.train.trainer import Trainer

    trainer = Trainer(_config(1), DATA, None, progress=False)
    assert len(trainer.optimizer.param_groups) == 1


def test_a_failed_write_is_a_resource_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    """A full disk while writing (here: the rename failing) names the file; the old content stays."""
    import errno
    import os

    from vaelab.errors import ResourceError
    from vaelab.io import atomic_write_text

    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(ResourceError, match="cannot write .*metrics.json: No space left on device"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
