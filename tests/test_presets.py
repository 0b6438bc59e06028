"""Presets and config files: named settings, flags on top, and the benchmarks' own settings taken from them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vaelab import Run, presets
from vaelab.cli import main
from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.errors import InputError
from vaelab.data.molecules import molecule_splits
from vaelab.train.options import build, check_names, layered

from conftest import TINY_TRAIN_ARGS
from test_cli import assert_refused, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")
MOLECULES = Path(__file__).parent / "data" / "molecules.smi"


def test_the_four_presets_ship_and_name_only_known_options():
    assert presets.names() == ["anomaly-one-class", "demo", "dsprites-tcvae", "moses-selfies"]
    for name in presets.names():
        check_names(presets.options(name), name)
        assert presets.preset(name)["description"]


def test_every_preset_builds_a_valid_config():
    """Each preset's options, on a small stand-in for its data (the config records the preset's data)."""
    from vaelab.data import load_splits

    sprites = load_splits(DataConfig(name="dsprites", limit=300))
    tokens = molecule_splits({"train": ["CCO", "c1ccccc1"], "val": ["CCN"], "test": ["CCC"]}, "selfies", "moses")
    stand_in = {"demo": None, "anomaly-one-class": None, "dsprites-tcvae": sprites, "moses-selfies": tokens}
    for name, splits in stand_in.items():
        if splits is None:
            continue  # MNIST: built below through the command line
        config, _ = build(layered({}, name), splits)
        assert config.data.name == presets.options(name)["data"]
    config, _ = build(layered({}, "moses-selfies"), tokens)
    assert config.model.arch == "gru" and config.model.free_bits == 0.25 and config.data.representation == "selfies"


def test_a_preset_with_flags_on_top(tiny_idx, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--preset", "demo", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--out", str(run)]) == 0
    config = Run.open(run).config
    assert config.model.latent_dim == 2 and config.train.epochs == 2  # the flags win
    assert config.model.arch == "conv" and config.data.name == "idx"


def test_a_config_file_with_flags_on_top_gives_the_same_run_but_what_the_flags_change(tiny_run, tmp_path):
    run = tmp_path / "seed-1"
    assert main(["train", "--config", str(tiny_run / "config.json"), "--seed", "1", "--quiet", "--out", str(run)]) == 0
    theirs, ours = Run.open(tiny_run).config, Run.open(run).config
    assert ours.train.seed == 1
    assert ours.model == theirs.model and ours.data == theirs.data
    assert ours.train.epochs == theirs.train.epochs and ours.train.lr == theirs.train.lr


def test_unknown_keys_in_a_config_file_are_refused_in_one_line(tiny_run, tmp_path):
    config = json.loads((tiny_run / "config.json").read_text())
    config["model"]["latent_size"] = 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    proc = vaelab_cli("train", "--config", bad, "--out", tmp_path / "run", cwd=tmp_path)
    assert_refused(proc, "--config", "unknown ModelConfig field(s): latent_size")
    assert not (tmp_path / "run").exists()
    with pytest.raises(InputError, match="unknown option"):
        layered({"latent_size": 3})


def test_the_benchmarks_train_with_the_settings_they_always_had():
    """Their run folders (kept and reused across sessions) must keep matching: the preset-made configs
    equal the hand-written ones the benchmarks used before the presets."""
    from bench import anomaly_mnist, disentangle_sweep, molecules

    sprites = DataConfig(name="dsprites", limit=300)
    from vaelab.data import load_splits

    splits = load_splits(sprites)
    args = type("Args", (), dict(limit=300, latent_dim=10, tc_estimator="mws", epochs=8, batch_size=64, lr=5e-4,
                                 net="conv", hidden=None))
    made = disentangle_sweep.run_config("tc", 4.0, 2, splits, args)
    assert made == RunConfig(data=sprites, model=ModelConfig(shape=(1, 64, 64), latent_dim=10, regularizer="tc",
                                                             beta=4.0, arch="conv", channels=(32, 32, 64, 64),
                                                             dense=(256,)),
                             train=TrainConfig(epochs=8, batch_size=64, lr=5e-4, seed=2))
    args.net, args.batch_size, args.lr = "mlp", 128, 1e-3
    made = disentangle_sweep.run_config("kl", 8.0, 0, splits, args)
    assert made == RunConfig(data=sprites, model=ModelConfig(shape=(1, 64, 64), latent_dim=10, regularizer="kl",
                                                             beta=8.0, arch="mlp", hidden=(1200, 1200)),
                             train=TrainConfig(epochs=8, batch_size=128, lr=1e-3, seed=0))
    assert anomaly_mnist.PRESET in presets.names() and molecules.PRESET in presets.names()
