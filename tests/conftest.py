"""Shared fixtures: a tiny MNIST-format IDX folder and a tiny trained run on it.

Nothing here touches real MNIST or the network; everything lives under pytest's tmp folders.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelab.data.idx import write_idx

TINY_TRAIN, TINY_TEST, TINY_SIDE, TINY_CLASSES = 300, 100, 8, 3
TINY_VAL = 50

# One gzipped and one plain pair, so both readers are covered by every run on this folder.
TINY_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# The options of the tiny run, as the CLI takes them (also used to test --resume refusals).
# Two epochs at lr 0.01 (8 steps each) take well under a second and leave a model that has learnt
# something, so the evaluation's numbers are not those of an untrained decoder.
TINY_EPOCHS = 2
# Bernoulli pixels (so binarized): the path most tests read (the tiny images are grey, so the likelihood
# chosen from the data would be the discretized logistic).
TINY_TRAIN_ARGS = ["--val-size", str(TINY_VAL), "--epochs", str(TINY_EPOCHS), "--batch-size", "32", "--lr", "0.01",
                   "--model", "conv", "--latent-dim", "2", "--channels", "4,8", "--device", "cpu", "--quiet",
                   "--likelihood", "bernoulli"]


@contextlib.contextmanager
def tiny_torch():
    """Torch as a user has it (float32 by default), on one thread, restored afterwards.

    One thread: on a small shared machine, torch's default thread pool spends far longer waiting
    for busy cores than computing tiny models (seconds per epoch instead of milliseconds).
    float32: a test module may change the global default dtype (as a user would not), and a model
    built in float64 refuses the float32 data.
    """
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)


@pytest.fixture
def tiny_torch_defaults():
    with tiny_torch():
        yield


def make_images(n: int, seed: int, side: int = TINY_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(n, side, side) uint8 grey images with a class structure, and labels 0..2.

    class 0: a horizontal bar, class 1: a vertical bar, class 2: a square blob; at a random
    position, with a random brightness, on a noisy background.
    """
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % TINY_CLASSES).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.uniform(0, 40, size=(n, side, side))
    for i, label in enumerate(labels):
        level = rng.uniform(180, 255)
        a, b = rng.integers(1, side - 2, size=2)
        if label == 0:
            images[i, a, 1:side - 1] = level
        elif label == 1:
            images[i, 1:side - 1, b] = level
        else:
            images[i, a - 1:a + 2, b - 1:b + 2] = level
    return np.clip(images, 0, 255).astype(np.uint8), labels


def write_tiny_idx(folder: Path) -> dict[str, np.ndarray]:
    """Write the four IDX files into `folder`; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = make_images(TINY_TRAIN, seed=1)
    test_x, test_y = make_images(TINY_TEST, seed=2)
    arrays = {"train_images": train_x, "train_labels": train_y, "test_images": test_x, "test_labels": test_y}
    for key, name in TINY_FILES.items():
        write_idx(folder / name, arrays[key])
    return arrays


@pytest.fixture(scope="session")
def tiny_idx_arrays(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("tiny-idx")
    return folder, write_tiny_idx(folder)


@pytest.fixture(scope="session")
def tiny_idx(tiny_idx_arrays) -> Path:
    """A folder of MNIST-format IDX files: 300 train / 100 test 8x8 uint8 images, labels 0..2.

    Shared by the whole session: copy it before changing anything in it.
    """
    return tiny_idx_arrays[0]


@pytest.fixture(scope="session")
def tiny_run(tiny_idx, tmp_path_factory) -> Path:
    """A run folder trained by `vaelab train` (a conv VAE, latent size 2, 2 epochs) on `tiny_idx`.

    Shared by the whole session: copy it before changing anything in it.
    """
    from vaelab.cli import main

    out = tmp_path_factory.mktemp("runs") / "tiny"
    with tiny_torch():
        rc = main(["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--out", str(out)])
    assert rc == 0
    return out


@pytest.fixture(scope="session")
def tiny_conditional_run(tiny_idx, tmp_path_factory) -> Path:
    """A conditional run (latent size 3, labels 0..2) on `tiny_idx`, trained like `tiny_run`. Shared: copy to change."""
    from vaelab.cli import main

    out = tmp_path_factory.mktemp("runs") / "cvae"
    with tiny_torch():
        rc = main(["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--latent-dim", "3", "--conditional",
                   "--out", str(out)])
    assert rc == 0
    return out


def as_values(splits):
    """Splits whose examples are float values, as the model reads them (image sources hold uint8 levels)."""
    import dataclasses

    return dataclasses.replace(splits, train=splits.split("train")[0], val=splits.split("val")[0],
                               test=splits.split("test")[0], levels=None)
