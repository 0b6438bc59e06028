"""Data-parallel scaling on this machine: `vaelab train` in 1 process against 2 (DDP, gloo).

    python -m bench.scaling [--models mlp,conv] [--epochs 3] [--json PATH]

Each model is trained on MNIST's 50k training images with the same global batch (128) and seed in
three ways, each a real `vaelab train` command:

* 1 process, 1 thread   the unit of work: what one core does alone;
* 1 process, 2 threads  what a user gets without DDP on this 2-core machine;
* 2 processes x 1 thread  `vaelab train --nproc 2` (each process computes 64 of the 128).

Images/second is the median over epochs 2..E of the epoch's images / training seconds, as the
run's metrics.jsonl records them (epoch 1 is warm-up; validation is not counted). Parallel
efficiency is the 2-process rate over twice the 1-thread rate: 1.0 would be perfect scaling.
Since --batch-size is the global batch, the three runs compute the same thing: the benchmark
prints their final losses so the reader can check (equal up to float rounding).

Other processes on the machine distort every figure here; the share of the cores they used is
printed (Linux only): trust the figures near 0%.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vaelab import Run

from .report import command_line, write_json
from .throughput import cpu_counters, others_share, pct

MODELS = {
    "mlp": ["--model", "mlp", "--hidden", "400", "--latent-dim", "20"],  # the throughput benchmark's model
    "conv": ["--model", "conv", "--latent-dim", "32"],  # the `make demo` model
}
WAYS = (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2), ("2 processes x 1 thread", 2, 1))


def train(model: str, processes: int, threads: int, epochs: int, seed: int, out: Path) -> dict:
    args = [sys.executable, "-m", "vaelab", "train", "--data", "mnist", *MODELS[model], "--batch-size", "128",
            "--epochs", str(epochs), "--seed", str(seed), "--device", "cpu", "--quiet", "--out", str(out)]
    if processes > 1:
        args += ["--nproc", str(processes)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    before, start = cpu_counters(), time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    wall, others = time.perf_counter() - start, others_share(before, cpu_counters())
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({' '.join(args)}):\n{proc.stderr}")
    rows = Run.open(out).metrics()
    return {"processes": processes, "threads": threads, "img_s": statistics.median(r["images_per_s"] for r in rows[1:]),
            "wall_s": wall, "others_busy": others, "final_train_loss": rows[-1]["train_loss"],
            "final_val_loss": rows[-1]["val_loss"], "per_epoch_img_s": [r["images_per_s"] for r in rows]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,conv", help="comma-separated: mlp, conv (default both)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run, the first one warm-up (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or any(m not in MODELS for m in models):
        p.error(f"--models takes some of {', '.join(MODELS)}")
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (epoch 1 is warm-up)")
    command = command_line("bench.scaling", argv)
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, CPU {torch.backends.cpu.get_cpu_capability()}")
    print(f"command: {command}\n")
    results: dict = {"command": command, "torch": torch.__version__, "epochs": args.epochs, "global_batch": 128,
                     "models": {}}
    with tempfile.TemporaryDirectory(prefix="vaelab-scaling-") as tmp:
        for model in models:
            runs = {}
            for name, processes, threads in WAYS:
                out = Path(tmp) / f"{model}-{processes}x{threads}"
                runs[name] = train(model, processes, threads, args.epochs, args.seed, out)
                r = runs[name]
                print(f"{model:<5} {name:<24} {r['img_s']:>8,.0f} img/s   whole command {r['wall_s']:6.1f} s   "
                      f"final train loss {r['final_train_loss']:.4f}, val {r['final_val_loss']:.4f}   "
                      f"(others used {pct(r['others_busy'])} of the cores)")
            one, two_threads, two = (runs[name]["img_s"] for name, _, _ in WAYS)
            summary = {"runs": runs, "efficiency": two / (2 * one), "speedup_vs_1_thread": two / one,
                       "speedup_vs_2_threads": two / two_threads}
            results["models"][model] = summary
            print(f"{model:<5} 2 processes: {summary['speedup_vs_1_thread']:.2f}x one core (parallel efficiency "
                  f"{summary['efficiency']:.2f}), {summary['speedup_vs_2_threads']:.2f}x one process on both cores\n")
    print(f"command: {command}")
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
