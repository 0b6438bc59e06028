"""Latent size trade-off of the conv VAE on MNIST: rate (KL) against distortion (reconstruction).

    python -m bench.latent_sweep [--sizes 2,4,8,16,32,64] [--epochs 10] [--iwae-k 100]
                                 [--out runs/latent-sweep] [--seed 0] [--quick] [--json PATH]

What it trains
--------------
For each latent size L of --sizes, vaelab's default model with that latent size: the conv VAE
(encoder 1-32-64 channels, stride 2, then a linear head; decoder the mirror image), Bernoulli
pixels, dynamic binarization, KL weight 1, Adam lr 1e-3, batch 128, seed --seed, for --epochs
on MNIST's 50,000 training images (the weights of the best validation epoch kept). The run
folders are --out/z2, --out/z4, ... (vaelab.load() reads them).

What it reports, per latent size, on the 10,000 test images (fixed binarization, in nats)
---------------------------------------------------------------------------------------
* recon: the distortion, -E_q log p(x|z), averaged over the K posterior samples;
* KL: the rate, KL(q(z|x) || N(0, I));
* -ELBO = recon + KL;
* IWAE NLL: the importance-weighted bound on -log p(x) with K = --iwae-k samples (Burda et al.
  2016), tighter than -ELBO; the gap -ELBO - NLL is how far the posterior falls short;
* active units: latent dimensions whose posterior mean varies over the test set (Cov > 0.01);
* train s: the seconds spent in training epochs (validation and checkpoints left out), summed
  from the run's metrics.jsonl, so a resumed run counts all its epochs.

And a PNG, --out/rate_distortion.png: left, reconstruction against KL, one point per latent
size, labelled; right, -ELBO and IWAE NLL against the latent size.

Resuming
--------
A sweep that is stopped can be started again with the same command. A run folder that already
holds a training of the same config (config.json equal, and the same training images: the
folder's sweep.json records how many) is reused when it has finished all its epochs, and resumed
from its checkpoint when it has not; its test figures are cached in sweep.json (by K and the number
of test images), so a finished size costs nothing the second time. A folder with another config,
or one that this script did not make (no sweep.json), is refused rather than overwritten or mixed in.

Time
----
Measured on the shared 2-core machine while another training job kept both cores busy, with
--threads 1: training ran at 1,650-1,800 images/s, so an epoch of the 50,000 images takes about
30 s (about 32 s with the validation on 10,000 images), and 10 epochs about 5.5 minutes per size; the
IWAE evaluation ran at 7,000-8,700 decodes/s, and K = 100 on 10,000 test images is 10^6 decodes,
about 2-2.5 minutes per size. The default sweep (6 sizes x 10 epochs, K = 100) therefore takes
about 45-50 minutes (a quiet machine with 2 threads should need less); a resumed sweep skips
what is done. --quick (sizes 2 and 64, 1 epoch on 5,000 images, K = 5 on 500 test images)
takes about 15 s. On a busy machine pass --threads 1: with 2 threads on 2 cores that another
process keeps busy, every parallel region waits for the busy core (bench.ae_vs_vae measured an
epoch 25 times slower that way).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

import vaelab
from vaelab.config import RunConfig
from vaelab.io import atomic_write_text
from vaelab.metrics.likelihood import evaluate
from vaelab.train.trainer import Trainer
from vaelab.viz.figures import pyplot, save_png

from .report import command_line, write_json
from .runs import check_reusable, is_finished, preset_config

DEFAULT_SIZES = (2, 4, 8, 16, 32, 64)
MARKER = "sweep.json"
QUICK_TRAIN, QUICK_VAL, QUICK_TEST, QUICK_K = 5000, 1000, 500, 5


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated latent sizes, got {text!r}") from None
    if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"expected distinct latent sizes >= 1, got {text!r}")
    return sorted(sizes)


def run_config(latent_dim: int, epochs: int, seed: int, splits) -> RunConfig:
    """The demo preset (the conv VAE on MNIST) at this latent size, epochs and seed."""
    return preset_config("demo", splits, latent_dim=latent_dim, epochs=epochs, seed=seed)[0]


# --- the run folders: train, resume or reuse ----------------------------------------------------
def read_marker(run_dir: Path) -> dict | None:
    path = run_dir / MARKER
    return json.loads(path.read_text()) if path.is_file() else None


def write_marker(run_dir: Path, marker: dict) -> None:
    atomic_write_text(run_dir / MARKER, json.dumps(marker, indent=2) + "\n")


def existing_run_state(run_dir: Path, config: RunConfig, data_id: dict) -> str:
    """'new', 'finished' or 'unfinished'; raises SystemExit for a folder this sweep must not touch."""
    if not run_dir.exists():
        return "new"
    check_reusable(run_dir, config)
    marker = read_marker(run_dir)
    if marker is None:
        raise SystemExit(f"{run_dir} exists but was not made by this sweep (no {MARKER}); "
                         "remove it or choose another --out")
    differ = [f"{k} {marker.get(k)!r} there, {v!r} here" for k, v in data_id.items() if marker.get(k) != v]
    if differ:
        raise SystemExit(f"{run_dir} holds a different training ({'; '.join(differ)}); "
                         "remove it or choose another --out")
    return "finished" if is_finished(run_dir, config) else "unfinished"


def train_size(run_dir: Path, config: RunConfig, splits, data_id: dict, progress: bool) -> str:
    """Make sure run_dir holds the finished training; returns what was done: trained, resumed or reused."""
    state = existing_run_state(run_dir, config, data_id)
    if state == "finished":
        log(f"--- {run_dir}: finished training of this config found, reused")
        return "reused"
    resume = state == "unfinished"
    log(f"--- {'resuming' if resume else 'training'} {run_dir} (latent size {config.model.latent_dim})")
    trainer = Trainer(config, splits, run_dir, resume=resume, progress=progress)
    if not resume:
        write_marker(run_dir, {**data_id, "evaluations": {}})
    try:
        trainer.fit()
    except BaseException:
        if trainer.creates_run_dir:
            trainer.run.discard_if_unfinished()  # nothing finished: leave no folder behind
        raise
    return "resumed" if resume else "trained"


def train_seconds(run_dir: Path) -> float:
    return sum(record["seconds"] for record in vaelab.Run.open(run_dir).metrics())


def evaluate_size(run_dir: Path, splits, iwae_k: int, limit: int | None, seed: int, progress: bool) -> dict:
    """The test figures of the run's best weights, from the sweep.json cache when they were measured already."""
    marker = read_marker(run_dir)
    key = f"test n={limit or len(splits.test)} K={iwae_k} seed={seed}"
    if key in marker.get("evaluations", {}):
        log(f"--- {run_dir}: test figures for {key} found in {MARKER}, reused")
        return {**marker["evaluations"][key], "cached": True}
    log(f"--- evaluating {run_dir} ({key})")
    model = vaelab.load(run_dir)
    result = evaluate(model, splits, split="test", iwae_k=iwae_k, n=limit, seed=seed, progress=progress)
    marker.setdefault("evaluations", {})[key] = result
    write_marker(run_dir, marker)
    return {**result, "cached": False}


# --- the picture --------------------------------------------------------------------------------
def plot(rows: list[dict], path: Path, subtitle: str) -> Path:
    plt = pyplot()
    sizes = [r["latent_dim"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), dpi=110)
    kl, recon = [r["kl"] for r in rows], [r["recon"] for r in rows]
    left.plot(kl, recon, "-o", color="tab:blue")
    for x, y, size in zip(kl, recon, sizes):
        left.annotate(f"z={size}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=9)
    left.set_xlabel("rate: KL(q(z|x) || p(z)), nats")
    left.set_ylabel("distortion: -E_q log p(x|z), nats")
    left.set_title("rate-distortion, one point per latent size", fontsize=10)
    left.grid(alpha=0.3)
    left.margins(0.15)
    right.plot(sizes, [r["nelbo"] for r in rows], "-o", label="-ELBO")
    right.plot(sizes, [r["nll_iwae"] for r in rows], "-s", label=f"IWAE NLL (K={rows[0]['iwae_k']})")
    right.set_xscale("log", base=2)
    right.set_xticks(sizes)
    right.set_xticklabels([str(s) for s in sizes])
    right.set_xlabel("latent size")
    right.set_ylabel("nats per test image")
    right.set_title("test -ELBO and IWAE bound on -log p(x)", fontsize=10)
    right.legend(frameon=False)
    right.grid(alpha=0.3)
    fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


# --- the run ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.latent_sweep", description=__doc__.split("\n")[0],
                                epilog="Full description: the module docstring (python -c 'import bench.latent_sweep "
                                       "as m; print(m.__doc__)').")
    p.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES),
                   help="latent sizes, comma-separated (default 2,4,8,16,32,64)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs per size (default 10)")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples of the IWAE bound (default 100)")
    p.add_argument("--out", default="runs/latent-sweep", help="folder of the run folders z2, z4, ... and the plot "
                                                              "(default runs/latent-sweep); reused when resumed")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: the first and last size, 1 epoch on {QUICK_TRAIN} training images, "
                        f"K = {QUICK_K} on {QUICK_TEST} test images")
    p.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    args = p.parse_args(argv)
    sizes = [args.sizes[0], args.sizes[-1]] if args.quick and len(args.sizes) > 1 else args.sizes
    epochs, iwae_k, limit = (1, QUICK_K, QUICK_TEST) if args.quick else (args.epochs, args.iwae_k, None)
    if epochs < 1 or iwae_k < 1:
        p.error("--epochs and --iwae-k must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    command = command_line("bench.latent_sweep", argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"command: {command}")
    out = Path(args.out)

    _, splits = preset_config("demo")
    if args.quick:
        splits = dataclasses.replace(splits, train=splits.train[:QUICK_TRAIN],
                                     train_labels=splits.train_labels[:QUICK_TRAIN],
                                     val=splits.val[:QUICK_VAL], val_labels=splits.val_labels[:QUICK_VAL])
    data_id = {"train_examples": len(splits.train), "val_examples": len(splits.val)}
    n_test = min(limit or len(splits.test), len(splits.test))
    # Refuse a foreign or different folder before training anything.
    for size in sizes:
        existing_run_state(out / f"z{size}", run_config(size, epochs, args.seed, splits), data_id)
    print(f"conv VAE (default networks), Bernoulli pixels, dynamic binarization; {len(splits.train)} MNIST training "
          f"images{' (--quick subset)' if args.quick else ''}, {epochs} epoch(s) per size; "
          f"test: {n_test} images, IWAE K = {iwae_k}")

    progress = sys.stderr.isatty()
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in sizes:
        run_dir = out / f"z{size}"
        config = run_config(size, epochs, args.seed, splits)
        start = time.perf_counter()
        how = train_size(run_dir, config, splits, data_id, progress)
        wall = time.perf_counter() - start
        ev = evaluate_size(run_dir, splits, iwae_k, limit, args.seed, progress)
        rows.append({"latent_dim": size, "run": str(run_dir), "training": how, "epochs": epochs,
                     "recon": ev["recon"], "kl": ev["kl"], "nelbo": ev["elbo"], "nll_iwae": ev["nll_iwae"],
                     "nll_iwae_sem": ev["nll_iwae_sem"], "iwae_k": ev["iwae_k"], "active_units": ev["active_units"],
                     "test_examples": ev["n"], "train_seconds": train_seconds(run_dir),
                     "train_wall_seconds_this_call": wall, "eval_seconds": ev["seconds"],
                     "eval_cached": ev["cached"]})

    picture = plot(rows, out / "rate_distortion.png",
                   f"conv VAE on MNIST, {epochs} epoch(s), {len(splits.train)} training images; "
                   f"test n = {n_test}, K = {iwae_k}   |   {command}")
    print(f"\nper latent size, test set ({n_test} images, fixed binarization), nats per image")
    print(f"  {'latent':>6} {'recon':>8} {'KL':>7} {'-ELBO':>8} {'IWAE NLL':>9} {'gap':>6} {'active':>7} "
          f"{'train s':>8} {'eval s':>7}  run")
    for r in rows:
        note = {"reused": " (reused)", "resumed": " (resumed)"}.get(r["training"], "")
        note += " (figures cached)" if r["eval_cached"] else ""
        print(f"  {r['latent_dim']:>6} {r['recon']:8.2f} {r['kl']:7.2f} {r['nelbo']:8.2f} {r['nll_iwae']:9.2f} "
              f"{r['nelbo'] - r['nll_iwae']:6.2f} {r['active_units']:>3}/{r['latent_dim']:<3} "
              f"{r['train_seconds']:8.1f} {r['eval_seconds']:7.1f}  {r['run']}{note}")
    print("  recon = distortion -E_q log p(x|z); KL = rate; gap = -ELBO - IWAE NLL; active: Cov(mu) > 0.01; "
          "train s: training epochs only")
    print(f"plot: {picture}")
    print(f"command: {command}")

    results = {"command": command, "argv": sys.argv, "torch": torch.__version__, "threads": torch.get_num_threads(),
               "quick": args.quick, "epochs": epochs, "iwae_k": iwae_k, "seed": args.seed,
               "train_examples": len(splits.train), "test_examples": n_test, "plot": str(picture), "sizes": rows}
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
