"""Run folders written by vaelab's first config format (version 1) still load, evaluate and resume.

tests/data/runs-v1/ holds three folders written by the code at ce521d7 (config version 1): a
conditional MLP on MNIST digits 1 and 8, an anomaly run on a CSV table (standardization.json,
anomaly.json) and a GRU on SMILES (vocab.json); their data paths are relative to the repository
root. expected.json holds what that code printed for them: the evaluation of each folder and the
metrics line of one more epoch after `--resume`. Both must stay the same.

On a CPU whose kernels round differently, the same code gives other last bits:
expected-PLATFORM.json holds what the code gave there (avx512: bdebd5d; avx2-amd, an AMD EPYC:
7535c36; PLATFORM as tests/golden_cases.py names it), and a result must equal one recording
exactly (as the golden runs do).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import tiny_torch
from vaelab.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "runs-v1"
EXPECTED = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("expected*.json"))]  # each recording
TIMINGS = ("seconds", "images_per_s")
# name -> (the training command that wrote it, the epochs it resumes to)
RESUME = {"mnist-cvae": (["train"], 2), "table-anomaly": (["train"], 3), "molecules": (["mol", "train"], 2)}


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the fixtures name their data relative to the repository


@pytest.mark.parametrize("name", sorted(RESUME))
def test_a_version_1_folder_evaluates_as_it_did(name, tmp_path, at_root):
    out = tmp_path / "evaluation.json"
    with tiny_torch():
        assert main(["evaluate", str(FIXTURES / name), "--iwae-k", "5", "--limit", "40", "--quiet",
                     "--out", str(out)]) == 0
    got = {k: v for k, v in json.loads(out.read_text()).items() if k not in ("seconds", "run")}
    assert any(got == expected[name]["evaluation"] for expected in EXPECTED), (got, EXPECTED[0][name]["evaluation"])


@pytest.mark.parametrize("name", sorted(RESUME))
def test_a_version_1_folder_resumes_to_the_same_next_epoch(name, tmp_path, at_root):
    run = tmp_path / name
    shutil.copytree(FIXTURES / name, run)
    command, epochs = RESUME[name]
    with tiny_torch():
        assert main([*command, "--resume", "--out", str(run), "--epochs", str(epochs), "--quiet"]) == 0
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    got = {k: v for k, v in last.items() if k not in TIMINGS}
    assert any(got == expected[name]["resumed_epoch"] for expected in EXPECTED), (got, EXPECTED[0][name]["resumed_epoch"])


def test_a_version_1_anomaly_run_scores_with_its_threshold(tmp_path, at_root, capsys):
    with tiny_torch():
        assert main(["anomaly", "score", str(FIXTURES / "table-anomaly"), "--out", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    threshold = json.loads((FIXTURES / "table-anomaly" / "anomaly.json").read_text())["threshold"]
    assert f"threshold {threshold:.2f}, the run's" in out and "AUROC" in out
