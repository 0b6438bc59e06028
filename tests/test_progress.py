"""Progress stays readable: a bar on a terminal; in a log, a plain line every LOG_EVERY_S seconds of long
work (never a carriage return), and nothing at all for short work or for training's per-epoch bar."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import torch

import vaelab
from vaelab import progress
from vaelab.cli import main
from vaelab.progress import ProgressLines, progress_bar

from conftest import TINY_TRAIN_ARGS

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")


class Clock:
    """A stand-in for time.monotonic that moves only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    return fake


def test_a_log_gets_a_line_every_log_every_s_and_no_carriage_return(clock, capsys, monkeypatch):
    """(pytest's captured stderr is not a terminal, as a log file is not)"""
    monkeypatch.setattr(progress, "LOG_EVERY_S", 10.0)  # the figures below are for 10 s
    step = progress.LOG_EVERY_S / 4
    with progress_bar(40, "work", unit="img", lines=True) as bar:
        for i in range(40):
            clock.now += step
            bar.update()
            if i == 9:
                bar.set_postfix(loss="1.50")
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err
    # 40 updates of a quarter of LOG_EVERY_S each: a line at every 4th but the last, then the closing one
    assert len(lines) == 9 + 1, lines
    assert lines[0] == "work: 4/40 img (10%), 0.4 img/s, 1.5min left"
    assert lines[3] == "work: 16/40 img (40%), 0.4 img/s, 60s left, loss=1.50"
    assert lines[-1] == "work: done 40/40 in 1.7min"


def test_short_work_leaves_nothing_in_a_log(clock, capsys):
    bar = progress_bar(1000, "quick", lines=True)
    for _ in range(1000):
        clock.now += progress.LOG_EVERY_S / 2000
        bar.update()
    bar.close()
    assert capsys.readouterr().err == ""


def test_a_stop_before_the_end_is_said_so(clock, capsys):
    with pytest.raises(KeyboardInterrupt), progress_bar(10, "long", lines=True) as bar:
        clock.now += progress.LOG_EVERY_S
        bar.update(3)
        raise KeyboardInterrupt
    assert capsys.readouterr().err.splitlines()[-1].startswith("long: stopped at 3/10 in ")


def test_only_callers_that_ask_get_lines(clock, capsys, monkeypatch):
    """Training's bar (no `lines`) and a disabled one stay silent in a log; a terminal gets tqdm's bar."""
    for bar in (progress_bar(10, "epoch 1/3"), progress_bar(10, "off", enabled=False, lines=True)):
        clock.now += 10 * progress.LOG_EVERY_S
        bar.update(10)
        bar.close()
    assert capsys.readouterr().err == ""
    assert isinstance(progress_bar(10, "log", lines=True), ProgressLines)
    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = progress_bar(10, "terminal", lines=True)
    assert not isinstance(bar, ProgressLines) and not bar.disable
    bar.close()


def test_training_writes_its_epoch_lines_and_no_progress_lines(tiny_idx, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # a line at every update, were any written
    args = [a for a in TINY_TRAIN_ARGS if a != "--quiet"]
    assert main(["train", "--data", f"idx:{tiny_idx}", *args, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/1  train" in err and "epoch 1/1:" not in err and "\r" not in err, err


def test_denoise_in_a_log_writes_lines_of_its_steps(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    assert main(["denoise", str(tiny_run), "--noise", "gaussian:0.5", "--measure", "10", "-n", "2",
                 "--out", str(tmp_path / "d.png")]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0].startswith("denoise (MAP): 1/150 step (1%), ") and "\r" not in captured.err
    assert lines[-1].startswith("denoise (MAP): done 150/150 in ")
    assert "PSNR against the clean images, 10 test images" in captured.out  # stdout as without progress


def test_encoding_with_progress_gives_the_very_same_codes(tiny_run, tiny_idx, capsys, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    model = vaelab.load(tiny_run)
    x, y = model.run.data().split("train")
    mu, logvar = model.encode_all(x, y, batch_size=64, progress=True, desc="encode train")
    expected = model.encode_all(x, y, batch_size=64)
    assert torch.equal(mu, expected[0]) and torch.equal(logvar, expected[1])
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"encode train: done {len(x)}/{len(x)} in ")


def test_a_command_with_stderr_in_a_file_writes_no_carriage_return(tiny_run, tmp_path):
    log_file = tmp_path / "evaluate.log"
    with open(log_file, "w") as stderr:
        proc = subprocess.run([sys.executable, "-m", "vaelab", "evaluate", str(tiny_run), "--iwae-k", "2"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=120,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "VAELAB_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, log_file.read_text()
    assert "\r" not in log_file.read_text() and "nats" in proc.stdout
