"""bench.runs: a benchmark reuses a finished run folder, resumes a killed one, refuses a foreign one."""
import dataclasses
import json

import pytest
import torch

from bench.runs import train_or_reuse
from test_training import DATA, _config


def _epochs_logged(run_dir) -> list[int]:
    return [json.loads(ln)["epoch"] for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_finished_run_is_reused_not_retrained(tmp_path):
    run = tmp_path / "run"
    first = train_or_reuse(_config(1), DATA, run, progress=False)
    again = train_or_reuse(_config(1), DATA, run, progress=False)  # finished: nothing trained
    assert _epochs_logged(run) == [1]
    for key, value in first.network.state_dict().items():
        assert torch.equal(again.network.state_dict()[key], value)
    with pytest.raises(SystemExit, match="train.epochs 1 there, 2 here"):  # another training, not a resume
        train_or_reuse(_config(2), DATA, run, progress=False)


def test_killed_run_is_resumed(tmp_path):
    run = tmp_path / "run"
    config = _config(2)
    one_epoch = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1))
    train_or_reuse(one_epoch, DATA, run, progress=False)
    (run / "config.json").write_text(json.dumps(config.to_dict()))  # as if killed after epoch 1 of 2
    train_or_reuse(config, DATA, run, progress=False)
    assert _epochs_logged(run) == [1, 2]


def test_a_folder_with_other_settings_is_refused_by_name(tmp_path):
    run = tmp_path / "run"
    train_or_reuse(_config(1), DATA, run, progress=False)
    with pytest.raises(SystemExit, match="latent_dim"):
        train_or_reuse(_config(1, latent_dim=4), DATA, run, progress=False)
    (tmp_path / "stray").mkdir()
    with pytest.raises(SystemExit, match="not a run folder"):
        train_or_reuse(_config(1), DATA, tmp_path / "stray", progress=False)
