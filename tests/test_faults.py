"""Faults during training: a kill at every write point of an epoch, a full disk, a run stopped
before its first checkpoint, a divergence. Each leaves a folder that the same command continues,
with no metrics line lost or doubled and no temporary file left behind."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import vaelab
from vaelab.errors import TrainingDiverged

from test_cli import TINY_TRAIN_ARGS, vaelab_cli

# Runs `vaelab ARGS...` in a process that dies (os._exit, as kill -9 would leave it: no finally
# blocks, no clean-up) just before or just after its K-th write: every file vaelab writes in a run
# folder is published by os.replace (io.atomic_path) or appended by io.append_line.
KILLER = r"""
import os, sys
import vaelab.run

when, k = sys.argv[1], int(sys.argv[2])
writes = [0]

def dying(real):
    def write(*args, **kwargs):
        writes[0] += 1
        if writes[0] == k and when == "before":
            os._exit(137)
        result = real(*args, **kwargs)
        if writes[0] == k and when == "after":
            os._exit(137)
        return result
    return write

os.replace = dying(os.replace)
vaelab.run.append_line = dying(vaelab.run.append_line)
from vaelab.cli import main
code = main(sys.argv[3:])
print(f"writes={writes[0]}", file=sys.stderr)
sys.exit(code)
"""
EPOCHS = 3
TIMING = ("seconds", "images_per_s")  # the only fields of a metrics line that differ between two runs


def train_command(data: Path, out: Path, *extra) -> list[str]:
    return ["train", "--data", f"idx:{data}", *TINY_TRAIN_ARGS, "--model", "mlp", "--epochs", str(EPOCHS),
            "--out", str(out), *extra]


def killed(when: str, k: int, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", KILLER, when, str(k), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def metrics(run: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in lines]


@pytest.fixture(scope="module")
def straight(tiny_idx, tmp_path_factory) -> tuple[Path, int]:
    """A run trained without interruption, and how many writes it made."""
    out = tmp_path_factory.mktemp("straight") / "run"
    proc = killed("never", 0, train_command(tiny_idx, out), out.parent)
    assert proc.returncode == 0, proc.stderr
    return out, int(proc.stderr.strip().splitlines()[-1].removeprefix("writes="))


def assert_killed_then_resumed_as_straight(tiny_idx, tmp_path, straight, when, k):
    reference, _ = straight
    out = tmp_path / "run"
    proc = killed(when, k, train_command(tiny_idx, out), tmp_path)
    assert proc.returncode == 137, proc.stderr
    again = vaelab_cli(*train_command(tiny_idx, out, "--resume", "--quiet"), cwd=tmp_path)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert metrics(out) == metrics(reference)  # every epoch once, each line as a straight run wrote it
    assert (out / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())  # no .tmp left


def write_points(straight) -> list[tuple[str, int]]:
    return [(when, k) for k in range(1, straight[1] + 1) for when in ("before", "after")]


def test_the_straight_run_writes_in_every_epoch(straight):
    # config.json, then per epoch the kept weights (when best), the checkpoint and the metrics line
    assert EPOCHS * 2 + 1 <= straight[1] <= EPOCHS * 3 + 1


# two of the six in every run, the others (and every write point) under `make test-slow`
@pytest.mark.parametrize("point, when", [
    pytest.param(point, when, id=f"{point}-{when}",
                 marks=() if (point, when) in {("config", "before"), ("last metrics line", "after")} else pytest.mark.slow)
    for point in ("config", "first checkpoint", "last metrics line") for when in ("before", "after")])
def test_a_kill_at_a_write_point_loses_nothing(tiny_idx, tmp_path, straight, when, point):
    k = {"config": 1, "first checkpoint": 3, "last metrics line": straight[1]}[point]
    assert_killed_then_resumed_as_straight(tiny_idx, tmp_path, straight, when, k)


@pytest.mark.slow
def test_a_kill_at_every_write_point_loses_nothing(tiny_idx, tmp_path, straight):
    for when, k in write_points(straight):
        folder = tmp_path / f"{when}-{k}"
        folder.mkdir()
        assert_killed_then_resumed_as_straight(tiny_idx, folder, straight, when, k)


def test_a_run_stopped_before_its_first_checkpoint_starts_again_without_resume(tiny_idx, tmp_path, straight):
    out = tmp_path / "run"
    assert killed("after", 1, train_command(tiny_idx, out), tmp_path).returncode == 137  # config.json only
    (out / f".model.safetensors.{uuid.uuid4().hex[:8]}.tmp").write_bytes(b"half")  # a write cut short
    again = vaelab_cli(*train_command(tiny_idx, out, "--quiet"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "holds no finished epoch" in again.stderr
    assert metrics(out) == metrics(straight[0])
    assert not list(out.glob(".*.tmp"))


def test_a_folder_with_files_of_its_own_is_still_refused(tiny_idx, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    proc = vaelab_cli(*train_command(tiny_idx, out, "--quiet"), cwd=tmp_path)
    assert proc.returncode == 2 and "already exists and is not empty" in proc.stderr
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_may_change_course_and_says_so(tiny_idx, tmp_path):
    out = tmp_path / "run"
    vaelab.fit(f"idx:{tiny_idx}", out, model="mlp", latent_dim=2, epochs=2, batch_size=32, progress=False)
    vaelab.fit(f"idx:{tiny_idx}", out, resume=True, epochs=3, lr=1e-4, grad_clip=5.0, progress=False)
    lines = metrics(out)
    assert "course_change" not in lines[1]
    assert lines[2]["course_change"] == {"after_epoch": 2, "lr": {"was": 1e-3, "now": 1e-4},
                                         "grad_clip": {"was": 0.0, "now": 5.0}}
    assert vaelab.Run.open(out).config.train.lr == 1e-4


def test_a_diverged_run_goes_on_with_a_lower_learning_rate(tiny_idx, tmp_path, monkeypatch):
    from vaelab.models.vae import VAE

    forward, steps = VAE.forward, []

    def poisoned(self, x, *args, **kwargs):  # a NaN loss in the second epoch (10 steps of 32 make one)
        terms = forward(self, x, *args, **kwargs)
        if self.training:
            steps.append(1)
            if len(steps) == 12:
                terms = type(terms)(loss=terms.loss * float("nan"), recon=terms.recon, reg=terms.reg)
        return terms

    out = tmp_path / "run"
    options = dict(model="mlp", latent_dim=2, batch_size=32, progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(VAE, "forward", poisoned)
        with pytest.raises(TrainingDiverged, match="Continue it with resume and a lower lr, grad_clip 10"):
            vaelab.fit(f"idx:{tiny_idx}", out, epochs=3, **options)
    vaelab.fit(f"idx:{tiny_idx}", out, resume=True, epochs=3, lr=3e-4, progress=False)
    assert [r["epoch"] for r in metrics(out)] == [1, 2, 3]


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill here ({proc.stderr.strip() or 'mount failed'})")


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small disk with")
    mount_tmpfs(disk, "4m")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill the disk up to `leave` free bytes."""
    stat = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))


def test_a_full_disk_before_the_first_epoch_leaves_no_folder(tiny_idx, small_disk):
    fill(small_disk, 8 * 1024)  # room for config.json, not for the weights
    out = small_disk / "run"
    proc = vaelab_cli(*train_command(tiny_idx, out, "--quiet"), cwd=small_disk.parent)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("vaelab train: error: cannot write ")
    assert "No space left on device" in proc.stderr
    assert not out.exists()


def test_a_full_disk_during_training_keeps_the_last_epoch(tiny_idx, small_disk):
    out = small_disk / "run"
    first = vaelab_cli(*train_command(tiny_idx, out, "--quiet", "--epochs", "1"), cwd=small_disk.parent)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fill(small_disk, 8 * 1024)
    proc = vaelab_cli(*train_command(tiny_idx, out, "--quiet", "--resume"), cwd=small_disk.parent)
    error = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(error) == 1, proc.stderr
    assert "No space left on device" in error[0] and str(out) in error[0]
    # the files of epoch 1 are as they were (config.json may carry the new --epochs already, if it
    # fitted before the disk filled); no temporary file is left
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after.keys() == before.keys()
    mutable = ("config.json", ".lock")  # the lock file names its last holder's PID
    assert {k: v for k, v in after.items() if k not in mutable} == {k: v for k, v in before.items() if k not in mutable}
    (small_disk / "filler").unlink()
    again = vaelab_cli(*train_command(tiny_idx, out, "--quiet", "--resume"), cwd=small_disk.parent)
    assert again.returncode == 0 and [r["epoch"] for r in metrics(out)] == [1, 2, 3]
