"""The `vaelab` command. Every subcommand has --help with an example; bad input is one line, exit 2."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .cli_common import as_images, data_spec, load_run, writable_path
from .cli_factors import COMMANDS as factor_commands
from .cli_factors import EPILOGS as factor_epilogs
from .cli_factors import add_commands as add_factor_commands
from .cli_apps import COMMANDS as app_commands
from .cli_apps import EPILOGS as app_epilogs
from .cli_apps import add_commands as add_app_commands
from .cli_latent import COMMANDS as latent_commands
from .cli_latent import EPILOGS as latent_epilogs
from .cli_latent import add_commands as add_latent_commands
from .cli_mol import COMMANDS as mol_commands
from .cli_mol import EPILOGS as mol_epilogs
from .cli_mol import add_commands as add_mol_commands
from .cli_serve import COMMANDS as serve_commands
from .cli_serve import EPILOGS as serve_epilogs
from .cli_serve import add_commands as add_serve_commands
from .cli_export import COMMANDS as export_commands
from .cli_export import EPILOGS as export_epilogs
from .cli_export import add_commands as add_export_commands
from .config import CONTRASTS
from .errors import VaelabError

EPILOGS = {
    "train": """examples:
  vaelab train --data mnist --model conv --latent-dim 16 --epochs 10 --out runs/mnist-conv
  vaelab train --data idx:~/fashion-mnist --likelihood cbernoulli --binarize none --out runs/fashion
  vaelab train --data folder:~/celeba --image-size 64 --likelihood cbernoulli --binarize none --out runs/celeba
  vaelab train --conditional --out runs/cvae             # conditional VAE: vaelab sample runs/cvae --label 7
  vaelab train --regularizer none --out runs/ae            # plain autoencoder, same networks
  vaelab train --resume --out runs/mnist-conv --epochs 20  # continue a run (or a killed one)
  vaelab train --nproc 2 --batch-size 256 --out runs/ddp   # 2 processes (DDP), 128 examples each per step
  torchrun --nproc-per-node 2 -m vaelab train --batch-size 256 --out runs/ddp   # the same, started by torchrun""",
    "evaluate": """examples:
  vaelab evaluate runs/mnist-conv                   # readable table, IWAE with K=1000
  vaelab evaluate runs/mnist-conv --iwae-k 5000 --json > eval.json
  vaelab evaluate runs/mnist-conv --iwae-k 5000 --start 5000 --limit 5000   # the second half (e.g. on another core)""",
    "sample": """example:
  vaelab sample runs/mnist-conv -n 64 --temperature 0.8 --seed 1 --out samples.png""",
    "reconstruct": """example:
  vaelab reconstruct runs/mnist-conv -n 16 --out recon.png   # originals above reconstructions""",
    **latent_epilogs,
    **app_epilogs,
    **factor_epilogs,
    **mol_epilogs,
    **serve_epilogs,
    **export_epilogs,
}


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip()) if text.strip() else ()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def add_training_options(t: argparse.ArgumentParser) -> None:
    """The data, model and optimisation options of `train` (also taken by `anomaly fit`).

    Defaults are None so that --resume can tell what the user actually said; the config
    dataclasses hold the real defaults, shown in the help text."""
    from .config import PRECISIONS
    from .objectives import TC_ESTIMATORS
    from .registry import REGULARIZERS, architectures, for_real_valued, likelihoods

    d = t.add_argument_group("data")
    d.add_argument("--data", help="mnist (default), idx:DIR (MNIST-format IDX files), folder:DIR "
                                  "(image files; one subfolder per class gives labels), csv:FILE (a table of numbers) or "
                                  "dsprites[:FILE.npz] (64x64 sprites with known factors; rendered, or the original file)")
    d.add_argument("--val-size", type=int, help="examples held out for validation (default 10000)")
    d.add_argument("--classes", type=_ints, help="keep only these labels, e.g. 1,8 (default: all)")
    d.add_argument("--label-column", help="csv:FILE only: the column holding labels (not a feature)")
    d.add_argument("--ignore", type=_names, help="csv:FILE only: columns to drop, e.g. id,name")
    d.add_argument("--limit", type=int, metavar="N",
                   help="dsprites only: images drawn (fixed seed) from the 737,280 combinations (default 100000)")
    d.add_argument("--image-size", type=int, metavar="N",
                   help="folder:DIR only: resize every image to NxN (default: keep; then all sizes must match)")
    d.add_argument("--binarize", choices=["dynamic", "none"],
                   help="dynamic: fresh Bernoulli draw of the grey levels each epoch (default); none: raw pixels")
    d.add_argument("--allow-grey-bernoulli", action="store_true", default=None,
                   help="allow a Bernoulli likelihood on grey pixels (then it is not a likelihood)")
    d.add_argument("--contrast", choices=CONTRASTS,
                   help="gcn: global contrast normalisation of each image (centred, divided by its mean absolute "
                        "deviation; implies --binarize none; needs a Gaussian likelihood); default none")
    m = t.add_argument_group("model")
    m.add_argument("--model", dest="arch", choices=for_real_valued(architectures),
                   help="encoder/decoder (default conv)")
    m.add_argument("--latent-dim", type=int, help="size of z (default 16)")
    m.add_argument("--hidden", type=_ints, help="MLP widths, e.g. 400 or 512,256; '' for linear (default 400)")
    m.add_argument("--channels", type=_ints, help="conv widths, one stride-2 stage each (default 32,64)")
    m.add_argument("--dense", type=_ints,
                   help="conv: fully connected widths between conv features and z, mirrored (default none)")
    m.add_argument("--res-blocks", type=int, help="conv: residual blocks at every stage (default 0)")
    m.add_argument("--likelihood", choices=for_real_valued(likelihoods), help="p(x|z) (default bernoulli)")
    m.add_argument("--sigma", type=float, help="sigma of the fixed Gaussian likelihood (default 0.1)")
    m.add_argument("--regularizer", choices=REGULARIZERS,
                   help="kl: VAE (default); tc: beta-TCVAE (beta weighs only the total correlation); "
                        "l2: lambda*|z|^2 regularised AE; none: plain AE")
    m.add_argument("--beta", type=float,
                   help="weight of the KL term (>1 gives a beta-VAE), or of the TC term with --regularizer tc (default 1)")
    m.add_argument("--lam", type=float, help="lambda of the l2 regulariser (default 0.001)")
    m.add_argument("--tc-estimator", choices=TC_ESTIMATORS,
                   help="with --regularizer tc: how a batch estimates q(z): mws (minibatch-weighted, default) "
                        "or mss (minibatch-stratified: a code's own posterior weighs 1/N, not 1/M)")
    m.add_argument("--conditional", action="store_true", default=None,
                   help="conditional VAE: the label goes into encoder and decoder (sample with --label)")
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, help="epochs to train (with --resume: the new total) (default 10)")
    o.add_argument("--batch-size", type=int, help="default 128")
    o.add_argument("--lr", type=float, help="Adam learning rate (default 0.001)")
    o.add_argument("--seed", type=int, help="seed for initialisation, order, binarization, noise (default 0)")
    o.add_argument("--kl-warmup", type=float, help="epochs over which beta rises from 0 (default 0)")
    o.add_argument("--grad-clip", type=float, help="max gradient norm; 0 = off (default 0)")
    o.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto: CUDA with bf16 if present (default)")
    o.add_argument("--precision", choices=PRECISIONS,
                   help="auto: bf16 autocast on CUDA, fp32 on CPU (default); fp32; bf16")
    o.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the model for training (slow first steps; pays off on long GPU runs)")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="vaelab", description="Train, evaluate and explore variational autoencoders.",
                                epilog="Run `vaelab COMMAND --help` for each command's options and an example.")
    p.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=EPILOGS[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    t = command("train", "Train a VAE (or autoencoder) and write a run folder.")
    t.add_argument("--out", required=True, help="run folder to create (or continue, with --resume)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--nproc", type=int, metavar="N",
                   help="train in N processes with DistributedDataParallel, as torchrun would start them "
                        "(--batch-size is the global batch, shared out)")
    add_training_options(t)
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = command("evaluate", "Evaluate a run: negative ELBO, its terms and the IWAE bound, in nats.")
    e.add_argument("run", help="run folder")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    e.add_argument("--iwae-k", type=int, default=1000, help="importance samples per example (default 1000)")
    e.add_argument("--batch-size", type=int, default=100)
    e.add_argument("--limit", type=int, help="evaluate only the first N examples (from --start)")
    e.add_argument("--start", type=int, default=0, metavar="I",
                   help="skip the first I examples: with --limit, one part of a long evaluation (e.g. one per core)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    e.add_argument("--out", help="also write the JSON to this file")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    e.add_argument("--quiet", action="store_true", help="no progress bar")

    s = command("sample", "Decode draws from the prior N(0, T^2 I) into a PNG grid.")
    s.add_argument("run", help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--temperature", type=float, default=1.0, help="scale of the prior draws (default 1)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, help="class to generate (conditional runs; default: one column per class)")
    s.add_argument("--out", help="PNG file (default RUN/samples.png)")

    r = command("reconstruct", "Draw test examples above their reconstructions (decoded posterior means).")
    r.add_argument("run", help="run folder")
    r.add_argument("-n", type=int, default=16, help="number of examples (default 16)")
    r.add_argument("--split", default="test", choices=["train", "val", "test"])
    r.add_argument("--start", type=int, default=0, help="index of the first example (default 0)")
    r.add_argument("--out", help="PNG file (default RUN/reconstructions.png)")

    add_latent_commands(command, _ints)
    add_app_commands(command, add_training_options, _ints)
    add_factor_commands(command)
    add_mol_commands(command)
    add_serve_commands(command)
    add_export_commands(command)
    return p


# --- train ----------------------------------------------------------------------------------------
_SECTIONS = {
    "data": ("val_size", "binarize", "allow_grey_bernoulli", "image_size", "classes", "label_column", "ignore",
             "limit", "contrast"),
    "model": ("arch", "latent_dim", "hidden", "channels", "dense", "res_blocks", "likelihood", "sigma", "regularizer", "beta", "lam", "tc_estimator"),
    "train": ("epochs", "batch_size", "lr", "seed", "kl_warmup", "grad_clip", "device", "precision", "compile"),
}


def given_options(args: argparse.Namespace) -> dict[str, dict]:
    given = {section: {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
             for section, keys in _SECTIONS.items()}
    if args.data is not None:
        name, path = data_spec(args.data)
        given["data"].update(name=name, path=path)
    return given


def new_run_config(args: argparse.Namespace, given: dict[str, dict]):
    """The RunConfig of a new run from the options given (and the data, loaded to learn its shape)."""
    from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from .data import load_splits

    regularizer = given["model"].get("regularizer", ModelConfig.regularizer)
    # Weights that another regulariser would silently ignore: a user who gives one means something by it.
    if "lam" in given["model"] and regularizer != "l2":
        raise VaelabError(f"--lam applies to --regularizer l2 only, not {regularizer}")
    if "beta" in given["model"] and regularizer not in ("kl", "tc"):
        raise VaelabError(f"--beta applies to --regularizer kl or tc only, not {regularizer}")
    if given["data"].get("name") == "csv" or given["data"].get("contrast", "none") != "none":
        given["data"].setdefault("binarize", "none")  # numbers, not probabilities of ink: nothing to binarize
    data_config = DataConfig(**given["data"])
    data = load_splits(data_config)
    if args.conditional:
        if data.train_labels is None:
            raise VaelabError(f"--conditional needs labelled data; {args.data or 'mnist'} has no labels")
        given["model"]["classes"] = int(data.train_labels.max()) + 1
    config = RunConfig(data=data_config, model=ModelConfig(shape=data.shape, **given["model"]),
                       train=TrainConfig(**given["train"]))
    return config, data


RESUMABLE_CHANGES = ("epochs", "device", "precision", "compile")  # how to go on, not what is computed


def cmd_train(args: argparse.Namespace) -> int:
    from .data import load_splits
    from .train import distributed
    from .train.run import read_config
    from .train.trainer import fit

    if args.nproc is not None and not distributed.requested():
        if args.nproc < 1:
            raise VaelabError(f"--nproc must be at least 1, got {args.nproc}")
        if args.nproc > 1:
            from .train.launch import launch

            return launch(_without_nproc(args.argv), args.nproc)
    given = given_options(args)
    if args.resume:
        config = read_config(args.out)
        changed = ["data" if k in ("name", "path") else k.replace("_", "-")
                   for section, values in given.items() for k in values
                   if not (section == "train" and k in RESUMABLE_CHANGES)]
        if args.conditional:
            changed.append("conditional")
        if changed:
            raise VaelabError(f"--resume continues {args.out} as its config.json says; only "
                              f"{', '.join('--' + k for k in RESUMABLE_CHANGES)} may change (got --{changed[0]})")
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **given["train"]))
        data = load_splits(config.data)
    else:
        config, data = new_run_config(args, given)
    try:
        fit(config, data, args.out, resume=args.resume, progress=not args.quiet)
    finally:
        distributed.leave()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run folder: {args.out}  (config.json, model.safetensors, metrics.jsonl, checkpoint.safetensors)")
    return 0


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line as each process of `--nproc N` runs it: the same, less --nproc."""
    out, skip = [], False
    for token in argv:
        option, has_value, _ = token.partition("=")
        named = len(option) > 3 and "--nproc".startswith(option)  # argparse takes abbreviations too
        if skip:
            skip = False
        elif named and not has_value:
            skip = True
        elif not named:
            out.append(token)
    return out


# --- evaluate ----------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import load_splits
    from .metrics.likelihood import evaluate
    from .train.checkpoint import atomic_write_text
    from .train.trainer import pick_device

    if args.iwae_k < 1:
        raise VaelabError(f"--iwae-k must be at least 1, got {args.iwae_k}")
    if args.batch_size < 1:
        raise VaelabError(f"--batch-size must be at least 1, got {args.batch_size}")
    model = load_run(args.run, pick_device(args.device))
    data = load_splits(model.run_config.data)
    result = evaluate(model, model.run_config, data, split=args.split, iwae_k=args.iwae_k,
                      batch_size=args.batch_size, seed=args.seed, limit=args.limit, start=args.start,
                      progress=not args.quiet)
    result["run"] = str(args.run)
    text = json.dumps(result, indent=2)
    if args.out:
        atomic_write_text(writable_path(args.out), text + "\n")
    print(text if args.json else _table(result))
    return 0


def _table(r: dict) -> str:
    where = f"{r['split']} split" + (f", from example {r['start']}" if r.get("start") else "")
    rows = [("examples", f"{r['n']} ({where})"), ("binarization", r["binarization"])]
    if r["elbo"] is not None:
        rows += [("negative ELBO", f"{r['elbo']:.2f} nats"), ("  reconstruction", f"{r['recon']:.2f} nats"),
                 ("  KL(q(z|x) || p(z))", f"{r['kl']:.2f} nats"),
                 (f"-log p(x), IWAE K={r['iwae_k']}", f"{r['nll_iwae']:.2f} nats (+/- {r['nll_iwae_sem'] or 0:.2f} s.e.m.)")]
        if r.get("bits_per_dim") is not None:
            rows.append(("bits per dim", f"{r['bits_per_dim']:.4f}"))
    else:
        rows += [("reconstruction", f"{r['recon']:.2f} nats"),
                 ("note", "an autoencoder has no posterior: no ELBO or likelihood")]
    rows.append(("active units", f"{r['active_units']} of {r['latent_dim']}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


# --- pictures ----------------------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from .viz.grid import save_grid

    if args.n < 1:
        raise VaelabError(f"-n must be at least 1, got {args.n}")
    if not args.temperature > 0:
        raise VaelabError(f"--temperature must be > 0, got {args.temperature}")
    model = load_run(args.run)
    nrow, labels = None, None
    if args.label is not None:
        if not model.conditional:
            raise VaelabError("--label is for conditional runs (vaelab train --conditional); this run is not")
        labels = torch.full((args.n,), args.label)
    elif model.conditional:  # one column per class
        nrow, labels = model.config.classes, torch.arange(args.n) % model.config.classes
    images = model.sample(args.n, args.temperature, torch.Generator().manual_seed(args.seed), y=labels)
    out = save_grid(as_images(images), writable_path(args.out or Path(args.run) / "samples.png"), nrow=nrow)
    print(f"wrote {out}" + (" (one column per class)" if nrow else ""))
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch

    from .data import load_splits
    from .viz.grid import save_grid

    model = load_run(args.run)
    x, y = load_splits(model.run_config.data).split(args.split)
    if args.n < 1 or args.start < 0 or args.start + args.n > len(x):
        raise VaelabError(f"examples {args.start}..{args.start + args.n - 1} are outside the {args.split} split "
                          f"({len(x)} examples)")
    x = x[args.start:args.start + args.n]
    recon = model.reconstruct(x, y[args.start:args.start + args.n] if model.conditional else None)
    per_row = min(16, args.n)
    rows = []
    for i in range(0, args.n, per_row):  # each row of originals directly above its reconstructions
        originals, decoded = x[i:i + per_row], recon[i:i + per_row]
        if len(originals) < per_row:  # a short last pair of rows: fill with background, or the grid wraps them
            blank = (per_row - len(originals), *originals.shape[1:])
            originals, decoded = torch.cat([originals, originals.new_full(blank, 0.5)]), \
                torch.cat([decoded, decoded.new_full(blank, 0.5)])
        rows += [originals, decoded]
    out = save_grid(as_images(torch.cat(rows)), writable_path(args.out or Path(args.run) / "reconstructions.png"),
                    nrow=per_row)
    print(f"wrote {out}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample, "reconstruct": cmd_reconstruct,
            **latent_commands, **app_commands, **factor_commands, **mol_commands,
            **serve_commands, **export_commands}


NUMBER_LIST_OPTIONS = ("--alpha",)  # they take lists such as -2,-1,0,1,2


def _join_negative_lists(argv: list[str]) -> list[str]:
    """`--alpha -2,-1,0` -> `--alpha=-2,-1,0`: argparse would read "-2,-1,0" as an unknown option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in NUMBER_LIST_OPTIONS and token[:1] == "-" and token[1:2].isdigit():
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = _join_negative_lists(sys.argv[1:] if argv is None else list(argv))
    args = _parser().parse_args(argv)
    args.argv = argv  # the command line as given, for `train --nproc` to pass on to its processes
    try:
        return COMMANDS[args.command](args)
    except VaelabError as e:
        message = " ".join(str(e).split())  # always one line
        print(f"vaelab {args.command}: error: {message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"vaelab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
