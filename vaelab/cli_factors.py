"""`vaelab disentangle`: MIG, FactorVAE score and DCI of a run trained on data with known factors."""
from __future__ import annotations

import json
from pathlib import Path

from .cli_common import load_run, writable_path
from .errors import VaelabError

EPILOGS = {
    "disentangle": """examples:
  vaelab train --data dsprites --channels 32,32,64,64 --dense 256 --latent-dim 10 --batch-size 64 --lr 5e-4 \\
               --epochs 8 --regularizer tc --beta 4 --out runs/tcvae
  vaelab disentangle runs/tcvae                 # readable table
  vaelab disentangle runs/tcvae --json -n 5000  # one JSON object""",
}


def add_commands(command) -> None:
    d = command("disentangle", "Measure how disentangled a run's latent space is (MIG, FactorVAE score, DCI).")
    d.add_argument("run", help="run folder, trained on data with known factors (e.g. --data dsprites)")
    d.add_argument("--split", default="test", choices=["train", "val", "test"])
    d.add_argument("-n", type=int, default=10_000, help="examples encoded (default 10000, or the whole split)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    d.add_argument("--out", help="also write the JSON to this file")


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


COMMANDS = {"disentangle": cmd_disentangle}
