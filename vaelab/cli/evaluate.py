"""`vaelab evaluate`: the negative ELBO, its terms, the IWAE bound and active units of a run, in nats."""
from __future__ import annotations

import argparse

from ..config import DEVICES
from ..data import SPLITS
from ..metrics.likelihood import evaluate
from ..run import ARTIFACTS, Run
from ..train.checks import pick_device
from .options import add_report_arguments, add_run_argument, default_of
from .output import out_path, report, rows

EXAMPLES = """examples:
  vaelab evaluate runs/mnist-conv                   # readable table, IWAE with K=1000
  vaelab evaluate runs/mnist-conv --iwae-k 5000 --json > eval.json
  vaelab evaluate runs/mnist-conv --save            # also keep the result in the run folder
  vaelab evaluate runs/mnist-conv --iwae-k 5000 --start 5000 -n 5000   # the second half (e.g. on another core)"""


def register(commands) -> None:
    e = commands.add("evaluate", "Evaluate a run: negative ELBO, its terms and the IWAE bound, in nats.", EXAMPLES,
                     run)
    add_run_argument(e)
    e.add_argument("--split", default="test", choices=SPLITS)
    e.add_argument("--iwae-k", type=int, default=default_of(evaluate, "iwae_k"),
                   help="importance samples per example")
    e.add_argument("--batch-size", type=int, default=default_of(evaluate, "batch_size"))
    e.add_argument("-n", type=int, help="evaluate only N examples (from --start)")
    e.add_argument("--limit", dest="n", type=int, help=argparse.SUPPRESS)  # its name before version 0.2
    e.add_argument("--start", type=int, default=0, metavar="I",
                   help="skip the first I examples: with -n, one part of a long evaluation (e.g. one per core)")
    e.add_argument("--seed", type=int, default=default_of(evaluate, "seed"))
    add_report_arguments(e)
    e.add_argument("--save", action="store_true",
                   help=f"also keep the result in the run folder ({ARTIFACTS['evaluation']})")
    e.add_argument("--device", default="auto", choices=DEVICES)
    e.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    out_path(args)
    run_ = Run.open(args.run)
    model = run_.model(pick_device(args.device))
    result = evaluate(model, run_.data(args.data), split=args.split, iwae_k=args.iwae_k, batch_size=args.batch_size,
                      seed=args.seed, n=args.n, start=args.start, progress=not args.quiet)
    result["run"] = str(args.run)
    if args.save:
        run_.write_artifact("evaluation", result)
    report(result, args, table)
    return 0


def table(r: dict) -> str:
    where = f"{r['split']} split" + (f", from example {r['start']}" if r.get("start") else "")
    pairs = [("examples", f"{r['n']} ({where})"), ("binarization", r["binarization"])]
    if r["elbo"] is not None:
        pairs += [("negative ELBO", f"{r['elbo']:.2f} nats"), ("  reconstruction", f"{r['recon']:.2f} nats"),
                  ("  KL(q(z|x) || p(z))", f"{r['kl']:.2f} nats"),
                  (f"-log p(x), IWAE K={r['iwae_k']}",
                   f"{r['nll_iwae']:.2f} nats (+/- {r['nll_iwae_sem'] or 0:.2f} s.e.m.)")]
        if r.get("bits_per_dim") is not None:
            pairs.append(("bits per dim", f"{r['bits_per_dim']:.4f}"))
    else:
        pairs += [("reconstruction", f"{r['recon']:.2f} nats"),
                  ("note", "an autoencoder has no posterior: no ELBO or likelihood")]
    pairs.append(("active units", f"{r['active_units']} of {r['latent_dim']}"))
    return rows(pairs)
