"""The sequence VAE on a MOSES subset: the whole MOSES table and latent optimisation, beside MOSES's rows.

    python -m bench.molecules [--repr selfies,smiles] [--limit 50000] [--epochs 5] [--threads 1]
                              [--reference-size N] [--out runs/mol-bench] [--json PATH] [--quick]

For each representation: `vaelab train --preset moses-selfies` (its --repr and the options below on
top) on the first --limit MOSES training molecules (its run folder is reused when finished, resumed
when killed), then `vaelab mol evaluate` (10,000 samples at temperature 1: every MOSES metric, against
MOSES's whole test and scaffold test sets, novelty against the whole MOSES training set;
reconstruction of 1,000 MOSES test molecules) and `vaelab mol optimize --property qed` (against prior
samples with as many decoder calls). The first evaluation computes the test sets' statistics (about 50
minutes on one CPU core, ChemNet most of it) and canonicalises the training set (7 minutes) once; both are cached.

The MOSES VAE and CharRNN rows are quoted from the results table of MOSES's README (molecularsets/moses
at commit dd7ed6a, June 2023): the mean over 3 runs of 30,000 samples each, models trained on all
1,584,663 training molecules on a GPU. Its table has no property distances (logP, SA, QED, weight):
those cells are left empty. Protocol differences: we train on --limit molecules for --epochs epochs on
CPU cores and sample 10,000 molecules (MOSES: 30,000), once.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vaelab import Run, presets
from vaelab.mol.evaluate import evaluate_run
from vaelab.mol.model import MoleculeModel
from vaelab.mol.optimize import optimize_property

from .report import command_line, write_json
from .runs import preset_config, train_or_reuse

PRESET = "moses-selfies"  # vaelab/presets: the settings every representation trains with

MOSES_COLUMNS = ("valid", "unique@1000", "unique@10000", "FCD/Test", "FCD/TestSF", "SNN/Test", "SNN/TestSF",
                 "Frag/Test", "Frag/TestSF", "Scaf/Test", "Scaf/TestSF", "IntDiv", "IntDiv2", "Filters",
                 "Novelty", "logP", "SA", "QED", "weight")
COLUMNS = (*MOSES_COLUMNS, "reconstruction_accuracy", "kl", "active_units")
# MOSES's README, results table (molecularsets/moses @ dd7ed6a): the means of its "mean±std" cells
_README_ORDER = MOSES_COLUMNS[:15]
PUBLISHED = {
    "MOSES VAE (published)": dict(zip(_README_ORDER, (
        0.9767, 1.0, 0.9984, 0.099, 0.567, 0.6257, 0.5783, 0.9994, 0.9984, 0.9386, 0.0588, 0.8558, 0.8498, 0.997,
        0.6949))),
    "MOSES CharRNN (published)": dict(zip(_README_ORDER, (
        0.9748, 1.0, 0.9994, 0.0732, 0.5204, 0.6015, 0.5649, 0.9998, 0.9983, 0.9242, 0.1101, 0.8562, 0.8503, 0.9943,
        0.8419))),
}


def one_representation(representation: str, args, out: Path) -> dict:
    start = time.perf_counter()
    config, splits = preset_config(PRESET, repr=representation, limit=args.limit, val_size=args.val_size,
                                   epochs=args.epochs, latent_dim=args.latent_dim, hidden=args.hidden,
                                   word_dropout=args.word_dropout, free_bits=args.free_bits, seed=args.seed)
    run_dir = out / representation
    train_or_reuse(config, splits, run_dir, progress=not args.quiet)
    mvae = MoleculeModel.from_run(Run.open(run_dir))
    trained = time.perf_counter() - start
    result = evaluate_run(mvae, n=args.samples, temperature=1.0, reconstruct=1000, iwae_k=10, seed=args.seed,
                          reference_size=args.reference_size, progress=not args.quiet)
    result.pop("samples")
    if "missing" in result:
        raise SystemExit(f"bench.molecules needs the whole MOSES table: {result['missing']}")
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
    p.add_argument("--reference-size", type=int, default=None,
                   help="the first N molecules of each MOSES test set (default all: comparable with MOSES)")
    p.add_argument("--out", default="runs/mol-bench")
    p.add_argument("--quick", action="store_true", help="2,000 molecules, 1 epoch, 500 samples: a smoke run")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.val_size, args.epochs, args.samples, args.opt_seeds = 2000, 200, 1, 500, 5
        args.reference_size = args.reference_size or 1000
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
    """One line per metric (MOSES's names), one column per model: ours, then MOSES's published rows."""
    refs = "all of MOSES's test sets" if args.reference_size is None else f"the first {args.reference_size:,} " \
        "molecules of each MOSES test set (not comparable with published figures)"
    print(f"\nMOSES subset: first {args.limit} training molecules, {args.epochs} epochs; {args.samples:,} samples at "
          f"temperature 1 against {refs}; novelty against the whole MOSES training set")
    models = {**{f"vaelab VAE, {k}": v for k, v in rows.items()}, **PUBLISHED}
    print(f"{'':>24}  " + "  ".join(f"{name[:26]:>26}" for name in models))
    for column in COLUMNS:
        print(f"{column:>24}  " + "  ".join(_cell(r.get(column), 26) for r in models.values()))
    for name, r in rows.items():
        o = r["optimize_qed"]
        for label in ("latent_ascent", "prior_samples"):
            s = o[label]
            print(f"QED, {name}, {label}: best {_cell(s['best'])} top-10 {_cell(s['top10_mean'])} median "
                  f"{_cell(s['median'])} valid {s['valid']:.3f} unique {s['unique']:.3f} novel {s['novel']:.3f} "
                  f"({o['decoder_calls']} decoder calls; head R^2 {o['head']['r2_held_out']:.3f})")
        print(f"{name}: {r['train_molecules']} training molecules, trained in {r['seconds_to_train']:.0f} s")


def _cell(value, width: int = 12) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:{width}.4f}" if isinstance(value, float) else f"{value:>{width}}"


if __name__ == "__main__":
    main()
