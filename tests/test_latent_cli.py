"""The latent commands on the tiny run: what they draw, what they print, and how they refuse bad input."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

import vaelab
from vaelab.cli import main
from vaelab.config import DataConfig
from vaelab.data import load_splits
from vaelab.latent.paths import interpolate

from conftest import TINY_VAL
from test_cli import assert_command_refused, as_pixels, assert_refused, grid_size, tile, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")


def tiny_test_split(tiny_idx):
    return load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=TINY_VAL)).split("test")


def smoke_interpolate(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "path.png"
    assert main(["interpolate", str(tiny_run), "--from", "3", "--to", "7", "--steps", "6", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"differ by mean \d\.\d{4}, max \d\.\d{4}", text)
    pixels = np.asarray(Image.open(out))
    assert Image.open(out).size == grid_size(8, 1)  # original, 6 frames, original
    x, _ = tiny_test_split(tiny_idx)
    frames, _ = interpolate(vaelab.load(tiny_run), x[3:4], x[7:8], steps=6)
    np.testing.assert_array_equal(tile(pixels, 0, 0), as_pixels(x[3]))
    np.testing.assert_array_equal(tile(pixels, 0, 7), as_pixels(x[7]))
    for i in range(6):
        np.testing.assert_allclose(tile(pixels, 0, i + 1), as_pixels(frames[i]), atol=1)
    image = tmp_path / "a.png"  # an image file works as an endpoint too
    Image.fromarray(as_pixels(x[3])).save(image)
    assert main(["interpolate", str(tiny_run), "--from", str(image), "--to", "7", "--slerp", "--out", str(out),
                 "--force"]) == 0
    assert "spherical path a.png -> test #7" in capsys.readouterr().out


def smoke_traverse(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "traverse.png"
    assert main(["traverse", str(tiny_run), "--steps", "5", "--from", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    kls = [float(k) for k in re.findall(r"z\d: KL (\d+\.\d+)", text)]
    assert len(kls) == 2 and kls == sorted(kls, reverse=True)  # both dimensions, most informative first
    with Image.open(out) as im:
        assert im.height > grid_size(5, 2)[1] and im.width > grid_size(5, 2)[0]  # a grid plus labels


def smoke_attribute(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "attr.png"
    assert main(["attribute", str(tiny_run), "--attribute", "ink", "--alpha", "-2,-1,0,1,2",
                 "--examples", "0,1,2", "--measure", "50", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"vector from \d+ training codes with it and \d+ without", text)
    inks = [float(v) for v in re.findall(r"^\s+-?\d\.\d\d\s+(\d\.\d{4})", text, re.M)]
    assert len(inks) == 5
    assert "rises monotonically with alpha over 5 values: " + ("yes" if inks == sorted(inks) else "NO") in text
    assert main(["attribute", str(tiny_run), "--attribute", "label:1", "--out", str(out), "--force"]) == 0
    assert "label:1" in capsys.readouterr().out


def smoke_encode(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "z.npz"
    assert main(["encode", str(tiny_run), "--out", str(out)]) == 0
    assert "encoded 100 test examples into 2 dimensions" in capsys.readouterr().out
    x, y = tiny_test_split(tiny_idx)
    mu, logvar = vaelab.load(tiny_run).encode(x)
    with np.load(out, allow_pickle=False) as f:
        np.testing.assert_allclose(f["mu"], mu.numpy(), atol=1e-6)
        np.testing.assert_allclose(f["logvar"], logvar.numpy(), atol=1e-6)
        np.testing.assert_array_equal(f["labels"], y.numpy())


def smoke_neighbors(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "nn.png"
    assert main(["neighbors", str(tiny_run), "--query", "5", "--split", "train", "--k", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"1\. train #5\s+distance 0\.000", text)  # a training example is its own nearest neighbour
    assert Image.open(out).size == grid_size(4, 1)


def smoke_map(tiny_run, tiny_idx, tmp_path, capsys):
    out, grid = tmp_path / "map.png", tmp_path / "manifold.png"
    assert main(["map", str(tiny_run), "--manifold", str(grid), "--grid", "4", "--out", str(out)]) == 0
    assert "Gaussian quantiles" in capsys.readouterr().out
    assert Image.open(grid).size == grid_size(4, 4)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 300


LATENT_SMOKE = {"interpolate": smoke_interpolate, "traverse": smoke_traverse, "attribute": smoke_attribute,
                "encode": smoke_encode, "neighbors": smoke_neighbors, "map": smoke_map}


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["interpolate", "--from", "0", "--to", "100"], "index 100 is outside the test split (0..99)"),
    (["interpolate", "--from", "nofile.png", "--to", "1"], "neither an index of the test split"),
    (["traverse", "--dims", "0,2"], "latent dimension 2 does not exist"),
    (["attribute", "--attribute", "Smiling"], "unknown attribute 'Smiling'"),
    (["attribute", "--attribute", "label:7"], "no training example has label 7"),
    (["sample", "--label", "1"], "--label is for conditional runs"),
    (["neighbors", "--query", "0", "--k", "0"], "--k must be between 1"),
    (["map", "--manifold", "grid.png", "--grid", "100000"], "--grid must lie in 2..100, got 100000"),
    (["attribute", "--attribute", "ink", "--alpha", "nan,1"], "give at least two finite --alpha values"),
    (["attribute", "--attribute", "ink", "--measure", "0"], "--measure must be at least 1, got 0"),
])
def test_latent_commands_refuse_bad_input(tiny_run, tmp_path, args, message):
    assert_command_refused(tiny_run, tmp_path, args, message)


def test_two_d_only_plot_on_a_larger_latent_is_refused(tiny_idx, tmp_path):
    from conftest import TINY_TRAIN_ARGS

    args = [a if a != "2" else "3" for a in TINY_TRAIN_ARGS]  # the tiny run, with a 3-D latent
    assert main(["train", "--data", f"idx:{tiny_idx}", *args, "--epochs", "1", "--out", str(tmp_path / "run3")]) == 0
    proc = vaelab_cli("map", tmp_path / "run3", "--manifold", tmp_path / "m.png", "--out", tmp_path / "map.png",
                      cwd=tmp_path)
    assert_refused(proc, "--manifold needs a 2-D latent; this run has 3 dimensions")
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "map.png").exists()


def test_conditional_run_samples_the_requested_label(tiny_idx, tmp_path, capsys):
    from conftest import TINY_TRAIN_ARGS

    run = tmp_path / "cvae"
    assert main(["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--conditional", "--out", str(run)]) == 0
    model = vaelab.load(run)
    assert model.conditional and model.num_classes == 3
    out = tmp_path / "s.png"
    assert main(["sample", str(run), "-n", "6", "--label", "2", "--seed", "1", "--out", str(out)]) == 0
    expected = model.sample(6, 1.0, torch.Generator().manual_seed(1), y=2)
    pixels = np.asarray(Image.open(out))
    for i in range(6):
        np.testing.assert_allclose(tile(pixels, *divmod(i, 3)), as_pixels(expected[i]), atol=1)
    assert main(["sample", str(run), "-n", "6", "--out", str(out), "--force"]) == 0
    assert "one column per class" in capsys.readouterr().out
    proc = vaelab_cli("sample", run, "--label", "5", "--out", tmp_path / "bad.png", cwd=tmp_path)
    assert_refused(proc, "vaelab sample: error: --label: labels must lie in 0..2")
