"""Data-parallel training (DDP, gloo on CPU): the numbers do not depend on the number of processes.

--batch-size is the global batch; with N processes each computes a contiguous 1/N of it and the
random draws are made for the whole batch (vaelab.shard). So a 2-process run with 32 examples per
process must give the loss curve and the weights of a 1-process run with batch 64, up to float
rounding, and a checkpoint resumes under any number of processes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from test_cli import assert_refused, vaelab_cli
from vaelab.shard import batch_shard, rand_rows, randn_rows, random_bytes_rows, rows_to_draw
from vaelab.train.distributed import Group

TIGHT = dict(rtol=2e-5, atol=2e-5)  # float rounding of sums taken in another order, grown over a few epochs


def options(data, out, *extra):
    # Bernoulli pixels: the tolerance below is float rounding grown over a few epochs of that loss
    return ["train", "--data", f"idx:{data}", "--val-size", "50", "--lr", "0.01", "--latent-dim", "4",
            "--likelihood", "bernoulli", "--device", "cpu", "--out", str(out), *map(str, extra)]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(a: Path, b: Path, epochs: int) -> None:
    ma, mb = metrics(a), metrics(b)
    assert [m["epoch"] for m in ma] == [m["epoch"] for m in mb] == list(range(1, epochs + 1))
    for key in ("train_loss", "train_recon", "train_reg", "val_loss", "val_recon", "val_reg", "val_active_units"):
        assert torch.allclose(torch.tensor([m[key] for m in ma], dtype=torch.float64),
                              torch.tensor([m[key] for m in mb], dtype=torch.float64), **TIGHT), key
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.allclose(wa[name], wb[name], **TIGHT), name


# --- the shard arithmetic, in one process ---------------------------------------------------------
@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_shards_cover_every_row_once(world, n):
    covered = torch.zeros(n)
    for rank in range(world):
        start, stop, share = Group(rank, world).shard(n)
        if share:
            covered[start:stop] += 1
            assert share == (stop - start) / n
        else:  # an empty shard computes the last row with weight 0, to take part in the step
            assert (start, stop) == (n - 1, n) and n < world
    assert (covered == 1).all()


@pytest.mark.parametrize("draw", [randn_rows, rand_rows])
def test_a_shard_draws_its_rows_of_the_whole_batch(draw):
    whole = draw((10, 3), torch.Generator().manual_seed(1), "cpu", torch.float32)
    g = torch.Generator().manual_seed(1)
    with batch_shard(4, 7, 10):
        part = draw((3, 3), g, "cpu", torch.float32)
        other = draw((5, 3), torch.Generator().manual_seed(1), "cpu", torch.float32)  # not the batch's rows
    assert torch.equal(part, whole[4:7])
    assert torch.equal(g.get_state(), _after(draw, (10, 3)))  # the generator advanced as for the whole batch
    assert other.shape == (5, 3) and rows_to_draw(3) == (3, None)  # outside the block: as usual


def test_random_bytes_shard():
    whole = random_bytes_rows((6, 1, 5, 5), torch.Generator().manual_seed(3), "cpu")
    with batch_shard(2, 4, 6):
        part = random_bytes_rows((2, 1, 5, 5), torch.Generator().manual_seed(3), "cpu")
    assert torch.equal(part, whole[2:4]) and whole.dtype == torch.uint8
    counts = torch.bincount(random_bytes_rows((4000, 64), torch.Generator().manual_seed(0), "cpu").flatten().long(),
                            minlength=256).float()
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()  # uniform bytes


def _after(draw, shape):
    g = torch.Generator().manual_seed(1)
    draw(shape, g, "cpu", torch.float32)
    return g.get_state()


def test_nproc_is_taken_out_of_the_command_line():
    from vaelab.cli.train import without_nproc

    assert without_nproc(["train", "--nproc", "2", "--out", "r"]) == ["train", "--out", "r"]
    assert without_nproc(["train", "--nproc=2", "--npro", "3", "--out", "r"]) == ["train", "--out", "r"]


# --- real processes -------------------------------------------------------------------------------
def test_two_processes_match_one_with_the_whole_batch(tiny_idx, tmp_path):
    """2 processes x 32 examples = 1 process x 64: same loss curve, validation and weights."""
    one = vaelab_cli(*options(tiny_idx, tmp_path / "one", "--model", "mlp", "--epochs", 3, "--batch-size", 64),
                     cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = vaelab_cli(*options(tiny_idx, tmp_path / "two", "--model", "mlp", "--epochs", 3, "--batch-size", 64,
                              "--nproc", 2, "--quiet"), cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    assert_same_run(tmp_path / "one", tmp_path / "two", epochs=3)
    assert {m["processes"] for m in metrics(tmp_path / "two")} == {2}
    # rank 0 alone logs and writes: each epoch line once, one "run folder" line, no stray files
    assert sum(ln.startswith("epoch ") for ln in two.stderr.splitlines()) == 3
    assert two.stdout.count("run folder:") == 1
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


@pytest.mark.slow
def test_torchrun_and_uneven_shards(tiny_idx, tmp_path):
    """torchrun starts the same training; 3 processes on batches that leave one of them empty."""
    # 250 training rows in batches of 249: the last batch has 1 row, so two processes have none
    common = ("--model", "conv", "--channels", "4,8", "--epochs", 2, "--batch-size", 249, "--quiet")
    one = vaelab_cli(*options(tiny_idx, tmp_path / "one", *common), cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    three = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "3",
                            "-m", "vaelab", *options(tiny_idx, tmp_path / "three", *common)],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert three.returncode == 0, three.stderr
    assert_same_run(tmp_path / "one", tmp_path / "three", epochs=2)
    assert {m["processes"] for m in metrics(tmp_path / "three")} == {3}


FAILING_PROCESS = """
import datetime, os, torch, torch.distributed as dist
from vaelab.train.distributed import leave_when_done
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=300))
with leave_when_done():
    if os.environ["RANK"] == "0":
        raise OSError("disk full")  # e.g. writing the checkpoint, which only the first process does
    for _ in range(3):
        dist.all_reduce(torch.ones(4))  # the next step's gradients
"""


def test_one_failing_process_does_not_leave_the_others_waiting(tmp_path):
    """The process that fails leaves the group at once, so the other's next collective fails too,
    instead of the two waiting for each other until the group's timeout (300 s here)."""
    from vaelab.train.launch import free_port

    (tmp_path / "fails.py").write_text(FAILING_PROCESS)
    env = dict(os.environ, WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "fails.py")], env=dict(env, RANK=str(rank)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(2)]
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert "disk full" in outputs[0][1]
    assert all(p.returncode != 0 for p in procs)


@pytest.mark.slow
def test_a_killed_two_process_run_resumes(tiny_idx, tmp_path):
    """Stop a 2-process run mid-way (as Ctrl-C or a scheduler would); --resume finishes it with the
    weights of a run never stopped, with 2 processes and with 1."""
    run = tmp_path / "killed"
    common = ("--model", "mlp", "--batch-size", 4, "--quiet")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen([sys.executable, "-m", "vaelab", *options(tiny_idx, run, *common, "--epochs", 50,
                                                                          "--nproc", 2)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text().count("\n") >= 1):
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.05)
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == 128 + signal.SIGTERM, stderr
    assert "--resume" in stderr.splitlines()[-1]
    done = len(metrics(run))
    assert 1 <= done < 50  # stopped mid-way
    target = done + 1
    copy = tmp_path / "killed-copy"
    subprocess.run(["cp", "-r", str(run), str(copy)], check=True)

    resumed = vaelab_cli("train", "--resume", "--out", run, "--epochs", target, "--nproc", 2, "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    straight = vaelab_cli(*options(tiny_idx, tmp_path / "straight", *common, "--epochs", target), cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    assert_same_run(tmp_path / "straight", run, epochs=target)
    # the same checkpoint resumed by one process (any world size)
    alone = vaelab_cli("train", "--resume", "--out", copy, "--epochs", target, "--quiet", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert_same_run(tmp_path / "straight", copy, epochs=target)
    assert metrics(copy)[-1]["processes"] == 1


@pytest.mark.slow
def test_bad_input_with_several_processes_is_one_line(tiny_idx, tmp_path):
    proc = vaelab_cli("train", "--data", f"idx:{tmp_path / 'nowhere'}", "--nproc", 2, "--out", tmp_path / "run",
                      cwd=tmp_path)
    assert_refused(proc, "vaelab train: error:", "nowhere")
    assert not (tmp_path / "run").exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    proc = vaelab_cli(*options(tiny_idx, taken, "--nproc", 2, "--epochs", 1), cwd=tmp_path)
    assert_refused(proc, "already exists")
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
    for bad in (0, 10**12):  # a trillion processes would be started one by one, until the machine gave out
        proc = vaelab_cli(*options(tiny_idx, tmp_path / "r", "--nproc", bad), cwd=tmp_path)
        assert_refused(proc, "--nproc: must lie in 1..")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_compiled_training_matches_eager(tiny_idx, tmp_path):
    """--compile (torch.compile, inductor: about a minute of compiling on CPU) computes the same step,
    in one process and in two."""
    common = ("--model", "mlp", "--epochs", 2, "--batch-size", 32, "--quiet")
    eager = vaelab_cli(*options(tiny_idx, tmp_path / "eager", *common), cwd=tmp_path)
    compiled = subprocess.run([sys.executable, "-m", "vaelab", *options(tiny_idx, tmp_path / "compiled", *common,
                                                                         "--compile")],
                              cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                              text=True, timeout=900)
    assert eager.returncode == 0 and compiled.returncode == 0, compiled.stderr
    assert json.loads((tmp_path / "compiled" / "config.json").read_text())["train"]["compile"] is True
    assert_same_run(tmp_path / "eager", tmp_path / "compiled", epochs=2)
    # compiled and distributed: torch.compile over the DDP-wrapped model
    both = subprocess.run([sys.executable, "-m", "vaelab", *options(tiny_idx, tmp_path / "both", *common, "--compile",
                                                                     "--nproc", 2)],
                          cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=900)
    assert both.returncode == 0, both.stderr
    assert_same_run(tmp_path / "eager", tmp_path / "both", epochs=2)
