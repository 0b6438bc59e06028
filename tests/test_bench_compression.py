"""bench.compression on the tiny run: the bits-back file against the run's own rates and the other
coders, on the same images, with importance sampling beside it; every figure comes from the run."""
import json

import pytest

from bench.compression import main, mosaic

pytest.importorskip("constriction")


def test_the_benchmark_sets_bits_back_beside_the_bounds_and_the_other_coders(tiny_run, capsys):
    main(["--run", str(tiny_run), "--iwae-k", "8", "--samples", "4", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["images"] > 0 and result["decompress_images_per_s"] > 0
    # the whole file, its ~350-byte header included (which outweighs the code of these few 8x8 images)
    header_bpd = 8 * 400 / (64 * result["images"])
    assert result["elbo_bpd"] < result["bits_back_bpd"] < result["elbo_bpd"] + header_bpd
    assert result["iwae_bpd"] <= result["elbo_bpd"]
    mc = result["importance"]  # the rate of test_bitsback's importance test, here only reported
    assert mc["samples"] == 4 and mc["iwae_bpd"] < mc["bits_back_bpd"] < mc["iwae_bpd"] + header_bpd
    others = result["others_bpd"]
    assert {"gzip -9", "bz2 -9", "xz -9", "PNG (1-bit)", "WebP lossless", "JBIG (pbmtojbg)"} == set(others)
    assert all(v is None or v > 0 for v in others.values())


def test_the_mosaic_holds_every_image_once_in_rows_of_a_hundred():
    import numpy as np

    images = np.random.default_rng(0).integers(0, 2, (150, 1, 3, 2), dtype=np.uint8)
    picture = mosaic(images)
    assert picture.shape == (2 * 3, 100 * 2) and picture[:3, :2].tolist() == images[0, 0].tolist()
    assert picture[3:, 2 * 50:].sum() == 0 and picture[3:6, 2 * 49:2 * 50].tolist() == images[149, 0].tolist()
