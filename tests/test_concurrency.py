"""One run folder, one writer: a second training or resume into a folder in use is refused, and
refusing leaves the folder as it was."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from vaelab.config import DataConfig, RunConfig
from vaelab.errors import ResourceError
from vaelab.run import Run

from test_cli import vaelab_cli


def test_a_claimed_folder_is_refused_to_a_second_claim(tmp_path):
    config = RunConfig(data=DataConfig(name="mnist"))
    first = Run.create(tmp_path / "run", config)
    holder = rf"another vaelab process \(PID {os.getpid()}\) is training into"
    with pytest.raises(ResourceError, match=holder):  # unfinished, so it could start again: but it is held
        Run.create(tmp_path / "run", config)
    with pytest.raises(ResourceError, match=holder):
        Run(tmp_path / "run", config).claim()
    first.release()
    Run(tmp_path / "run", config).claim()  # free again once released


def test_resume_while_the_run_is_training_is_refused(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--limit", "3000", "--model", "mlp", "--latent-dim", "2", "--epochs", "200", "--quiet",
            "--out", str(run)]
    training = subprocess.Popen([sys.executable, "-m", "vaelab", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").is_file():  # an epoch or more done, the lock held
            assert training.poll() is None and time.monotonic() < deadline, "the training did not start"
            time.sleep(0.2)
        config_before = (run / "config.json").read_bytes()
        resumed = vaelab_cli("train", "--resume", "--out", run, "--epochs", "300", "--quiet", cwd=tmp_path)
        assert resumed.returncode == 2 and "Traceback" not in resumed.stderr, resumed.stderr
        assert resumed.stderr.strip().splitlines() == [
            f"vaelab train: error: another vaelab process (PID {training.pid}) is training into {run}; wait until "
            "it ends, or choose another --out"]
        assert (run / "config.json").read_bytes() == config_before  # the refused resume changed nothing
        again = vaelab_cli("train", "--limit", "3000", "--epochs", "1", "--out", run, "--quiet", cwd=tmp_path)
        assert again.returncode == 2 and "already exists and is not empty" in again.stderr
    finally:
        training.kill()
        training.wait()
    # killed, the training's lock is gone with it: the run resumes
    resumed = vaelab_cli("train", "--resume", "--out", run, "--epochs", "1", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr


def test_two_trainings_started_together_leave_one_clean_run(tmp_path):  # twenty times under test-slow
    two_trainings_started_together(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(20))
def test_two_trainings_started_together_twenty_times(tmp_path, trial):  # the goal: 0 corrupted in 20
    two_trainings_started_together(tmp_path)


def two_trainings_started_together(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "vaelab", "train", "--limit", "600", "--model", "mlp", "--latent-dim", "2",
            "--epochs", "2", "--quiet", "--out", str(run)]
    both = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in both]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refusal = next(err for code, err in results if code == 2)
    assert "Traceback" not in refusal and len(refusal.strip().splitlines()) == 1, refusal
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # one run's epochs, once each
