"""One `vaelab train` for every modality: molecules take the image options that make sense for them
(precision, compile, several processes) and images the molecule ones (free bits)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vaelab import Run
from vaelab.cli import main

from conftest import TINY_TRAIN_ARGS
from test_cli import vaelab_cli
from test_distributed import assert_same_run

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")
MOLECULES = Path(__file__).parent / "data" / "molecules.smi"
TINY_GRU = ["--data", str(MOLECULES), "--latent-dim", "4", "--hidden", "16", "--embed-dim", "8", "--val-size", "20",
            "--device", "cpu", "--quiet"]


def losses(run: Path) -> torch.Tensor:
    return torch.tensor([[r["train_loss"], r["val_loss"]] for r in Run.open(run).metrics()])


def test_molecules_train_with_the_image_command_and_its_defaults(tmp_path):
    assert main(["train", *TINY_GRU, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    config = Run.open(tmp_path / "run").config
    assert config.model.arch == "gru" and config.data.representation == "selfies"
    assert config.train.kl_warmup == 1.0 and config.train.grad_clip == 50.0 and config.model.word_dropout == 0.1
    assert (tmp_path / "run" / "vocab.json").is_file()


def test_molecules_train_in_bf16_close_to_fp32(tmp_path):
    for precision in ("fp32", "bf16"):
        assert main(["train", *TINY_GRU, "--epochs", "2", "--precision", precision,
                     "--out", str(tmp_path / precision)]) == 0
    assert Run.open(tmp_path / "bf16").config.train.precision == "bf16"
    fp32, bf16 = losses(tmp_path / "fp32"), losses(tmp_path / "bf16")
    assert not torch.equal(fp32, bf16)  # bf16 autocast did round
    torch.testing.assert_close(bf16, fp32, rtol=1e-3, atol=0.1)


@pytest.mark.slow
def test_molecules_in_two_processes_match_one(tmp_path):
    one = vaelab_cli("train", *TINY_GRU, "--epochs", "2", "--batch-size", "32", "--out", tmp_path / "one",
                     cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = vaelab_cli("train", *TINY_GRU, "--epochs", "2", "--batch-size", "32", "--nproc", "2",
                     "--out", tmp_path / "two", cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    assert_same_run(tmp_path / "one", tmp_path / "two", epochs=2)


@pytest.mark.slow
def test_molecules_train_compiled(tmp_path):
    """torch.compile of the GRU (about 40 s of compiling on a CPU), the same losses as eager, up to rounding."""
    for compiled in (False, True):
        assert main(["train", *TINY_GRU, "--epochs", "1", *(["--compile"] if compiled else []),
                     "--out", str(tmp_path / str(compiled))]) == 0
    torch.testing.assert_close(losses(tmp_path / "True"), losses(tmp_path / "False"), rtol=1e-4, atol=1e-3)


def test_images_take_free_bits(tiny_idx, tmp_path):
    for free_bits in ("0", "0.5"):
        assert main(["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--free-bits", free_bits,
                     "--out", str(tmp_path / free_bits)]) == 0
    assert Run.open(tmp_path / "0.5").config.model.free_bits == 0.5
    plain, floored = Run.open(tmp_path / "0").metrics()[0], Run.open(tmp_path / "0.5").metrics()[0]
    assert plain["train_loss"] != floored["train_loss"]  # the floor changed what was optimised
    assert json.loads((tmp_path / "0.5" / "config.json").read_text())["model"]["free_bits"] == 0.5
