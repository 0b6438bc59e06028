"""`vaelab mol ...`: molecules with a sequence (GRU) VAE: sample, evaluate, interpolate, optimize.

Molecules train with `vaelab train --data moses|FILE.smi`; `vaelab mol train` is the same command.
"""
from __future__ import annotations

import json
import sys

from ..errors import InputError
from ..data.molecules import read_smiles_lines
from ..io import atomic_write_text
from ..mol.chem import canonical
from ..mol.evaluate import evaluate_run
from ..mol.model import MoleculeModel
from ..mol.optimize import optimize_property, write_found
from ..run import Run
from . import train
from .options import add_report_arguments, default_of
from .output import add_out, out_path, report

EXAMPLES = """examples:
  vaelab train --data moses --limit 50000 --repr selfies --epochs 10 --out runs/mol   # or: vaelab mol train ...
  vaelab train --preset moses-selfies --out runs/mol-bench
  vaelab mol sample runs/mol -n 1000 --out mols.smi
  vaelab mol evaluate runs/mol -n 10000 --json
  vaelab mol interpolate runs/mol --from 'CCOc1ccccc1' --to 'O=C(O)c1ccccc1N' --steps 8
  vaelab mol optimize runs/mol --property qed --seeds 20 --steps 50 --out best.csv"""


def register(commands) -> None:
    mol = commands.group("mol", "Molecules: a sequence (GRU) VAE over SMILES or SELFIES, with MOSES metrics.", EXAMPLES)
    t = mol.add("train", "Train on molecules (the same as vaelab train; --data is required).", EXAMPLES, run_train)
    train.add_train_arguments(t)

    s = mol.add("sample", "Decode molecules from z ~ N(0, I) and write them as a .smi file.", EXAMPLES, run_sample)
    s.add_argument("run", help="run folder of a molecule model")
    s.add_argument("-n", type=int, default=100, help="molecules to draw")
    s.add_argument("--temperature", type=float, default=1.0,
                   help="token sampling temperature; 0 decodes greedily (1: the model's distribution)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--valid-only", action="store_true", help="write only the valid molecules")
    add_out(s, "output .smi file (default: print to stdout)")

    e = mol.add("evaluate", "The MOSES table (validity, uniqueness, novelty, diversity, FCD, SNN, Frag, Scaf, filters, "
                "property distances), reconstruction accuracy, KL and active units.", EXAMPLES, run_evaluate)
    e.add_argument("run", help="run folder of a molecule model")
    e.add_argument("-n", type=int, default=default_of(evaluate_run, "n"), help="molecules to sample")
    e.add_argument("--temperature", type=float, default=default_of(evaluate_run, "temperature"),
                   help="token sampling temperature")
    e.add_argument("--reconstruct", type=int, default=default_of(evaluate_run, "reconstruct"),
                   help="held-out molecules to reconstruct and to measure the ELBO on")
    e.add_argument("--held-out", choices=["test", "scaffolds"], default="test",
                   help="molecules to reconstruct: the run's test split or, for a MOSES run, the first "
                        "--reconstruct molecules of MOSES's scaffold test set (unseen ring systems)")
    e.add_argument("--iwae-k", type=int, default=default_of(evaluate_run, "iwae_k"),
                   help="importance samples for the -log p(x) bound")
    e.add_argument("--samples", metavar="FILE",
                   help="score the SMILES of FILE (.smi/.csv, optionally gzipped) instead of sampling the model: "
                        "generation metrics only, against the run's data")
    e.add_argument("--reference-size", type=int,
                   help="use only the first N molecules of each reference set (default: all, as MOSES; "
                        "fewer compute faster but are not comparable with published figures)")
    e.add_argument("--seed", type=int, default=0)
    add_report_arguments(e)

    i = mol.add("interpolate", "Decode the straight line between two molecules' latent means.", EXAMPLES,
                run_interpolate)
    i.add_argument("run", help="run folder of a molecule model")
    i.add_argument("--from", dest="start", required=True, help="SMILES of the first molecule")
    i.add_argument("--to", dest="end", required=True, help="SMILES of the last molecule")
    i.add_argument("--steps", type=int, default=default_of(MoleculeModel.interpolate, "steps"),
                   help="points on the line, both ends included")

    o = mol.add("optimize", "Raise a property by gradient ascent in the latent space; compared with prior samples.",
                EXAMPLES, run_optimize)
    o.add_argument("run", help="run folder of a molecule model")
    o.add_argument("--property", required=True, help="qed or logp (computed with RDKit)")
    o.add_argument("--seeds", type=int, default=default_of(optimize_property, "seeds"),
                   help="training molecules to start from")
    o.add_argument("--steps", type=int, default=default_of(optimize_property, "steps"), help="gradient steps per seed")
    o.add_argument("--decode-every", type=int, default=default_of(optimize_property, "decode_every"),
                   help="decode the latent every N steps")
    o.add_argument("--lr", type=float, default=default_of(optimize_property, "lr"), help="step size of the ascent")
    o.add_argument("--head-molecules", type=int, default=default_of(optimize_property, "head_molecules"),
                   help="training molecules the property head learns from")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--json", action="store_true", help="print one JSON object")
    add_out(o, "CSV of the valid, novel molecules found (default RUN/optimized-PROPERTY.csv)")


def _open(run_dir) -> MoleculeModel:
    return MoleculeModel.from_run(Run.open(run_dir))


def run_train(args) -> int:
    if not (args.data or args.resume or args.preset or args.config):
        raise InputError("--data is required: moses, or a .smi/.csv file of SMILES")
    return train.run(args)


def run_sample(args) -> int:
    if args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    out = out_path(args)
    model = _open(args.run)
    molecules = model.sample(args.n, args.temperature, args.seed, progress=True)
    valid = [canonical(m) for m in molecules]
    lines = [c for c in valid if c is not None] if args.valid_only else [c or m for c, m in zip(valid, molecules)]
    print(f"{sum(v is not None for v in valid)} of {len(molecules)} valid", file=sys.stderr)
    text = "".join(line + "\n" for line in lines)
    if out:
        atomic_write_text(out, text)
        print(f"wrote {len(lines)} molecules to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_evaluate(args) -> int:
    out_path(args)
    samples = [s for _, s in read_smiles_lines(args.samples)] if args.samples else None
    result = evaluate_run(_open(args.run), n=args.n, temperature=args.temperature, reconstruct=args.reconstruct,
                          iwae_k=args.iwae_k, seed=args.seed, held_out=args.held_out, progress=True,
                          samples=samples, reference_size=args.reference_size)
    result.pop("samples")
    missing = result.pop("missing", None)
    if missing:
        print(missing, file=sys.stderr)
    if result.get("valid") == 0:
        print(f"no valid molecule among the {result['n']} samples: the metrics beyond validity are undefined (null)",
              file=sys.stderr)
    result["run"] = str(args.run)
    report(result, args, lambda r: "\n".join(f"{k:>24}  {v:.4f}" if isinstance(v, float) else f"{k:>24}  {v}"
                                              for k, v in r.items()))
    return 0


def run_interpolate(args) -> int:
    for share, smiles in _open(args.run).interpolate(args.start, args.end, args.steps):
        c = canonical(smiles)
        print(f"{share:5.2f}  {c if c else smiles + '  (invalid)'}")
    return 0


def run_optimize(args) -> int:
    model = _open(args.run)
    out = out_path(args, model.run.output("optimized", args.property))
    result = optimize_property(model, model.run.data().texts["train"], args.property, seeds=args.seeds,
                               steps=args.steps, decode_every=args.decode_every, lr=args.lr,
                               head_molecules=args.head_molecules, seed=args.seed, progress=True)
    path = write_found(result, out)
    found = result.pop("found")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"property {args.property}: {args.seeds} seeds x {args.steps} steps, "
              f"{result['decoder_calls']} decoder calls each way")
        print(f"{'':>22}  {'best':>8}  {'top-10':>8}  {'median':>8}  {'valid':>6}  {'unique':>6}  {'novel':>6}")
        for name in ("latent_ascent", "prior_samples"):
            r = result[name]
            print(f"{name:>22}  {_f(r['best'])}  {_f(r['top10_mean'])}  {_f(r['median'])}  "
                  f"{r['valid']:6.3f}  {r['unique']:6.3f}  {r['novel']:6.3f}")
    print(f"wrote {len(found)} valid, novel molecules to {path}", file=sys.stderr)
    return 0


def _f(value) -> str:
    return f"{value:8.3f}" if value is not None else f"{'-':>8}"
