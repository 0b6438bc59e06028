"""IDX files (MNIST format): reading, writing, refusing broken ones, and the idx dataset's splits."""
from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import torch

from vaelab.config import DataConfig
from vaelab.data import load_splits
from vaelab.data.idx import IDX_NAMES, find_idx_files, read_idx, write_idx
from vaelab.errors import VaelabError

from conftest import TINY_FILES, TINY_TEST, TINY_TRAIN, TINY_VAL


# --- read / write ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, name, dtype):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(5, 3, 4), endpoint=True).astype(dtype)
    else:
        array = rng.normal(size=(5, 3, 4)).astype(dtype)
    path = tmp_path / name
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == np.dtype(dtype)  # native byte order, whatever the file's big-endian storage
    np.testing.assert_array_equal(back, array)


def test_file_layout_is_big_endian_idx(tmp_path):
    """The bytes are the published format, not just something our own reader accepts."""
    array = np.array([[1, 2, 3], [4, 5, 258]], dtype=np.int16)
    write_idx(tmp_path / "f", array)
    raw = (tmp_path / "f").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 2])
    assert raw[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert raw[12:] == array.astype(">i2").tobytes()
    assert raw[-2:] == b"\x01\x02"


def test_gzipped_and_plain_files_hold_the_same_array(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", array)
    write_idx(tmp_path / "x", array)
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == (tmp_path / "x").read_bytes()
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), read_idx(tmp_path / "x"))


# --- broken files --------------------------------------------------------------------------------
def _valid(tmp_path, gz=False):
    path = tmp_path / ("ok.gz" if gz else "ok")
    write_idx(path, np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    return path


@pytest.mark.parametrize("cut", [1, 20])
def test_truncated_data_is_refused(tmp_path, cut):
    path = _valid(tmp_path)
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(VaelabError, match="truncated or corrupt"):
        read_idx(path)


def test_trailing_bytes_are_refused(tmp_path):
    path = _valid(tmp_path)
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(VaelabError, match="truncated or corrupt"):
        read_idx(path)


def test_truncated_header_is_refused(tmp_path):
    path = _valid(tmp_path)
    path.write_bytes(path.read_bytes()[:10])  # magic + 1.5 of 3 dimensions
    with pytest.raises(VaelabError, match="truncated IDX header"):
        read_idx(path)


def test_truncated_gzip_is_refused(tmp_path):
    path = _valid(tmp_path, gz=True)
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(VaelabError, match="not a readable gzip file"):
        read_idx(path)


def test_corrupt_gzip_stream_is_refused(tmp_path):
    """A damaged deflate stream raises zlib.error, which must not escape as a traceback."""
    path = tmp_path / "bad.gz"
    good = gzip.compress(np.random.default_rng(0).integers(0, 255, 2000, dtype=np.uint8).tobytes())
    path.write_bytes(good[:10] + b"\xff" * 20 + good[30:])
    with pytest.raises(VaelabError, match="not a readable gzip file"):
        read_idx(path)


@pytest.mark.parametrize("head", [b"\x01\x00\x08\x03", b"\x00\x00\x07\x03", b"PK\x03\x04", b"\x00\x00"])
def test_bad_magic_number_is_refused(tmp_path, head):
    path = _valid(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(head + raw[4:] if len(head) == 4 else head)
    with pytest.raises(VaelabError, match="bad magic number"):
        read_idx(path)


def test_zero_dimensions_is_refused(tmp_path):
    (tmp_path / "f").write_bytes(bytes([0, 0, 8, 0]))
    with pytest.raises(VaelabError, match="truncated IDX header"):
        read_idx(tmp_path / "f")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(VaelabError, match="IDX file not found"):
        read_idx(tmp_path / "nope")
    with pytest.raises(VaelabError, match="IDX file not found"):
        read_idx(tmp_path)  # a folder is not a file


# --- folders -------------------------------------------------------------------------------------
def test_find_idx_files_accepts_gz_or_plain(tiny_idx):
    found = find_idx_files(tiny_idx)
    assert {k: p.name for k, p in found.items()} == TINY_FILES


@pytest.mark.parametrize("key", sorted(IDX_NAMES))
def test_folder_missing_one_file_is_refused(tiny_idx, tmp_path, key):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_idx, folder)
    (folder / TINY_FILES[key]).unlink()
    with pytest.raises(VaelabError, match=f"missing {IDX_NAMES[key]}"):
        find_idx_files(folder)
    with pytest.raises(VaelabError, match=f"missing {IDX_NAMES[key]}"):
        load_splits(DataConfig(name="idx", path=str(folder), val_size=TINY_VAL))


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(VaelabError, match="IDX folder not found"):
        load_splits(DataConfig(name="idx", path=str(tmp_path / "nowhere"), val_size=TINY_VAL))


def test_idx_dataset_needs_a_path():
    with pytest.raises(VaelabError, match="needs a path"):
        DataConfig(name="idx")


# --- the idx dataset -----------------------------------------------------------------------------
def test_load_splits_shapes_values_and_labels(tiny_idx_arrays):
    folder, arrays = tiny_idx_arrays
    data = load_splits(DataConfig(name="idx", path=str(folder), val_size=TINY_VAL))
    assert data.name == "idx"
    assert data.shape == (1, 8, 8)
    assert data.train.shape == (TINY_TRAIN - TINY_VAL, 1, 8, 8)
    assert data.val.shape == (TINY_VAL, 1, 8, 8)
    assert data.test.shape == (TINY_TEST, 1, 8, 8)
    for split in ("train", "val", "test"):
        assert getattr(data, split).dtype == torch.uint8  # held as levels, read as values in [0, 1]
        x, _ = data.split(split)
        assert x.dtype == torch.float32
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # exactly pixel / 255, in file order
    expected_test = torch.from_numpy(arrays["test_images"]).float()[:, None] / 255
    torch.testing.assert_close(data.split("test")[0], expected_test, rtol=0, atol=0)
    for labels in (data.train_labels, data.val_labels, data.test_labels):
        assert labels.dtype == torch.int64
        assert set(labels.tolist()) == {0, 1, 2}
    assert data.test_labels.tolist() == arrays["test_labels"].tolist()
    assert not data.is_binary()  # grey levels: what the Bernoulli refusal looks at


def test_validation_is_held_out_of_the_training_file(tiny_idx_arrays):
    folder, arrays = tiny_idx_arrays
    data = load_splits(DataConfig(name="idx", path=str(folder), val_size=TINY_VAL))
    file_images = torch.from_numpy(arrays["train_images"]).float()[:, None] / 255
    file_labels = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    # train + val is the training file, in order: together they cover it once, with no overlap
    torch.testing.assert_close(torch.cat([data.split("train")[0], data.split("val")[0]]), file_images, rtol=0,
                               atol=0)
    assert torch.cat([data.train_labels, data.val_labels]).tolist() == file_labels.tolist()
    flat = lambda t: {bytes(row.numpy().tobytes()) for row in t.reshape(len(t), -1)}  # noqa: E731
    train_set, val_set = flat(data.train), flat(data.val)
    assert len(train_set) == len(data.train) and len(val_set) == len(data.val)  # images are all distinct
    assert not train_set & val_set
    assert not (train_set | val_set) & flat(data.test)  # the test file is separate


def test_val_size_zero_and_at_most_a_sixth(tiny_idx):
    data = load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=0))
    assert len(data.train) == TINY_TRAIN and len(data.val) == 0
    data = load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=TINY_TRAIN))  # the default 10,000 too
    assert (len(data.train), len(data.val)) == (TINY_TRAIN - TINY_TRAIN // 6, TINY_TRAIN // 6)


@pytest.mark.parametrize("key,array,message", [
    ("test_images", np.zeros((TINY_TEST, 8, 8), dtype=np.float32), "expected uint8 pixels"),
    ("test_labels", np.zeros(TINY_TEST - 1, dtype=np.uint8), "expected \\(N, H, W\\) images and N labels"),
    ("test_images", np.zeros((TINY_TEST, 6, 6), dtype=np.uint8), "train images are"),
], ids=["non-uint8-images", "label-count-mismatch", "train-test-sizes-differ"])
def test_inconsistent_files_are_refused(tiny_idx, tmp_path, key, array, message):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_idx, folder)
    write_idx(folder / TINY_FILES[key], array)
    with pytest.raises(VaelabError, match=message):
        load_splits(DataConfig(name="idx", path=str(folder), val_size=TINY_VAL))


def test_classes_keep_only_the_chosen_labels_in_every_split(tiny_idx, tmp_path):
    from vaelab.cli import main
    from vaelab import Run

    from test_cli import assert_refused, vaelab_cli
    from conftest import TINY_TRAIN_ARGS

    config = DataConfig(name="idx", path=str(tiny_idx), val_size=50, keep_labels=(0, 2))
    full, kept = load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=50)), load_splits(config)
    for split in ("train", "val", "test"):
        (x, y), (xf, yf) = kept.split(split), full.split(split)
        assert set(y.tolist()) == {0, 2} and torch.equal(x, xf[(yf == 0) | (yf == 2)])
    run = tmp_path / "run"
    assert main(["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--classes", "0,2", "--out", str(run)]) == 0
    assert Run.open(run).config.data.keep_labels == (0, 2)
    proc = vaelab_cli("train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--classes", "7",
                      "--out", tmp_path / "bad", cwd=tmp_path)
    assert_refused(proc, "no training example has label 7")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("header,message", [
    (bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3, "IDX header says"),  # 2^96 bytes: no overflow
    (bytes([0, 0, 8, 3]) + (0).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2, "holds no data"),
], ids=["dimensions-overflow", "no-images"])
def test_impossible_headers_are_refused(tmp_path, header, message):
    (tmp_path / "f").write_bytes(header)
    with pytest.raises(VaelabError, match=message):
        read_idx(tmp_path / "f")


def test_a_gzip_bomb_is_refused_without_decompressing_it_all(tmp_path, monkeypatch):
    import gzip

    from vaelab.data import idx

    monkeypatch.setattr(idx, "MAX_BYTES", 10_000)
    (tmp_path / "f.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + (50_000).to_bytes(4, "big") + bytes(50_000)))
    with pytest.raises(VaelabError, match="more than 10,000 bytes"):
        read_idx(tmp_path / "f.gz")
