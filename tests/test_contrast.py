"""--contrast gcn: global contrast normalisation of images, and the runs and scores that use it."""
from __future__ import annotations

import pytest
import torch

from vaelab.cli import main
from vaelab.config import DataConfig
from vaelab.data import load_splits
from vaelab.data.contrast import global_contrast_normalize
from vaelab.errors import VaelabError

from conftest import TINY_TRAIN_ARGS
from test_anomaly import auroc_of
from test_cli import assert_refused, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")


def test_each_image_is_centred_and_has_unit_mean_absolute_deviation():
    x = torch.rand(5, 1, 7, 7, generator=torch.Generator().manual_seed(0)) ** 3
    y = global_contrast_normalize(x)
    assert y.shape == x.shape
    flat = y.flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(5), atol=1e-6, rtol=0)
    torch.testing.assert_close(flat.abs().mean(1), torch.ones(5), atol=1e-5, rtol=0)


def test_brightness_and_contrast_of_an_image_are_taken_out():
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    scale, offset = torch.tensor([0.1, 1.0, 3.0, 20.0]).view(4, 1, 1, 1), torch.tensor([0.0, 0.5, -2.0, 7.0]).view(4, 1, 1, 1)
    torch.testing.assert_close(global_contrast_normalize(x * scale + offset), global_contrast_normalize(x),
                               atol=1e-5, rtol=1e-5)
    # ... but not the image's content: two different images stay different
    assert (global_contrast_normalize(x[:1]) - global_contrast_normalize(x[1:2])).abs().max() > 0.1


def test_a_flat_image_becomes_zeros_not_nan():
    y = global_contrast_normalize(torch.full((2, 1, 4, 4), 0.3))
    assert torch.equal(y, torch.zeros_like(y))


def test_load_splits_normalises_every_split(tiny_idx):
    raw = load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=50, binarize="none"))
    gcn = load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=50, binarize="none", contrast="gcn"))
    for split in ("train", "val", "test"):
        torch.testing.assert_close(gcn.split(split)[0], global_contrast_normalize(raw.split(split)[0]))


@pytest.mark.parametrize("fields, message", [
    ({"contrast": "gcn"}, "cannot be binarized"),  # dynamic binarization is the default
    ({"contrast": "l2", "binarize": "none"}, "contrast must be one of"),
    ({"name": "csv", "path": "t.csv", "contrast": "gcn", "binarize": "none"}, "applies to images"),
])
def test_bad_contrast_configs_are_refused(fields, message):
    with pytest.raises(VaelabError, match=message):
        DataConfig(**{"name": "mnist", **fields})


def test_a_likelihood_for_pixels_in_0_1_is_refused_on_normalised_images(tiny_idx, tmp_path):
    proc = vaelab_cli("train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--contrast", "gcn",
                      "--likelihood", "cbernoulli", "--out", tmp_path / "r", cwd=tmp_path)
    assert_refused(proc, "--contrast gcn", "Gaussian likelihood")
    assert not (tmp_path / "r").exists()


def test_anomaly_fit_and_score_on_normalised_images(tiny_idx, tmp_path, capsys):
    run = tmp_path / "gcn"
    assert main(["anomaly", "fit", "--data", f"idx:{tiny_idx}", "--normal-class", "0", "--contrast", "gcn",
                 *TINY_TRAIN_ARGS, "--likelihood", "gaussian-learned", "--epochs", "4", "--out", str(run)]) == 0
    capsys.readouterr()
    # the run's own test split and the same files given as --data are scored alike: both normalised
    assert main(["anomaly", "score", str(run), "--out", str(tmp_path / "own.csv")]) == 0
    own = auroc_of(capsys.readouterr().out)
    assert main(["anomaly", "score", str(run), "--data", f"idx:{tiny_idx}", "--out", str(tmp_path / "other.csv")]) == 0
    assert auroc_of(capsys.readouterr().out) == own
    assert (tmp_path / "own.csv").read_text() == (tmp_path / "other.csv").read_text()
    # denoising and inpainting measure PSNR on pixels in [0, 1]: refused for such a run
    proc = vaelab_cli("denoise", run, "--noise", "gaussian:0.5", "--out", tmp_path / "d.png", cwd=tmp_path)
    assert_refused(proc, "contrast-normalised")
