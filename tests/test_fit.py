"""vaelab.fit and vaelab.load: training from Python on arrays, a Dataset or a data spec, as the CLI does."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import vaelab
from vaelab.cli import main

from conftest import TINY_TRAIN_ARGS, make_images
from test_cli import assert_refused, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")
OPTIONS = dict(model="mlp", hidden=(16,), latent_dim=2, epochs=2, batch_size=32, lr=0.01, device="cpu")


def arrays(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    images, labels = make_images(n, seed=1)
    return (images[:, None] / 255.0).astype(np.float32), labels.astype(np.int64)


def test_fit_on_arrays_returns_a_model_that_loads_back_the_same(tmp_path):
    x, _ = arrays()
    model = vaelab.fit(x, tmp_path / "run", binarize="none", likelihood="cbernoulli", progress=False, **OPTIONS)
    assert isinstance(model, vaelab.Model) and model.latent_dim == 2 and model.shape == (1, 8, 8)
    mu, logvar = model.encode(x[:5])
    assert isinstance(mu, np.ndarray) and mu.shape == logvar.shape == (5, 2)  # numpy in, numpy out
    again = vaelab.load(tmp_path / "run")
    np.testing.assert_array_equal(again.encode(x[:5])[0], mu)
    assert again.config.data.name == "arrays"  # recorded: there is no file to reload
    assert again.config.data.val_size == 10_000 and len(json.loads((tmp_path / "run" / "metrics.jsonl")
                                                                   .read_text().splitlines()[0])) > 0


def test_tools_refuse_a_run_trained_on_arrays_without_data_in_one_line(tmp_path, tiny_idx):
    x, _ = arrays()
    vaelab.fit(x, tmp_path / "run", binarize="none", likelihood="cbernoulli", val_size=50, progress=False, **OPTIONS)
    proc = vaelab_cli("evaluate", tmp_path / "run", "--iwae-k", "2", cwd=tmp_path)
    assert_refused(proc, "vaelab evaluate: error:", "--data", "in-memory arrays")
    # with data of the same kind, it evaluates (the run's binarization and validation size apply)
    proc = vaelab_cli("evaluate", tmp_path / "run", "--data", f"idx:{tiny_idx}", "--iwae-k", "2", "--json",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n"] == 100


def test_fit_on_a_dataset_of_pairs_trains_a_conditional_model():
    x, y = arrays()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    model = vaelab.fit(dataset, conditional=True, binarize="none", likelihood="cbernoulli", progress=False, **OPTIONS)
    assert model.conditional and model.num_classes == 3
    assert model.sample(4, y=2).shape == (4, 1, 8, 8)
    with pytest.raises(vaelab.InputError, match="needs a label"):
        model.sample(4)


def test_fit_on_a_spec_trains_what_the_command_line_trains(tiny_idx, tmp_path):
    """The same options by flag name: bit for bit the same weights."""
    assert main(["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--out", str(tmp_path / "cli")]) == 0
    model = vaelab.fit(f"idx:{tiny_idx}", tmp_path / "py", val_size=50, epochs=2, batch_size=32, lr=0.01,
                       model="conv", latent_dim=2, channels=(4, 8), device="cpu", likelihood="bernoulli",
                       progress=False)
    cli = vaelab.load(tmp_path / "cli")
    assert model.config == cli.config
    for key, value in cli.network.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value), key


def test_fit_errors_name_the_option_as_python_takes_it():
    x, _ = arrays()
    with pytest.raises(vaelab.InputError, match=r"^latent_dim: latent size must be at least 1"):
        vaelab.fit(x, **{**OPTIONS, "latent_dim": 0}, progress=False)
    with pytest.raises(vaelab.InputError, match="unknown option.*latent_size"):
        vaelab.fit(x, latent_size=3, progress=False)
    with pytest.raises(vaelab.InputError, match="numpy array or tensor"):
        vaelab.fit([[1, 2], [3, 4]], progress=False)
    with pytest.raises(vaelab.InputError, match=r"^model: unknown architecture 'bogus'"):
        vaelab.fit(x, **{**OPTIONS, "model": "bogus"}, progress=False)
    with pytest.raises(vaelab.InputError, match=r"^repr: molecules need a representation"):
        vaelab.fit("tests/data/molecules.smi", repr="bogus", progress=False)
    with pytest.raises(vaelab.InputError, match=r"^labels: labels go with array data"):
        vaelab.fit("mnist", labels=np.zeros(3, dtype=np.int64), progress=False)


def test_numpy_numbers_are_options_like_python_ones():
    """A sweep over np.arange or np.linspace passes numpy scalars; they mean what Python's do."""
    x, _ = arrays()
    model = vaelab.fit(x, **{**OPTIONS, "latent_dim": np.int64(3), "beta": np.float64(2.0), "epochs": np.int32(1)},
                       binarize="none", likelihood="cbernoulli", progress=False)
    assert model.config.model.latent_dim == 3 and type(model.config.model.latent_dim) is int
    assert model.config.model.beta == 2.0 and type(model.config.model.beta) is float
    assert json.loads(model.config.to_json())["train"]["epochs"] == 1


def test_a_presets_settings_for_another_regularizer_are_left_behind():
    """The tcvae preset's beta and the molecule preset's free bits belong to their regularisers: asking
    for another drops them (the config records what is used) rather than refusing what was not asked."""
    from vaelab.train.options import layered

    assert "beta" not in layered({"regularizer": "l2"}, "dsprites-tcvae")
    assert layered({"regularizer": "tc"}, "dsprites-tcvae")["beta"] == 4.0
    assert "free_bits" not in layered({"regularizer": "none"}, "moses-selfies")
    with pytest.raises(vaelab.InputError, match="beta applies to regularizer kl or tc only"):
        layered({"regularizer": "l2", "beta": 2.0}, "dsprites-tcvae")


def test_fit_resumes_a_run_trained_on_arrays(tmp_path):
    x, _ = arrays()
    options = dict(OPTIONS, binarize="none", likelihood="cbernoulli")
    vaelab.fit(x, tmp_path / "run", progress=False, **options)
    model = vaelab.fit(x, tmp_path / "run", resume=True, progress=False, **{**options, "epochs": 3})
    epochs = [r["epoch"] for r in vaelab.Run.open(tmp_path / "run").metrics()]
    assert epochs == [1, 2, 3] and model.config.train.epochs == 3


def test_resume_accepts_the_training_command_repeated(tiny_idx, tmp_path):
    """Up-arrow, add --resume: every repeated option equals the saved one, so it continues."""
    run = tmp_path / "run"
    command = ["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--out", str(run)]
    assert main(command) == 0
    assert main([*command, "--resume", "--epochs", "3"]) == 0
    assert [r["epoch"] for r in vaelab.Run.open(run).metrics()] == [1, 2, 3]
    proc = vaelab_cli(*command, "--resume", "--epochs", "4", "--lr", "0.1", "--seed", "5", cwd=tmp_path)
    assert_refused(proc, "these differ: --seed 5 (the run has 0)")  # --lr may change: the course


def test_load_gives_a_molecule_model_for_a_molecule_run(tmp_path):
    from pathlib import Path

    molecules = Path(__file__).parent / "data" / "molecules.smi"
    model = vaelab.fit(str(molecules), tmp_path / "mol", latent_dim=4, hidden=16, embed_dim=8, epochs=1,
                       val_size=20, progress=False)
    assert isinstance(model, vaelab.MoleculeModel) and isinstance(vaelab.load(tmp_path / "mol"), vaelab.MoleculeModel)
    assert all(isinstance(s, str) for s in model.sample(3, generator=0))


def test_fit_starts_from_a_run_config_with_options_on_top(tiny_run, tmp_path):
    """A RunConfig is a layer under the options given, as a config.json file is: its own weights (beta,
    lam) are settings carried along, not asks that a regulariser would ignore."""
    saved = vaelab.Run.open(tiny_run).config
    model = vaelab.fit(config=saved, seed=1, epochs=1, progress=False)
    assert model.config.train.seed == 1 and model.config.model == saved.model and model.config.data == saved.data


def test_keeping_labels_and_contrast_apply_to_arrays_too():
    x, y = arrays()
    model = vaelab.fit(x, labels=y, keep_labels=(1,), contrast="gcn", binarize="none", likelihood="gaussian-learned",
                       progress=False, **OPTIONS)
    assert model.config.data.keep_labels == (1,) and model.config.data.contrast == "gcn"
    from vaelab.data import finish
    from vaelab.data.arrays import splits_from_arrays

    splits = finish(splits_from_arrays(x, y), model.config.data)
    assert set(splits.train_labels.tolist()) == {1} and float(splits.train.mean().abs()) < 1e-5  # centred images


def test_a_run_on_a_data_source_does_not_resume_on_arrays(tiny_run):
    x, _ = arrays()
    with pytest.raises(vaelab.InputError, match="resume it with the same data"):
        vaelab.fit(x, tiny_run, resume=True, epochs=5, progress=False)


def test_molecule_runs_refuse_image_commands_in_one_line(tmp_path):
    from pathlib import Path

    molecules = Path(__file__).parent / "data" / "molecules.smi"
    vaelab.fit(str(molecules), tmp_path / "mol", latent_dim=4, hidden=16, embed_dim=8, epochs=1, val_size=20,
               progress=False)
    for command in (["reconstruct"], ["map"], ["encode", "--out", tmp_path / "z.npz"], ["sample"]):
        proc = vaelab_cli(command[0], tmp_path / "mol", *command[1:], cwd=tmp_path)
        assert_refused(proc, "molecule model", "MoleculeModel")
    with pytest.raises(vaelab.InputError, match="cannot be exported"):
        from vaelab.export import export_onnx

        export_onnx(vaelab.load(tmp_path / "mol"), tmp_path / "onnx")
