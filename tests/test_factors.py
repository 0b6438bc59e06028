"""dSprites with known factors: the generator, the original-file loader, the dataset, and `vaelab disentangle`."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from vaelab.cli import main
from vaelab.config import DataConfig
from vaelab.data import load_splits
from vaelab.data import dsprites
from vaelab.errors import InputError

from test_cli import assert_refused, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")

# A tiny dSprites run: 64x64 images through a small MLP, trained in a second or two.
DSPRITES_TRAIN = ["--data", "dsprites", "--limit", "600", "--model", "mlp", "--hidden", "32", "--latent-dim", "4",
                  "--epochs", "1", "--batch-size", "50", "--seed", "0", "--quiet"]


def test_the_design_is_the_originals():
    assert dsprites.SIZES == (3, 6, 40, 32, 32) and dsprites.FULL_SIZE == 737_280
    values = dsprites.factor_values()
    np.testing.assert_allclose(values["scale"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert values["orientation"][0] == 0 and values["orientation"][-1] == pytest.approx(2 * np.pi)
    every = dsprites.all_factor_classes()
    assert every.shape == (737_280, 5)
    np.testing.assert_array_equal(every[[0, 1, 32, 737_279]], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0],
                                                                [2, 5, 39, 31, 31]])  # y fastest, as the original


def test_rendering_is_deterministic_binary_and_follows_each_factor():
    classes = dsprites.sample_factor_classes(500, seed=3)
    np.testing.assert_array_equal(classes, dsprites.sample_factor_classes(500, seed=3))
    assert len(np.unique(np.ravel_multi_index(classes.T, dsprites.SIZES))) == 500  # distinct combinations
    images = dsprites.render(classes)
    assert images.shape == (500, 64, 64) and images.dtype == np.uint8 and set(np.unique(images)) <= {0, 1}
    np.testing.assert_array_equal(images, dsprites.render(classes))

    base = np.array([[0, 5, 0, 10, 12]])
    image = dsprites.render(base)[0]
    assert image.sum() == pytest.approx(17**2, rel=0.1)  # an upright square of side 2 * 8.5 at scale 1
    moved = base + [0, 0, 0, 3, 2]  # x moves right, y moves down, one pixel per step
    np.testing.assert_array_equal(dsprites.render(moved)[0], np.roll(np.roll(image, 3, axis=1), 2, axis=0))
    areas = [dsprites.render(base * [1, 0, 1, 1, 1] + [0, s, 0, 0, 0])[0].sum() for s in range(6)]
    assert areas == sorted(areas) and areas[0] < areas[-1] / 3  # scale grows the sprite
    shapes = dsprites.render(np.array([[s, 5, 0, 10, 10] for s in range(3)]))
    assert len({shape.tobytes() for shape in shapes}) == 3
    turned = dsprites.render(np.array([[1, 5, 0, 10, 10], [1, 5, 10, 10, 10], [1, 5, 39, 10, 10]]))
    assert not np.array_equal(turned[0], turned[1])  # a quarter turn changes the ellipse
    np.testing.assert_array_equal(turned[0], turned[2])  # 0 and 2 pi: the same angle, as in the original
    corners = dsprites.render(np.array([[0, 5, 5, 0, 0], [0, 5, 5, 31, 31]]))
    assert corners[:, 0].sum() == 0 and corners[:, -1].sum() == 0  # the largest sprite stays inside the frame
    assert corners[:, :, 0].sum() == 0 and corners[:, :, -1].sum() == 0


def test_render_refuses_bad_factor_classes():
    with pytest.raises(InputError, match="shape"):
        dsprites.render(np.zeros((3, 4), dtype=int))
    with pytest.raises(InputError, match="out of range"):
        dsprites.render(np.array([[3, 0, 0, 0, 0]]))


def _fake_original(path, n=240, seed=0, **overrides):
    """A file laid out as the original .npz (including its pickled metadata entry), with our renderings."""
    classes = dsprites.sample_factor_classes(n, seed=seed)
    arrays = {"imgs": dsprites.render(classes), "latents_classes": np.concatenate([np.zeros((n, 1), int), classes], 1),
              "latents_values": classes.astype(float),
              "metadata": np.array({"description": "not to be unpickled"}, dtype=object)}
    arrays.update(overrides)
    np.savez(path, **arrays)
    return classes


def test_the_original_file_loads_without_unpickling(tmp_path):
    classes = _fake_original(tmp_path / "d.npz")
    images, loaded = dsprites.load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(loaded, classes)
    np.testing.assert_array_equal(images, dsprites.render(classes))
    splits = load_splits(DataConfig(name="dsprites", path=str(tmp_path / "d.npz"), val_size=10))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (206, 10, 24)
    for split in ("train", "val", "test"):  # every image still carries its own factors
        x, y = splits.split(split)
        f = splits.factors[split]
        np.testing.assert_array_equal(x[:, 0].numpy().astype(np.uint8), dsprites.render(f.numpy()))
        assert torch.equal(y, f[:, 0])


@pytest.mark.parametrize("overrides,message", [
    ({"imgs": np.zeros((240, 32, 32), np.uint8)}, "(N, 64, 64)"),
    ({"latents_classes": np.zeros((240, 5), int)}, "'latents_classes' must have shape (240, 6)"),
    ({"latents_classes": np.full((240, 6), 50)}, "out of range"),
])
def test_a_factor_file_of_the_wrong_shape_is_refused(tmp_path, overrides, message):
    _fake_original(tmp_path / "bad.npz", **overrides)
    proc = vaelab_cli("train", "--data", f"dsprites:{tmp_path / 'bad.npz'}", "--out", tmp_path / "run", cwd=tmp_path)
    assert_refused(proc, message)
    assert not (tmp_path / "run").exists()


def test_rendered_splits_and_keeping_classes():
    splits = load_splits(DataConfig(name="dsprites", limit=500))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (400, 50, 50)
    assert splits.shape == (1, 64, 64) and splits.factor_names == dsprites.FACTORS
    hearts = load_splits(DataConfig(name="dsprites", limit=500, keep_labels=(2,)))
    assert (hearts.factors["train"][:, 0] == 2).all() and len(hearts.factors["train"]) == len(hearts.train)
    np.testing.assert_array_equal(hearts.train[:, 0].numpy().astype(np.uint8),
                                  dsprites.render(hearts.factors["train"].numpy()))


def test_limit_is_refused_below_three(tmp_path):
    assert_refused(vaelab_cli("train", "--limit", "2", "--out", tmp_path / "r", cwd=tmp_path),
                   "--limit: a limit must be an integer >= 3")


def smoke_disentangle(tiny_run, tiny_idx, tmp_path, capsys):
    run = tmp_path / "sprites"
    assert main(["train", *DSPRITES_TRAIN, "--regularizer", "tc", "--beta", "4", "--tc-estimator", "mss",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    assert json.loads((run / "config.json").read_text())["model"]["tc_estimator"] == "mss"
    assert main(["disentangle", str(run), "--json", "--out", str(tmp_path / "d.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((tmp_path / "d.json").read_text())
    assert report["n"] == 60 and report["factors"] == list(dsprites.FACTORS)
    for key in ("mig", "mig_posterior", "factor_vae_score", "dci_disentanglement", "dci_completeness",
                "dci_informativeness"):
        assert 0 <= report[key] <= 1, key
    assert np.array(report["mutual_information"]).shape == (4, 5)
    assert np.array(report["posterior_mutual_information"]).shape == (4, 5)
    assert main(["disentangle", str(run), "-n", "40"]) == 0
    text = capsys.readouterr().out
    assert "40 test examples" in text and "MIG per factor" in text and "MIG, posterior" in text
    assert main(["traverse", str(run), "--out", str(tmp_path / "t.png")]) == 0
    # a run on data without factors: one line, exit 2
    proc = vaelab_cli("disentangle", tiny_run, "--json", cwd=tmp_path)
    assert_refused(proc, "has no known factors")


def smoke_udr(tiny_run, tiny_idx, tmp_path, capsys):
    runs = [tmp_path / f"seed-{seed}" for seed in range(3)]
    for seed, run in enumerate(runs):
        assert main(["train", *DSPRITES_TRAIN, "--seed", str(seed),  # the later --seed wins
                     "--regularizer", "tc", "--beta", "4", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["udr", *map(str, runs), "--json", "-n", "50", "--out", str(tmp_path / "u.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((tmp_path / "u.json").read_text())
    assert report["n"] == 50 and report["runs"] == [str(r) for r in runs]
    assert len(report["udr"]) == 3 and all(0 <= u <= 1 for u in report["udr"])
    pairs = report["pairwise"]
    assert [pairs[i][i] for i in range(3)] == [None] * 3 and pairs[0][1] == pairs[1][0]
    assert report["udr"][0] == pytest.approx(float(np.median([pairs[0][1], pairs[0][2]])))
    assert all(set(d) <= set(range(4)) for d in report["informative_dimensions"])
    assert [json.loads((r / "config.json").read_text())["train"]["seed"] for r in runs] == [0, 1, 2]
    assert main(["udr", str(runs[0]), str(runs[1])]) == 0
    out = capsys.readouterr()
    assert "rank" in out.out and str(runs[1]) in out.out and "warning" not in out.err
    shutil.copytree(runs[0], tmp_path / "copy")  # runs sharing a seed: a warning, not an error
    assert main(["udr", str(runs[0]), str(tmp_path / "copy")]) == 0
    assert "both trained with seed 0" in capsys.readouterr().err
    # bad input: one line, exit 2
    assert_refused(vaelab_cli("udr", runs[0], cwd=tmp_path), "at least two run folders")
    assert_refused(vaelab_cli("udr", runs[0], runs[0], cwd=tmp_path), "given twice")
    assert_refused(vaelab_cli("udr", runs[0], tiny_run, cwd=tmp_path), "trained on other data")
    assert_refused(vaelab_cli("udr", runs[0], tmp_path / "missing", cwd=tmp_path), "missing")


def test_an_autoencoders_code_has_no_posterior_mig(tmp_path, capsys):
    run = tmp_path / "ae"
    assert main(["train", *DSPRITES_TRAIN, "--regularizer", "none", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["disentangle", str(run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mig_posterior"] is None and 0 <= report["mig"] <= 1
    assert main(["disentangle", str(run)]) == 0
    assert "n/a" in capsys.readouterr().out


def test_a_tc_estimator_without_the_tc_regularizer_is_refused(tmp_path):
    proc = vaelab_cli("train", *DSPRITES_TRAIN, "--tc-estimator", "mss", "--out", "ae", cwd=tmp_path)
    assert_refused(proc, "applies to --regularizer tc only")
    assert not (tmp_path / "ae").exists()
