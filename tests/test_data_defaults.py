"""What every source shares: --limit, and how --image-size fits photos of other proportions."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vaelab.config import DataConfig, RunConfig
from vaelab.data import load_splits
from vaelab.data.splits import limit_counts
from vaelab.errors import VaelabError


@pytest.mark.parametrize("sizes,n,expected", [
    ([50000, 10000, 10000], 3, [1, 1, 1]),
    ([50000, 10000, 10000], 1000, [716, 142, 142]),
    ([50000, 10000, 10000], 70000, [50000, 10000, 10000]),
    ([100, 0, 10], 5, [4, 0, 1]),
])
def test_a_limit_shares_out_in_proportion(sizes, n, expected):
    assert limit_counts(sizes, n) == expected
    assert sum(limit_counts(sizes, n)) == min(n, sum(sizes))


def test_limit_works_for_mnist_idx_and_tables(tiny_idx, tmp_path):
    full = load_splits(DataConfig(name="mnist"))
    small = load_splits(DataConfig(name="mnist", limit=700))
    assert (len(small.train), len(small.val), len(small.test)) == (500, 100, 100)
    assert (small.train == full.train[:500]).all() and (small.test_labels == full.test_labels[:100]).all()

    idx = load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=50, limit=40))
    assert len(idx.train) + len(idx.val) + len(idx.test) == 40

    rows = np.random.default_rng(0).normal(size=(200, 3)) * [1, 10, 100]
    np.savetxt(tmp_path / "t.csv", rows, delimiter=",", header="a,b,c", comments="")
    table = load_splits(DataConfig(name="csv", path=str(tmp_path / "t.csv"), binarize="none", limit=30))
    assert len(table.train) + len(table.val) + len(table.test) == 30
    # the statistics describe the rows kept: the kept training rows are standardised
    assert abs(float(table.train.mean())) < 1e-5


def write_photo(path, width: int, height: int) -> None:
    """A wide photo: a white square in the centre, red bars left and right."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : (width - height) // 2, 0] = 255
    pixels[:, (width + height) // 2:, 0] = 255
    pixels[:, (width - height) // 2:(width + height) // 2] = 255
    Image.fromarray(pixels).save(path)


def test_image_size_crops_the_centre_square_unless_asked_to_squash(tmp_path):
    for i in range(20):
        write_photo(tmp_path / f"{i:02d}.png", 40, 20)
    cropped = load_splits(DataConfig(name="folder", path=str(tmp_path), image_size=10))
    green = lambda s: float(s.split("train")[0][:, 1].mean())  # noqa: E731  (1 on the white square, 0 on red)
    assert cropped.shape == (3, 10, 10) and green(cropped) > 0.97  # the white centre (its edge filtered)
    squashed = load_splits(DataConfig(name="folder", path=str(tmp_path), image_size=10, resize="squash"))
    assert abs(green(squashed) - 0.5) < 0.02  # the red bars are still there, squeezed
    with pytest.raises(VaelabError, match="resize applies only with image_size"):
        DataConfig(name="folder", path=str(tmp_path), resize="squash")


def test_configs_written_before_cropping_keep_squashing():
    old = {"version": 2, "data": {"name": "folder", "path": "x", "image_size": 32}}
    assert RunConfig.from_dict(old).data.resize == "squash"
    assert RunConfig.from_dict({**old, "version": 3}).data.resize == "crop"
    assert RunConfig.from_dict({"version": 2, "data": {"name": "mnist"}}).data.resize == "crop"


def test_a_source_that_limits_itself_is_not_cut_again():
    moses = load_splits(DataConfig(name="moses", limit=300, representation="selfies", binarize="none"))
    assert len(moses.train) + len(moses.val) == 300  # the first 300 training molecules
    assert len(moses.test) == 10_000  # and MOSES's own test set, whole
