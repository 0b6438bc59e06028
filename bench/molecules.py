"""The sequence VAE on a MOSES subset: generation metrics and latent optimisation, beside MOSES's rows.

    python -m bench.molecules [--repr selfies,smiles] [--limit 50000] [--epochs 5] [--threads 1]
                              [--out runs/mol-bench] [--json PATH] [--quick]

For each representation: `vaelab train --preset moses-selfies` (its --repr and the options below on top) on the first --limit MOSES
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

from vaelab import Run, presets
from vaelab.mol.evaluate import evaluate_molecules
from vaelab.mol.model import MoleculeModel
from vaelab.mol.optimize import optimize_property

from .report import command_line, write_json
from .runs import preset_config, train_or_reuse

PRESET = "moses-selfies"  # vaelab/presets: the settings every representation trains with

# Polykovskiy et al. 2020 (MOSES): only the figures we could check against the paper's table are quoted.
PUBLISHED = {
    "MOSES VAE (published)": {"validity": 0.977, "unique@10000": 0.998, "novelty": 0.695},
    "MOSES CharRNN (published)": {"validity": 0.975, "novelty": 0.842},
}
COLUMNS = ("validity", "unique@1000", "unique@10000", "novelty", "int_div", "reconstruction_accuracy", "kl",
           "active_units")


def one_representation(representation: str, args, out: Path) -> dict:
    start = time.perf_counter()
    config, splits = preset_config(PRESET, repr=representation, limit=args.limit, val_size=args.val_size,
                                   epochs=args.epochs, latent_dim=args.latent_dim, hidden=args.hidden,
                                   word_dropout=args.word_dropout, free_bits=args.free_bits, seed=args.seed)
    run_dir = out / representation
    train_or_reuse(config, splits, run_dir, progress=not args.quiet)
    mvae = MoleculeModel.from_run(Run.open(run_dir))
    trained = time.perf_counter() - start
    result = evaluate_molecules(mvae, splits, n=args.samples, temperature=1.0, reconstruct=1000, iwae_k=10,
                                seed=args.seed)
    result.pop("samples")
    result["optimize_qed"] = {k: v for k, v in optimize_property(
        mvae, splits.texts["train"], "qed", seeds=args.opt_seeds, steps=50, decode_every=5,
        seed=args.seed).items() if k != "found"}
    result.update(train_molecules=len(splits.train), epochs=args.epochs,
                  seconds_to_train=round(trained, 1), seconds_total=round(time.perf_counter() - start, 1))
    return result


def main(argv: list[str] | None = None) -> dict:
    preset = presets.options(PRESET)  # the defaults below are the preset's
    p = argparse.ArgumentParser(prog="python -m bench.molecules", description=__doc__.split("\n")[0])
    p.add_argument("--repr", default="selfies,smiles", help="representations, comma-separated")
    p.add_argument("--limit", type=int, default=preset["limit"],
                   help=f"MOSES training molecules read (default {preset['limit']})")
    p.add_argument("--val-size", type=int, default=preset["val_size"])
    p.add_argument("--epochs", type=int, default=preset["epochs"])
    p.add_argument("--latent-dim", type=int, default=preset["latent_dim"])
    p.add_argument("--hidden", type=int, default=preset["hidden"][0])
    p.add_argument("--word-dropout", type=float, default=preset["word_dropout"])
    p.add_argument("--free-bits", type=float, default=preset["free_bits"])
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
