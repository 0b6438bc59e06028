"""Reader for IDX files, the MNIST / Fashion-MNIST / KMNIST format (LeCun et al.), gzipped or not."""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ResourceError
from ..registry import datasets
from .splits import Splits, hold_out

MAX_BYTES = 2**31  # 2 GiB: EMNIST's largest training file holds 640 MB
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file into an array of its stored shape; a one-line ResourceError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ResourceError(f"IDX file not found: {path}")
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        # read at most MAX_BYTES (+1 to tell): a small .gz can claim gigabytes (a decompression bomb)
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            raw = f.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise ResourceError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) > MAX_BYTES:
        raise ResourceError(f"{path}: holds more than {MAX_BYTES:,} bytes of data, more than vaelab reads from an "
                            "IDX file (a decompression bomb, or not a data set for this machine)")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ResourceError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ResourceError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = math.prod(dims) * dtype.itemsize  # Python's integers: no overflow, whatever the header claims
    if expected == 0:
        raise ResourceError(f"{path}: the IDX header says {dims}: the file holds no data")
    if len(raw) - header != expected:
        raise ResourceError(f"{path}: IDX header says {dims} ({expected} bytes of data) but the file holds "
                          f"{len(raw) - header}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an IDX file (gzipped when the name ends in .gz); used by tests and for exporting."""
    codes = {np.dtype(v).newbyteorder(">") if np.dtype(v).itemsize > 1 else np.dtype(v): k for k, v in _DTYPES.items()}
    dtype = np.dtype(array.dtype).newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = bytes([0, 0, codes[dtype], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def find_idx_files(folder: str | Path) -> dict[str, Path]:
    """The four standard files in a folder, each gzipped or not."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResourceError(f"IDX folder not found: {folder}")
    found = {}
    for key, stem in IDX_NAMES.items():
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                found[key] = folder / name
                break
        else:
            raise ResourceError(f"{folder}: missing {stem}[.gz]; an IDX folder holds "
                              f"{', '.join(IDX_NAMES.values())} (each optionally .gz)")
    return found


@datasets.register("idx")
def load_idx_splits(config: DataConfig) -> Splits:
    """A folder with the four standard IDX files (MNIST, Fashion-MNIST, KMNIST...), gzipped or not."""
    files = find_idx_files(config.path)
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim not in (3, 4) or labels.ndim != 1 or len(images) != len(labels):
            raise ResourceError(f"{files[split + '_images']}: expected (N, H, W) images and N labels, "
                                f"got {images.shape} and {labels.shape}")
        if images.dtype != np.uint8:
            raise ResourceError(f"{files[split + '_images']}: expected uint8 pixels, got {images.dtype}")
    # held as their uint8 levels (Splits.levels): read as value / 255, a quarter of float32's memory
    as_images = lambda a: torch.from_numpy(a.copy()).reshape(len(a), -1, *a.shape[-2:])  # noqa: E731
    tr, trl, va, val = hold_out(as_images(arrays["train_images"]),
                                torch.from_numpy(arrays["train_labels"].astype(np.int64)), config.val_size)
    test = as_images(arrays["test_images"])
    if test.shape[1:] != tr.shape[1:]:
        raise ResourceError(f"{config.path}: train images are {tuple(tr.shape[1:])} but test images "
                            f"{tuple(test.shape[1:])}")
    return Splits(tr, va, test, trl, val, torch.from_numpy(arrays["test_labels"].astype(np.int64)), name="idx",
                  levels=255)
