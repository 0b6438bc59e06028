"""`vaelab disentangle`: MIG, FactorVAE score and DCI of a run trained on data with known factors;
`vaelab udr`: which of several runs is the most disentangled, without factor labels."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli_common import load_run, writable_path
from .errors import VaelabError

EPILOGS = {
    "disentangle": """examples:
  vaelab train --data dsprites --channels 32,32,64,64 --dense 256 --latent-dim 10 --batch-size 64 --lr 5e-4 \\
               --epochs 8 --regularizer tc --beta 4 --out runs/tcvae
  vaelab disentangle runs/tcvae                 # readable table
  vaelab disentangle runs/tcvae --json -n 5000  # one JSON object""",
    "udr": """examples:
  for s in 0 1 2 3; do vaelab train --data dsprites --channels 32,32,64,64 --dense 256 --latent-dim 10 \\
      --batch-size 64 --lr 5e-4 --epochs 8 --regularizer tc --beta 6 --seed $s --out runs/tcvae-s$s; done
  vaelab udr runs/tcvae-s0 runs/tcvae-s1 runs/tcvae-s2 runs/tcvae-s3   # ranked table
  vaelab udr runs/tcvae-s* --json                                      # one JSON object""",
}


def add_commands(command) -> None:
    d = command("disentangle", "Measure how disentangled a run's latent space is (MIG, FactorVAE score, DCI).")
    d.add_argument("run", help="run folder, trained on data with known factors (e.g. --data dsprites)")
    d.add_argument("--split", default="test", choices=["train", "val", "test"])
    d.add_argument("-n", type=int, default=10_000, help="examples encoded (default 10000, or the whole split)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    d.add_argument("--out", help="also write the JSON to this file")

    u = command("udr", "Rank runs by how disentangled they are, without labels (UDR: how well their seeds agree).")
    u.description = """Unsupervised Disentanglement Ranking (Duan et al. 2020). Runs trained alike with different
seeds agree dimension for dimension when they are disentangled, and only up to seed-dependent
rotations when they are not. Each run's score (0-1) is its median agreement with the others: rank
correlations between their informative dimensions' posterior means on the same examples. Works on
any data: no factor labels are needed. It rewards agreement, not completeness: seeds that all drop
the same factor agree as well (on dSprites it ranked such runs first; see the README)."""
    u.add_argument("runs", nargs="+", help="two or more run folders trained on the same data (best: one setting, "
                                           "several seeds)")
    u.add_argument("--split", default="test", choices=["train", "val", "test"])
    u.add_argument("-n", type=int, default=10_000, help="examples encoded (default 10000, or the whole split)")
    u.add_argument("--seed", type=int, default=0, help="which examples, when -n is below the split's size")
    u.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    u.add_argument("--out", help="also write the JSON to this file")


def cmd_disentangle(args) -> int:
    from .data import load_splits
    from .metrics.disentanglement import disentanglement_report
    from .train.checkpoint import atomic_write_text

    if args.n < 2:
        raise VaelabError(f"-n must be at least 2, got {args.n}")
    out = writable_path(args.out) if args.out else None
    model = load_run(args.run)
    splits = load_splits(model.run_config.data)
    report = {"run": str(Path(args.run)), **disentanglement_report(model, splits, args.split, args.n, args.seed)}
    text = json.dumps(report, indent=2)
    if out:
        atomic_write_text(out, text + "\n")
    print(text if args.json else _table(report))
    return 0


def cmd_udr(args) -> int:
    import torch

    from .data import load_splits
    from .metrics.disentanglement import example_subset
    from .metrics.udr import udr_report
    from .train.checkpoint import atomic_write_text

    if len(args.runs) < 2:
        raise VaelabError(f"UDR compares runs with each other: give at least two run folders, got {len(args.runs)}")
    if len({Path(r).resolve() for r in args.runs}) < len(args.runs):
        raise VaelabError("a run folder is given twice: it would agree with itself")
    if args.n < 2:
        raise VaelabError(f"-n must be at least 2, got {args.n}")
    out = writable_path(args.out) if args.out else None
    models = [load_run(r) for r in args.runs]
    data = models[0].run_config.data
    for run, model in zip(args.runs[1:], models[1:]):
        if model.run_config.data != data:
            raise VaelabError(f"{run} was trained on other data than {args.runs[0]}; UDR compares runs on the same data")
    seeds: dict[int, str] = {}
    for run, model in zip(args.runs, models):
        seed = model.run_config.train.seed
        if seed in seeds:  # a shared seed means a shared initialisation and data order: they agree more
            print(f"warning: {seeds[seed]} and {run} were both trained with seed {seed}; UDR assumes "
                  f"independent seeds, and runs that share one score higher", file=sys.stderr)
        seeds.setdefault(seed, run)
    x, _ = load_splits(data).split(args.split)
    keep = example_subset(len(x), args.n, args.seed)  # the examples `vaelab disentangle -n` takes
    if keep is not None:
        x = x[torch.from_numpy(keep)]
    report = {"runs": [str(Path(r)) for r in args.runs], "split": args.split, **udr_report(models, x)}
    text = json.dumps(report, indent=2)
    if out:
        atomic_write_text(out, text + "\n")
    print(text if args.json else _udr_table(report))
    return 0


def _udr_table(r: dict) -> str:
    order = sorted(range(len(r["runs"])), key=lambda i: -r["udr"][i])
    lines = [f"UDR on {r['n']} {r['split']} examples (1 = the runs agree dimension for dimension; median over pairs)",
             f"{'rank':>4}  {'UDR':>5}  {'dims':>4}  run"]
    lines += [f"{k + 1:>4}  {r['udr'][i]:5.3f}  {len(r['informative_dimensions'][i]):>4}  {r['runs'][i]}"
              for k, i in enumerate(order)]
    lines.append("pairwise (rows and columns in the order given):")
    lines += ["  " + "  ".join("  -  " if v is None else f"{v:5.3f}" for v in row) for row in r["pairwise"]]
    return "\n".join(lines)


def _table(r: dict) -> str:
    lines = [f"{r['n']} {r['split']} examples; factors: {', '.join(r['factors'])}",
             f"MIG                      {r['mig']:.3f}   (binned posterior means)",
             f"MIG, posterior           " + ("n/a     (an autoencoder: no posterior)" if r["mig_posterior"] is None
                                             else f"{r['mig_posterior']:.3f}   (from q(z|x), Chen et al.'s estimator)"),
             f"FactorVAE score          {r['factor_vae_score']:.3f}   ({r['active_dims']} active dimensions)",
             f"DCI disentanglement      {r['dci_disentanglement']:.3f}",
             f"DCI completeness         {r['dci_completeness']:.3f}",
             f"DCI informativeness      {r['dci_informativeness']:.3f}   (held-out accuracy)",
             "MIG per factor           " + _per_factor(r["factors"], r["mig_per_factor"])]
    if r["mig_posterior"] is not None:
        lines.append("  posterior              " + _per_factor(r["factors"], r["mig_posterior_per_factor"]))
    return "\n".join(lines)


def _per_factor(names, values) -> str:
    return "  ".join(f"{f} {g:.2f}" for f, g in zip(names, values))


COMMANDS = {"disentangle": cmd_disentangle, "udr": cmd_udr}
