"""The `vaelab` command: every subcommand on a tiny run, its help, and how it refuses bad input.

Bad input runs as a real subprocess (`python -m vaelab`), so the exit code and stderr are what a
user sees: exit 2, one line starting with "vaelab", no traceback, and nothing half-written.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaelab
from vaelab.cli import command_names, main
from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import load_splits
from vaelab.errors import TrainingDiverged
from vaelab.io import read_tensors
from vaelab import Run
from vaelab.train.trainer import train

from conftest import TINY_EPOCHS, TINY_FILES, TINY_TEST, TINY_TRAIN, TINY_TRAIN_ARGS, TINY_VAL, as_values

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")

EVAL_KEYS = {"elbo", "recon", "kl", "nll_iwae", "iwae_k", "active_units", "n", "split", "binarization",
             "bits_per_dim"}
PAD, SCALE, SIDE = 2, 2, 8  # vaelab.viz.grid's defaults, and the tiny images' side


def grid_size(n_cols: int, n_rows: int) -> tuple[int, int]:
    """(width, height) of a PNG grid of 8x8 tiles: 2 px of padding around each, then 2x upscaled."""
    return ((n_cols * (SIDE + PAD) + PAD) * SCALE, (n_rows * (SIDE + PAD) + PAD) * SCALE)


def tile(png: np.ndarray, row: int, col: int) -> np.ndarray:
    """The 8x8 image at (row, col) of a grid, read back at its original resolution."""
    top, left = (PAD + row * (SIDE + PAD)) * SCALE, (PAD + col * (SIDE + PAD)) * SCALE
    return png[top:top + SIDE * SCALE:SCALE, left:left + SIDE * SCALE:SCALE]


def as_pixels(x: torch.Tensor) -> np.ndarray:
    """(1, 8, 8) values in [0, 1] -> the uint8 grey levels the grid draws."""
    return (x.clamp(0, 1)[0].numpy() * 255 + 0.5).astype(np.uint8)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (temporary files included) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- smoke test of every command -------------------------------------------------------------------
def smoke_train(tiny_run, tiny_idx, tmp_path, capsys):
    """The fixture's run is complete; continuing it with --resume trains one more epoch."""
    config = Run.open(tiny_run).config
    assert config.data.name == "idx" and Path(config.data.path) == tiny_idx and config.data.val_size == TINY_VAL
    assert config.model.shape == (1, 8, 8) and config.model.latent_dim == 2 and config.model.channels == (4, 8)
    # .lock: what a second training into the folder is refused by (tests/test_concurrency.py)
    assert sorted(p.name for p in tiny_run.iterdir()) == [".lock", "checkpoint.safetensors", "config.json",
                                                         "metrics.jsonl", "model.safetensors"]
    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, TINY_EPOCHS + 1))
    steps_per_epoch = math.ceil((TINY_TRAIN - TINY_VAL) / 32)
    assert [r["step"] for r in records] == [steps_per_epoch * r["epoch"] for r in records]
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in records)
    assert records[-1]["val_loss"] < records[0]["train_loss"]  # it learnt something

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["train", "--resume", "--out", str(run), "--epochs", str(TINY_EPOCHS + 1), "--quiet"]) == 0
    assert f"run folder: {run}" in capsys.readouterr().out
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, TINY_EPOCHS + 2))
    assert records[-1]["step"] == steps_per_epoch * (TINY_EPOCHS + 1)
    assert vaelab.load(run).sample(3).shape == (3, 1, 8, 8)


def smoke_evaluate(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(tiny_run), "--iwae-k", "50", "--json", "--quiet", "--out", str(out)]) == 0
    r = json.loads(capsys.readouterr().out)  # stdout is one JSON object and nothing else
    assert EVAL_KEYS <= set(r)
    assert json.loads(out.read_text()) == r
    assert r["split"] == "test" and r["n"] == TINY_TEST and r["iwae_k"] == 50
    assert r["binarization"].startswith("fixed stochastic binarization")
    assert r["kl"] >= 0 and r["recon"] > 0
    assert r["elbo"] == pytest.approx(r["recon"] + r["kl"], rel=1e-9, abs=1e-9)
    assert 0 < r["nll_iwae"] <= r["elbo"] + 0.1  # IWAE bound: a probability of binary pixels, tighter than the ELBO
    assert r["elbo"] < 64 * math.log(2)  # better than a coin per pixel: the model learnt something
    assert r["bits_per_dim"] == pytest.approx(r["nll_iwae"] / (64 * math.log(2)))
    assert 0 <= r["active_units"] <= 2

    assert main(["evaluate", str(tiny_run), "--iwae-k", "10", "--split", "val", "--limit", "20", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "negative ELBO" in table and "IWAE K=10" in table
    assert re.search(r"^examples\s+20 \(val split\)$", table, re.M)

    assert main(["evaluate", str(tiny_run), "--iwae-k", "2", "--start", f"{TINY_TEST - 7}", "--quiet", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["start"] == TINY_TEST - 7 and r["n"] == 7  # from --start to the end of the split


def smoke_sample(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "samples.png"
    assert main(["sample", str(tiny_run), "-n", "6", "--temperature", "0.8", "--seed", "3", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    png = Image.open(out)
    assert png.format == "PNG" and png.mode == "L"
    assert png.size == grid_size(3, 2)  # 6 images: ceil(sqrt(6)) = 3 per row, 2 rows
    pixels = np.asarray(png)
    expected = vaelab.load(tiny_run).sample(6, 0.8, torch.Generator().manual_seed(3))
    for i in range(6):
        np.testing.assert_allclose(tile(pixels, *divmod(i, 3)), as_pixels(expected[i]), atol=1)
    assert (pixels[:, :PAD * SCALE] == 128).all()  # padding, not images, at the edge

    assert main(["sample", str(tiny_run), "-n", "1"]) == 0  # default output: RUN/samples.png
    assert Image.open(tiny_run / "samples.png").size == grid_size(1, 1)
    (tiny_run / "samples.png").unlink()  # leave the shared run as it was


def smoke_reconstruct(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "recon.png"
    assert main(["reconstruct", str(tiny_run), "-n", "5", "--start", "3", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    png = Image.open(out)
    assert png.size == grid_size(5, 2)  # originals above their reconstructions: 2 rows of 5
    pixels = np.asarray(png)
    data = as_values(load_splits(DataConfig(name="idx", path=str(tiny_idx), val_size=TINY_VAL)))
    originals = data.test[3:8]
    recon = vaelab.load(tiny_run).reconstruct(originals)
    for i in range(5):
        np.testing.assert_array_equal(tile(pixels, 0, i), as_pixels(originals[i]))
        np.testing.assert_allclose(tile(pixels, 1, i), as_pixels(recon[i]), atol=1)

    out = tmp_path / "recon20.png"
    assert main(["reconstruct", str(tiny_run), "-n", "20", "--split", "val", "--out", str(out)]) == 0
    assert Image.open(out).size == grid_size(16, 4)  # 16 a row: two pairs of rows
    pixels = np.asarray(Image.open(out))
    originals = data.val[:20]
    recon = vaelab.load(tiny_run).reconstruct(originals)
    for i in range(20):  # the short last pair too: each original directly above its reconstruction
        row, col = divmod(i, 16)
        np.testing.assert_array_equal(tile(pixels, 2 * row, col), as_pixels(originals[i]))
        np.testing.assert_allclose(tile(pixels, 2 * row + 1, col), as_pixels(recon[i]), atol=1)
    assert (tile(pixels, 2, 4) == 128).all() and (tile(pixels, 3, 15) == 128).all()  # blank, not wrapped


SMOKE = {"train": smoke_train, "evaluate": smoke_evaluate, "sample": smoke_sample, "reconstruct": smoke_reconstruct}


def _all_smoke_tests() -> dict:
    from test_anomaly import smoke_anomaly  # imported late: those modules import helpers from this one
    from test_apps_cli import APP_SMOKE
    from test_export import smoke_export
    from test_factors import smoke_disentangle, smoke_udr
    from test_latent_cli import LATENT_SMOKE
    from test_mol_cli import smoke_mol
    from test_bitsback import COMPRESS_SMOKE
    from test_report import REPORT_SMOKE
    from test_serve import smoke_serve

    return {**SMOKE, **LATENT_SMOKE, **APP_SMOKE, "anomaly": smoke_anomaly, "disentangle": smoke_disentangle,
            "udr": smoke_udr, "mol": smoke_mol, "serve": smoke_serve, "export": smoke_export, **REPORT_SMOKE,
            **COMPRESS_SMOKE}


def test_every_command_has_a_smoke_test():
    assert command_names() == sorted(_all_smoke_tests()), "add a smoke_<command> function for each new command"


@pytest.mark.parametrize("command", command_names())
def test_smoke(command, tiny_run, tiny_idx, tmp_path, capsys):
    before = snapshot(tiny_run)
    _all_smoke_tests()[command](tiny_run, tiny_idx, tmp_path, capsys)
    assert snapshot(tiny_run) == before  # the shared run is never changed


# --- help ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", command_names())
def test_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and f"vaelab {command}" in text


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(command in text for command in command_names())


def test_starting_the_command_leaves_the_heavy_libraries_unimported(tmp_path):
    """Every `vaelab` call pays for what its start imports: scipy.stats alone took a second, so the
    libraries only some commands need are imported by those commands."""
    heavy = ("scipy", "sklearn", "matplotlib", "rdkit", "fastapi", "mlflow", "tensorboard", "onnx")
    code = f"import sys, vaelab, vaelab.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_choices_are_listed_in_a_fresh_process(tmp_path):
    """The --model and --likelihood choices come from registries that a bare `python -m vaelab` must fill."""
    from vaelab.registry import architectures, likelihoods

    proc = vaelab_cli("train", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"--model {{{','.join(architectures.names())}}}" in proc.stdout
    assert f"--likelihood {{{','.join(likelihoods.names())}}}" in proc.stdout
    assert {"conv", "mlp"} <= set(architectures.names()) and "bernoulli" in likelihoods.names()


# --- bad input, as a user sees it ---------------------------------------------------------------------
def vaelab_cli(*args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAELAB_CACHE": str(Path(cwd) / "cache")}  # never the real cache
    return subprocess.run([sys.executable, "-m", "vaelab", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_an_error_names_its_option_once_as_python_and_as_the_command_line_call_it():
    from vaelab.errors import InputError

    flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
    placed = InputError("{held_out} scaffolds needs {data} moses", "held_out")
    assert str(placed) == "held_out scaffolds needs data moses"
    assert placed.render(flag) == "--held-out scaffolds needs --data moses"
    prefixed = InputError("must be at least 1, got 0", "latent_dim")
    assert str(prefixed) == "latent_dim: must be at least 1, got 0"
    assert prefixed.render(flag) == "--latent-dim: must be at least 1, got 0"


def assert_refused(proc: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaelab"), proc.stderr
    assert proc.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_command_refused(run, tmp_path, args, message):
    """`vaelab COMMAND RUN ARGS --out F`, as a user runs it: refused in one line, and F never written."""
    out = tmp_path / "out.png"
    proc = vaelab_cli(args[0], run, *args[1:], "--out", out, cwd=tmp_path)
    assert_refused(proc, f"vaelab {args[0]}: error:", message)
    assert not out.exists()


def train_args(data, out, *extra):
    return ["train", "--data", str(data), *TINY_TRAIN_ARGS, "--out", str(out), *map(str, extra)]


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    copy = tmp_path / "run-copy"
    shutil.copytree(tiny_run, copy)
    return copy


def test_unknown_dataset(tmp_path):
    proc = vaelab_cli(*train_args("nosuch", tmp_path / "run"), cwd=tmp_path)
    assert_refused(proc, "vaelab train: error:", "unknown dataset 'nosuch'", "idx", "mnist")
    assert not (tmp_path / "run").exists()


def test_missing_idx_folder(tmp_path):
    proc = vaelab_cli(*train_args(f"idx:{tmp_path / 'nowhere'}", tmp_path / "run"), cwd=tmp_path)
    assert_refused(proc, "IDX folder not found")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key, damage", [
    ("test_images", lambda raw: raw[:-7]),  # plain file, cut short
    ("train_images", lambda raw: raw[:10] + b"\xff" * 20 + raw[30:]),  # gzip file, damaged deflate stream
])
def test_corrupt_idx_file(tiny_idx, tmp_path, key, damage):
    data = tmp_path / "data"
    shutil.copytree(tiny_idx, data)
    path = data / TINY_FILES[key]
    path.write_bytes(damage(path.read_bytes()))
    proc = vaelab_cli(*train_args(f"idx:{data}", tmp_path / "run"), cwd=tmp_path)
    assert_refused(proc, TINY_FILES[key])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["evaluate", "sample", "reconstruct"])
def test_missing_run_folder(tmp_path, command):
    out = tmp_path / "out.png"
    proc = vaelab_cli(command, tmp_path / "no-run", "--out", out, cwd=tmp_path)
    assert_refused(proc, f"vaelab {command}: error:", "run folder not found")
    assert not out.exists() and not (tmp_path / "no-run").exists()


@pytest.mark.parametrize("command", ["evaluate", "sample", "reconstruct"])
def test_corrupt_weights(run_copy, tmp_path, command):
    (run_copy / "model.safetensors").write_bytes(b"\x00garbage, not safetensors" * 10)
    before = snapshot(run_copy)
    extra = ["--out", tmp_path / "eval.json"] if command == "evaluate" else []  # pictures: default RUN/*.png
    proc = vaelab_cli(command, run_copy, *extra, cwd=tmp_path)
    assert_refused(proc, "model.safetensors", "corrupt")
    assert snapshot(run_copy) == before
    assert not (tmp_path / "eval.json").exists()


def test_latent_size_zero(tiny_idx, tmp_path):
    proc = vaelab_cli(*train_args(f"idx:{tiny_idx}", tmp_path / "run", "--latent-dim", "0"), cwd=tmp_path)
    assert_refused(proc, "latent size must be at least 1")
    assert not (tmp_path / "run").exists()


def test_batch_larger_than_training_set(tiny_idx, tmp_path):
    proc = vaelab_cli(*train_args(f"idx:{tiny_idx}", tmp_path / "run", "--batch-size", "1000"), cwd=tmp_path)
    assert_refused(proc, "batch size 1000 is larger than the training set (250 examples)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, message", [
    (("--lam", "0.1"), "--lam applies to --regularizer l2 only, not kl"),
    (("--regularizer", "tc", "--lam", "0.1"), "--lam applies to --regularizer l2 only, not tc"),
    (("--regularizer", "none", "--beta", "4"), "--beta applies to --regularizer kl or tc only, not none"),
    (("--regularizer", "l2", "--beta", "4"), "--beta applies to --regularizer kl or tc only, not l2"),
])
def test_a_weight_the_regularizer_would_ignore_is_refused(tiny_idx, tmp_path, options, message):
    proc = vaelab_cli(*train_args(f"idx:{tiny_idx}", tmp_path / "run", *options), cwd=tmp_path)
    assert_refused(proc, message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, message", [
    (("--start", "-1"), "--start: the first example must be >= 0, got -1"),
    (("--limit", "0"), "-n: the number of examples must be at least 1, got 0"),
    (("-n", "0"), "-n: the number of examples must be at least 1, got 0"),
    (("--start", "100000"), "the test split has no examples from 100000 on (it has"),
])
def test_evaluate_outside_the_split_is_refused(run_copy, tmp_path, options, message):
    proc = vaelab_cli("evaluate", run_copy, "--iwae-k", "2", *options, cwd=tmp_path)
    assert_refused(proc, message)


def test_out_is_an_existing_folder(tiny_idx, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("do not touch")
    proc = vaelab_cli(*train_args(f"idx:{tiny_idx}", out), cwd=tmp_path)
    assert_refused(proc, "already exists and is not empty")
    assert snapshot(out) == {"notes.txt": b"do not touch"}


def test_resume_with_a_changed_model_option(run_copy, tmp_path):
    before = snapshot(run_copy)
    proc = vaelab_cli("train", "--resume", "--out", run_copy, "--latent-dim", "3", "--epochs", "5", cwd=tmp_path)
    assert_refused(proc, "--resume", "--latent-dim")
    assert snapshot(run_copy) == before


def test_bernoulli_on_grey_pixels_is_refused(tiny_idx, tmp_path):
    proc = vaelab_cli(*train_args(f"idx:{tiny_idx}", tmp_path / "run", "--binarize", "none"), cwd=tmp_path)
    assert_refused(proc, "Bernoulli", "--allow-grey-bernoulli")
    assert not (tmp_path / "run").exists()


def test_bernoulli_on_grey_pixels_when_allowed(tiny_idx, tmp_path):
    out = tmp_path / "run"
    args = train_args(f"idx:{tiny_idx}", out, "--binarize", "none", "--allow-grey-bernoulli", "--epochs", "1")
    assert main(args) == 0
    config = Run.open(out).config
    assert config.data.binarize == "none" and config.data.allow_grey_bernoulli
    assert (out / "model.safetensors").is_file()


# --- the NaN guard -------------------------------------------------------------------------------------
def tiny_config(tiny_idx, **train) -> tuple[RunConfig, object]:
    data_config = DataConfig(name="idx", path=str(tiny_idx), val_size=TINY_VAL)
    data = load_splits(data_config)
    config = RunConfig(data=data_config,
                       model=ModelConfig(arch="conv", shape=data.shape, latent_dim=2, channels=(4, 8)),
                       train=TrainConfig(batch_size=32, device="cpu", **train))
    return config, data


def assert_weights_finite(run: Path) -> None:
    for name in ("model.safetensors", "checkpoint.safetensors"):
        if (run / name).exists():
            for key, tensor in read_tensors(run / name).items():
                if tensor.is_floating_point():
                    assert torch.isfinite(tensor).all(), f"{name}: {key} is not finite"


def test_a_huge_learning_rate_diverges_cleanly(tiny_idx, tmp_path):
    config, data = tiny_config(tiny_idx, epochs=2, lr=1e6)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"^loss became (nan|inf|-inf) at epoch 1, step \d+ \(global step \d+\)"):
        train(config, data, out, progress=False)
    assert not out.exists()  # it never finished an epoch: no run folder is left
    assert TrainingDiverged.exit_code == 1


def test_nan_guard_names_the_exact_step(tiny_idx, tmp_path, monkeypatch):
    """A NaN at the 3rd step of epoch 2 (global step 8 + 3) is reported as exactly that step."""
    from vaelab.models.vae import VAE

    forward, calls = VAE.forward, []

    def poisoned(self, x, *args, **kwargs):
        terms = forward(self, x, *args, **kwargs)
        if self.training:  # count training steps only, not validation batches
            calls.append(1)
            if len(calls) == 8 + 3:
                terms = type(terms)(loss=terms.loss * float("nan"), recon=terms.recon, reg=terms.reg)
        return terms

    monkeypatch.setattr(VAE, "forward", poisoned)
    config, data = tiny_config(tiny_idx, epochs=3)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        train(config, data, out, progress=False)
    message = str(info.value)
    assert "at epoch 2, step 3 (global step 11)" in message
    assert "the checkpoint of epoch 1 is kept" in message
    assert len(calls) >= 11
    # epoch 1's run folder stays, with finite weights; nothing of epoch 2 was written
    assert_weights_finite(out)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]
    model = vaelab.load(out)
    assert all(torch.isfinite(p).all() for p in model.network.parameters())


def test_nan_guard_through_the_cli(tiny_idx, tmp_path):
    proc = vaelab_cli(*train_args(f"idx:{tiny_idx}", tmp_path / "run", "--lr", "1e6"), cwd=tmp_path)
    # training had started (it said how it models the pixels), then stopped with one line
    started, error = proc.stderr.splitlines()
    assert started.startswith("p(x|z): ") and proc.returncode == 1 and "Traceback" not in proc.stderr
    assert error.startswith("vaelab train: error: loss became") and "at epoch 1, step" in error
    assert not (tmp_path / "run").exists()


def test_progress_bars_stay_off_a_stderr_that_is_not_a_terminal(tiny_idx, tmp_path):
    """Captured or logged, training prints its lines, not a bar's carriage-return redraws."""
    proc = vaelab_cli("train", "--data", f"idx:{tiny_idx}", "--model", "mlp", "--latent-dim", 2, "--epochs", 1,
                      "--out", tmp_path / "run", cwd=tmp_path)  # no --quiet
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "batch/s" not in proc.stderr, proc.stderr
    assert "epoch 1/1  train" in proc.stderr
