"""`vaelab mol ...`: the sequence VAE for molecules (train, sample, evaluate, interpolate, optimize)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .errors import VaelabError

EPILOGS = {
    "mol": """examples:
  vaelab mol train --data moses --limit 50000 --repr selfies --epochs 10 --out runs/mol
  vaelab mol train --data my_molecules.smi --repr smiles --skip-invalid --out runs/mine
  vaelab mol sample runs/mol -n 1000 --out mols.smi
  vaelab mol evaluate runs/mol -n 10000 --json
  vaelab mol interpolate runs/mol --from 'CCOc1ccccc1' --to 'O=C(O)c1ccccc1N' --steps 8
  vaelab mol optimize runs/mol --property qed --seeds 20 --steps 50 --out best.csv""",
}

TRAIN_DEFAULTS = dict(latent_dim=32, hidden=256, embed_dim=64, word_dropout=0.1, free_bits=0.0, beta=1.0,
                      epochs=10, batch_size=128, lr=1e-3, seed=0, kl_warmup=1.0, grad_clip=50.0)


def add_commands(command) -> None:
    m = command("mol", "Molecules: a sequence (GRU) VAE over SMILES or SELFIES, with MOSES metrics.")
    steps = m.add_subparsers(dest="mol_command", required=True, metavar="{train,sample,evaluate,interpolate,optimize}")

    def step(name: str, help: str) -> argparse.ArgumentParser:
        return steps.add_parser(name, help=help, description=help, epilog=EPILOGS["mol"],
                                formatter_class=argparse.RawDescriptionHelpFormatter)

    t = step("train", "Train a sequence VAE on molecules and write a run folder (vocab.json included).")
    t.add_argument("--data",
                   help="(required) moses (the MOSES training set, from the molsets wheel) or FILE (.smi, or .csv with a "
                        "smiles column; gzipped too)")
    t.add_argument("--repr", dest="representation", choices=["smiles", "selfies"], default="selfies",
                   help="token representation (default selfies: every token string decodes to a molecule)")
    t.add_argument("--limit", type=int, metavar="N", help="read only the first N molecules (default: all)")
    t.add_argument("--skip-invalid", action="store_true",
                   help="drop lines RDKit cannot read (default: stop at the first, naming it)")
    t.add_argument("--val-size", type=int, default=10_000,
                   help="molecules held out for validation, at most 10%% of the data (default 10000)")
    for name, value in TRAIN_DEFAULTS.items():  # default None, so that --resume can tell what was given
        kind = int if isinstance(value, int) else float
        t.add_argument("--" + name.replace("_", "-"), type=kind, help=_TRAIN_HELP[name] + f" (default {value})")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.add_argument("--out", required=True, help="run folder to create (or continue, with --resume)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out (only --epochs may change)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = step("sample", "Decode molecules from z ~ N(0, I) and write them as a .smi file.")
    s.add_argument("run")
    s.add_argument("-n", type=int, default=100, help="molecules to draw (default 100)")
    s.add_argument("--temperature", type=float, default=1.0,
                   help="token sampling temperature; 0 decodes greedily (default 1: the model's distribution)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--valid-only", action="store_true", help="write only the valid molecules")
    s.add_argument("--out", help="output .smi file (default: print to stdout)")

    e = step("evaluate", "Validity, uniqueness, novelty, diversity, reconstruction accuracy, KL and active units.")
    e.add_argument("run")
    e.add_argument("-n", type=int, default=10_000, help="molecules to sample (default 10000)")
    e.add_argument("--temperature", type=float, default=1.0, help="token sampling temperature (default 1)")
    e.add_argument("--reconstruct", type=int, default=1000,
                   help="held-out (test) molecules to reconstruct and to measure the ELBO on (default 1000)")
    e.add_argument("--held-out", choices=["test", "scaffolds"], default="test",
                   help="molecules to reconstruct: the run's test split (default) or, for a MOSES run, the "
                        "first --reconstruct molecules of MOSES's scaffold test set (unseen ring systems)")
    e.add_argument("--iwae-k", type=int, default=10, help="importance samples for the -log p(x) bound (default 10)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--out", help="also write the JSON here")

    i = step("interpolate", "Decode the straight line between two molecules' latent means.")
    i.add_argument("run")
    i.add_argument("--from", dest="start", required=True, help="SMILES of the first molecule")
    i.add_argument("--to", dest="end", required=True, help="SMILES of the last molecule")
    i.add_argument("--steps", type=int, default=8, help="points on the line, both ends included (default 8)")

    o = step("optimize", "Raise a property by gradient ascent in the latent space; compared with prior samples.")
    o.add_argument("run")
    o.add_argument("--property", required=True, help="qed or logp (computed with RDKit)")
    o.add_argument("--seeds", type=int, default=20, help="training molecules to start from (default 20)")
    o.add_argument("--steps", type=int, default=50, help="gradient steps per seed (default 50)")
    o.add_argument("--decode-every", type=int, default=5, help="decode the latent every N steps (default 5)")
    o.add_argument("--lr", type=float, default=0.05, help="step size of the ascent (default 0.05)")
    o.add_argument("--head-molecules", type=int, default=10_000,
                   help="training molecules the property head learns from (default 10000)")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--json", action="store_true", help="print one JSON object")
    o.add_argument("--out", help="CSV of the valid, novel molecules found (default RUN/optimized-PROPERTY.csv)")


_TRAIN_HELP = {
    "latent_dim": "size of z", "hidden": "GRU width of encoder and decoder", "embed_dim": "token embedding width",
    "word_dropout": "share of the decoder's teacher-forced inputs blanked in training",
    "free_bits": "nats per latent dimension that the KL term does not charge for",
    "beta": "weight of the KL term", "epochs": "epochs to train", "batch_size": "molecules per step",
    "lr": "Adam learning rate", "seed": "seed for initialisation, order and sampling",
    "kl_warmup": "epochs over which beta rises from 0", "grad_clip": "max gradient norm; 0 = off",
}


def cmd_mol(args) -> int:
    return {"train": _train, "sample": _sample, "evaluate": _evaluate, "interpolate": _interpolate,
            "optimize": _optimize}[args.mol_command](args)


COMMANDS = {"mol": cmd_mol}


def _data_config(args):
    from pathlib import Path

    from .config import DataConfig

    name, path = ("moses", None) if args.data == "moses" else ("smiles", str(Path(args.data).expanduser()))
    return DataConfig(name=name, path=path, val_size=args.val_size, binarize="none", limit=args.limit,
                      representation=args.representation, skip_invalid=args.skip_invalid)


def _train(args) -> int:
    from .config import RunConfig, TrainConfig
    from .data import load_splits
    from .mol.molvae import sequence_model_config
    from .train.run import read_config
    from .train.trainer import fit

    given = [name for name in TRAIN_DEFAULTS if getattr(args, name) is not None]
    if args.resume:
        changed = [name for name in given if name != "epochs"] + (["data"] if args.data else [])
        if changed:
            raise VaelabError(f"--resume continues {args.out} as its config.json says; only --epochs may change "
                              f"(got --{changed[0].replace('_', '-')})")
        config = read_config(args.out)
        if args.epochs is not None:
            config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=args.epochs))
        data = load_splits(config.data)
    else:
        if not args.data:
            raise VaelabError("--data is required: moses, or a .smi/.csv file of SMILES")
        for name, value in TRAIN_DEFAULTS.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
        data_config = _data_config(args)
        data = load_splits(data_config)
        model = sequence_model_config(data, args.latent_dim, args.hidden, args.embed_dim, args.word_dropout,
                                      args.free_bits, args.beta)
        train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                            kl_warmup=args.kl_warmup, grad_clip=args.grad_clip, device=args.device)
        config = RunConfig(data=data_config, model=model, train=train)
    print(f"{len(data.train)} training, {len(data.val)} validation, {len(data.test)} test molecules; "
          f"{config.model.vocab_size} tokens ({config.data.representation}), at most {config.model.shape[0]} per molecule",
          file=sys.stderr)
    fit(config, data, args.out, resume=args.resume, progress=not args.quiet)
    print(f"run folder: {args.out}  (config.json, vocab.json, model.safetensors, metrics.jsonl)")
    return 0


def _load(run):
    from .mol.molvae import MoleculeVAE

    return MoleculeVAE.load(run)


def _sample(args) -> int:
    import torch

    from .cli_common import writable_path
    from .mol.chem import canonical
    from .train.checkpoint import atomic_write_text

    mvae = _load(args.run)
    molecules = mvae.sample(args.n, args.temperature, torch.Generator().manual_seed(args.seed))
    valid = [canonical(m) for m in molecules]
    lines = [c for c in valid if c is not None] if args.valid_only else [c or m for c, m in zip(valid, molecules)]
    print(f"{sum(v is not None for v in valid)} of {len(molecules)} valid", file=sys.stderr)
    text = "".join(line + "\n" for line in lines)
    if args.out:
        atomic_write_text(writable_path(args.out), text)
        print(f"wrote {len(lines)} molecules to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _evaluate(args) -> int:
    from .cli_common import writable_path
    from .data import load_splits
    from .mol.evaluate import evaluate_molecules
    from .mol.tokens import Vocabulary
    from .train.checkpoint import atomic_write_text

    for name in ("n", "reconstruct", "iwae_k"):
        if getattr(args, name) < 1:
            raise VaelabError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    mvae = _load(args.run)
    data = load_splits(mvae.model.run_config.data)
    if Vocabulary.from_json(data.vocabulary) != mvae.vocabulary:
        raise VaelabError(f"the data of {args.run} no longer give the vocabulary it was trained with")
    held_out = None
    if args.held_out == "scaffolds":
        if mvae.model.run_config.data.name != "moses":
            raise VaelabError("--held-out scaffolds needs a run trained on --data moses")
        from .data.molecules import load_moses_file

        held_out = load_moses_file("test_scaffolds", args.reconstruct)
    result = evaluate_molecules(mvae, data, n=args.n, temperature=args.temperature, reconstruct=args.reconstruct,
                                iwae_k=args.iwae_k, seed=args.seed, held_out=held_out)
    result["held_out"] = args.held_out
    result.pop("samples")
    result["run"] = str(args.run)
    text = json.dumps(result, indent=2)
    if args.out:
        atomic_write_text(writable_path(args.out), text + "\n")
    if args.json:
        print(text)
    else:
        for key, value in result.items():
            print(f"{key:>24}  {value:.4f}" if isinstance(value, float) else f"{key:>24}  {value}")
    return 0


def _interpolate(args) -> int:
    import torch

    from .mol.chem import canonical

    if args.steps < 2:
        raise VaelabError(f"--steps must be at least 2 (both ends), got {args.steps}")
    mvae = _load(args.run)
    mu, _ = mvae.encode([args.start, args.end])
    t = torch.linspace(0, 1, args.steps)[:, None]
    for share, smiles in zip(t[:, 0].tolist(), mvae.decode((1 - t) * mu[0] + t * mu[1])):
        c = canonical(smiles)
        print(f"{share:5.2f}  {c if c else smiles + '  (invalid)'}")
    return 0


def _optimize(args) -> int:
    from .cli_common import writable_path
    from .data import load_splits
    from .mol.optimize import optimize_property, write_found

    mvae = _load(args.run)
    data = load_splits(mvae.model.run_config.data)
    result = optimize_property(mvae, data.texts["train"], args.property, seeds=args.seeds, steps=args.steps,
                               decode_every=args.decode_every, lr=args.lr, head_molecules=args.head_molecules,
                               seed=args.seed, run_dir=args.run)
    out = writable_path(args.out) if args.out else None
    path = write_found(result, out or f"{args.run}/optimized-{args.property}.csv")
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
