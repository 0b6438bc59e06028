"""`vaelab disentangle`: the disentanglement_lib metrics (MIG, the FactorVAE and BetaVAE scores, DCI, SAP,
modularity, explicitness, IRS) of a run trained on data with known factors;
`vaelab udr`: which of several runs is the most disentangled, without factor labels."""
from __future__ import annotations

import sys

from ..data import SPLITS
from ..errors import InputError
from ..metrics.disentanglement import DCI_MODELS, disentanglement_report
from ..metrics.udr import udr_of_runs
from ..run import Run
from .options import add_report_arguments, add_run_argument
from .output import out_path, report

EXAMPLES = {
    "disentangle": """examples:
  vaelab train --preset dsprites-tcvae --out runs/tcvae   # beta-TCVAE on dSprites
  vaelab disentangle runs/tcvae                 # readable table
  vaelab disentangle runs/tcvae --json -n 5000  # one JSON object
  vaelab disentangle runs/tcvae --dci-model forest   # DCI from a random forest, as in earlier figures""",
    "udr": """examples:
  for s in 0 1 2 3; do vaelab train --preset dsprites-tcvae --beta 6 --seed $s --out runs/tcvae-s$s; done
  vaelab udr runs/tcvae-s0 runs/tcvae-s1 runs/tcvae-s2 runs/tcvae-s3   # ranked table
  vaelab udr runs/tcvae-s* --json                                      # one JSON object""",
}
UDR_DESCRIPTION = """Unsupervised Disentanglement Ranking (Duan et al. 2020). Runs trained alike with different
seeds agree dimension for dimension when they are disentangled, and only up to seed-dependent
rotations when they are not. Each run's score (0-1) is its median agreement with the others: rank
correlations between their informative dimensions' posterior means on the same examples. Works on
any data: no factor labels are needed. It rewards agreement, not completeness: seeds that all drop
the same factor agree as well (on dSprites it ranked such runs first; see the docs)."""


def register(commands) -> None:
    d = commands.add("disentangle", "Measure how disentangled a run's latent space is (disentanglement_lib's "
                                    "metrics: MIG, FactorVAE, BetaVAE, DCI, SAP, modularity, IRS, ...).",
                     EXAMPLES["disentangle"], run_disentangle)
    add_run_argument(d)
    d.add_argument("--split", default="test", choices=SPLITS)
    d.add_argument("-n", type=int, default=10_000, help="examples encoded (or the whole split, if smaller)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--dci-model", choices=DCI_MODELS, default="gbt",
                   help="DCI's classifier: gradient-boosted trees (gbt, as Locatello et al. 2019) or a random forest "
                        "(forest, vaelab's earlier DCI)")
    add_report_arguments(d)

    u = commands.add("udr", "Rank runs by how disentangled they are, without labels (UDR: how well their seeds "
                            "agree).", EXAMPLES["udr"], run_udr, description=UDR_DESCRIPTION)
    u.add_argument("runs", nargs="+", help="two or more run folders trained on the same data (best: one setting, "
                                           "several seeds)")
    u.add_argument("--data", help="data to use instead of the runs' own, of the same kind")
    u.add_argument("--split", default="test", choices=SPLITS)
    u.add_argument("-n", type=int, default=10_000, help="examples encoded (or the whole split, if smaller)")
    u.add_argument("--seed", type=int, default=0, help="which examples, when -n is below the split's size")
    add_report_arguments(u)


def run_disentangle(args) -> int:
    if args.n < 2:
        raise InputError(f"-n must be at least 2, got {args.n}")
    out_path(args)
    run = Run.open(args.run)
    result = disentanglement_report(run.model(), run.data(args.data), args.split, args.n, args.seed, progress=True,
                                    dci_model=args.dci_model)
    report({"run": str(run.path), **result}, args, table)
    return 0


def run_udr(args) -> int:
    out_path(args)
    result, warnings = udr_of_runs(args.runs, args.split, args.n, args.seed, args.data, progress=True)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    report(result, args, udr_table)
    return 0


def udr_table(r: dict) -> str:
    order = sorted(range(len(r["runs"])), key=lambda i: -r["udr"][i])
    lines = [f"UDR on {r['n']} {r['split']} examples (1 = the runs agree dimension for dimension; median over pairs)",
             f"{'rank':>4}  {'UDR':>5}  {'dims':>4}  run"]
    lines += [f"{k + 1:>4}  {r['udr'][i]:5.3f}  {len(r['informative_dimensions'][i]):>4}  {r['runs'][i]}"
              for k, i in enumerate(order)]
    lines.append("pairwise (rows and columns in the order given):")
    lines += ["  " + "  ".join("  -  " if v is None else f"{v:5.3f}" for v in row) for row in r["pairwise"]]
    return "\n".join(lines)


DCI_LABELS = {"gbt": "gradient-boosted trees", "forest": "random forest"}


def table(r: dict) -> str:
    posterior = ("n/a     (an autoencoder: no posterior)" if r["mig_posterior"] is None
                 else f"{r['mig_posterior']:.3f}   (from q(z|x), Chen et al.'s estimator)")
    lines = [f"{r['n']} {r['split']} examples; factors: {', '.join(r['factors'])}",
             f"MIG                      {r['mig']:.3f}   (binned posterior means)",
             f"MIG, posterior           {posterior}",
             f"FactorVAE score          {r['factor_vae_score']:.3f}   ({r['active_dims']} active dimensions)",
             f"BetaVAE score            {r['beta_vae_score']:.3f}   (linear classifier on pairs' differences)",
             f"DCI disentanglement      {r['dci_disentanglement']:.3f}   ({DCI_LABELS[r['dci_model']]})",
             f"DCI completeness         {r['dci_completeness']:.3f}",
             f"DCI informativeness      {r['dci_informativeness']:.3f}   (held-out accuracy)",
             f"SAP                      {r['sap_score']:.3f}",
             f"modularity               {r['modularity']:.3f}",
             f"explicitness             {r['explicitness']:.3f}   (held-out one-vs-rest AUC)",
             f"IRS                      {r['irs']:.3f}   ({r['irs_active_dims']} non-constant dimensions)",
             "MIG per factor           " + _per_factor(r["factors"], r["mig_per_factor"])]
    if r["mig_posterior"] is not None:
        lines.append("  posterior              " + _per_factor(r["factors"], r["mig_posterior_per_factor"]))
    lines += ["SAP per factor           " + _per_factor(r["factors"], r["sap_per_factor"]),
              "DCI compl. per factor    " + _per_factor(r["factors"], r["dci_completeness_per_factor"]),
              "explicitness per factor  " + _per_factor(r["factors"], r["explicitness_per_factor"])]
    return "\n".join(lines)


def _per_factor(names, values) -> str:
    return "  ".join(f"{f} {'-' if g is None else f'{g:.2f}'}" for f, g in zip(names, values))
