"""The sequence VAE on a MOSES subset: generation metrics and latent optimisation, beside MOSES's rows.

    python -m bench.molecules [--repr selfies,smiles] [--limit 50000] [--epochs 5] [--threads 1]
                              [--out runs/mol-bench] [--json PATH] [--quick]

For each representation: `vaelab mol train` with the settings below on the first --limit MOSES
training molecules (its run folder is reused when finished, resumed when killed), then
`vaelab mol evaluate` (10,000 samples at temperature 1; reconstruction of 1,000 MOSES test
molecules) and `vaelab mol optimize --property qed` (against prior samples with as many decoder
calls). The MOSES paper's VAE and CharRNN rows are printed beside ours as published references
(Polykovskiy et al. 2020, Table 2): they trained on all 1.58M molecules for up to 100 epochs on a
GPU; we train on --limit molecules for --epochs epochs on CPU cores. Novelty here is against
our training subset, theirs against the full MOSES training set.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vaelab.config import DataConfig, RunConfig, TrainConfig
from vaelab.data import load_splits
from vaelab.mol.evaluate import evaluate_molecules
from vaelab.mol.molvae import MoleculeVAE, sequence_model_config
from vaelab.mol.optimize import optimize_property
from vaelab.mol.tokens import Vocabulary

from .report import command_line, write_json
from .runs import train_or_reuse

# Polykovskiy et al. 2020 (MOSES): only the figures we could check against the paper's table are quoted.
PUBLISHED = {
    "MOSES VAE (published)": {"validity": 0.977, "unique@10000": 0.998, "novelty": 0.695},
    "MOSES CharRNN (published)": {"validity": 0.975, "novelty": 0.842},
}
COLUMNS = ("validity", "unique@1000", "unique@10000", "novelty", "int_div", "reconstruction_accuracy", "kl",
           "active_units")


def run_config(args, data: DataConfig, splits) -> RunConfig:
    model = sequence_model_config(splits, args.latent_dim, args.hidden, embed_dim=64, word_dropout=args.word_dropout,
                                  free_bits=args.free_bits)
    train = TrainConfig(epochs=args.epochs, batch_size=128, lr=1e-3, seed=args.seed, kl_warmup=1.0,
                        grad_clip=50.0)
    return RunConfig(data=data, model=model, train=train)


def one_representation(representation: str, args, out: Path) -> dict:
    start = time.perf_counter()
    data = DataConfig(name="moses", limit=args.limit, val_size=args.val_size, binarize="none",
                      representation=representation)
    splits = load_splits(data)
    config = run_config(args, data, splits)
    run_dir = out / representation
    model = train_or_reuse(config, splits, run_dir, progress=not args.quiet)
    mvae = MoleculeVAE(model, Vocabulary.from_json(splits.vocabulary))
    trained = time.perf_counter() - start
    result = evaluate_molecules(mvae, splits, n=args.samples, temperature=1.0, reconstruct=1000, iwae_k=10,
                                seed=args.seed)
    result.pop("samples")
    result["optimize_qed"] = {k: v for k, v in optimize_property(
        mvae, splits.texts["train"], "qed", seeds=args.opt_seeds, steps=50, decode_every=5, seed=args.seed,
        run_dir=run_dir).items() if k != "found"}
    result.update(train_molecules=len(splits.train), epochs=args.epochs,
                  seconds_to_train=round(trained, 1), seconds_total=round(time.perf_counter() - start, 1))
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.molecules", description=__doc__.split("\n")[0])
    p.add_argument("--repr", default="selfies,smiles", help="representations, comma-separated")
    p.add_argument("--limit", type=int, default=50_000, help="MOSES training molecules read (default 50000)")
    p.add_argument("--val-size", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--word-dropout", type=float, default=0.1)
    p.add_argument("--free-bits", type=float, default=0.25)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--opt-seeds", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/mol-bench")
    p.add_argument("--quick", action="store_true", help="2,000 molecules, 1 epoch, 500 samples: a smoke run")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.val_size, args.epochs, args.samples, args.opt_seeds = 2000, 200, 1, 500, 5
    torch.set_num_threads(args.threads)
    command = command_line("bench.molecules", argv)
    print(f"command: {command}", flush=True)
    rows = {}
    for representation in [r.strip() for r in args.repr.split(",") if r.strip()]:
        rows[representation] = one_representation(representation, args, Path(args.out))
        print_table(rows, args)
    write_json(args.json, {"command": command, "results": rows, "published": PUBLISHED})
    return rows


def print_table(rows: dict, args) -> None:
    print(f"\nMOSES subset: first {args.limit} training molecules, {args.epochs} epochs; 10,000 samples at "
          f"temperature 1 (novelty against our training subset)")
    print(f"{'':>28}  " + "  ".join(f"{c[:12]:>12}" for c in COLUMNS))
    for name, r in {**{f"vaelab VAE, {k}": v for k, v in rows.items()}, **PUBLISHED}.items():
        print(f"{name:>28}  " + "  ".join(_cell(r.get(c)) for c in COLUMNS))
    for name, r in rows.items():
        o = r["optimize_qed"]
        for label in ("latent_ascent", "prior_samples"):
            s = o[label]
            print(f"QED, {name}, {label}: best {_cell(s['best'])} top-10 {_cell(s['top10_mean'])} median "
                  f"{_cell(s['median'])} valid {s['valid']:.3f} unique {s['unique']:.3f} novel {s['novel']:.3f} "
                  f"({o['decoder_calls']} decoder calls; head R^2 {o['head']['r2_held_out']:.3f})")
        print(f"{name}: {r['train_molecules']} training molecules, trained in {r['seconds_to_train']:.0f} s")


def _cell(value) -> str:
    if value is None:
        return f"{'-':>12}"
    return f"{value:12.3f}" if isinstance(value, float) else f"{value:>12}"


if __name__ == "__main__":
    main()
