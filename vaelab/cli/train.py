"""`vaelab train`: train a VAE (or autoencoder) on any data, images, tables or molecules, into a run folder."""
from __future__ import annotations

import argparse
import os

from .. import presets
from ..api import fit
from ..run import CONFIG, METRICS, Run
from ..train import distributed
from ..track import IMAGES_EVERY, logger
from ..train.launch import launch
from .options import add_training_options, given_options

EXAMPLES = f"""examples:
  vaelab train --data mnist --model conv --latent-dim 16 --epochs 10 --out runs/mnist-conv
  vaelab train --preset demo --out runs/demo                     # the settings of `make demo`
  vaelab train --preset dsprites-tcvae --beta 8 --seed 1 --out runs/tcvae-8   # a preset, flags on top
  vaelab train --config runs/demo/{CONFIG} --seed 1 --out runs/demo-seed-1  # another run's settings
  vaelab train --data idx:~/fashion-mnist --likelihood cbernoulli --binarize none --out runs/fashion
  vaelab train --data folder:~/celeba --image-size 64 --likelihood cbernoulli --binarize none --out runs/celeba
  vaelab train --data moses --limit 50000 --repr selfies --out runs/mol       # molecules: a GRU VAE
  vaelab train --data my_molecules.smi --skip-invalid --out runs/mine
  vaelab train --conditional --out runs/cvae             # conditional VAE: vaelab sample runs/cvae --label 7
  vaelab train --regularizer none --out runs/ae            # plain autoencoder, same networks
  vaelab train --out runs/mnist-conv --epochs 20 --resume  # continue a run (or a killed one): the same
                                                           # command with --resume; only --epochs, --device,
                                                           # --precision, --compile and the course may change:
  vaelab train --out runs/mnist-conv --resume --lr 3e-4 --grad-clip 10  # after a divergence, noted in
                                                                        # {METRICS} ("course_change")
  vaelab train --nproc 2 --batch-size 256 --out runs/ddp   # 2 processes (DDP), 128 examples each per step
  torchrun --nproc-per-node 2 -m vaelab train --batch-size 256 --out runs/ddp   # the same, started by torchrun
  vaelab train --preset demo --out runs/demo --log tensorboard:tb --log mlflow:mlruns
                   # watch it: tensorboard --logdir tb; mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"""


def register(commands) -> None:
    t = commands.add("train", "Train a VAE (or autoencoder) on images, a table or molecules and write a run folder.",
                     EXAMPLES + "\n\n" + presets_text(), run)
    add_train_arguments(t)


def add_train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--out", required=True, help="run folder to create (or continue, with --resume)")
    t.add_argument("--preset", choices=presets.names(), help="start from named settings (listed below the options)")
    t.add_argument("--config", metavar="FILE", help=f"start from a saved {CONFIG} (flags given win)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--nproc", type=int, metavar="N",
                   help="train in N processes with DistributedDataParallel, as torchrun would start them "
                        "(--batch-size is the global batch, shared out)")
    add_training_options(t)
    t.add_argument("--log", action="append", metavar="KIND:WHERE",
                   help="also log to tensorboard:DIR or mlflow:DIR|URI (repeatable; the 'track' extra): scalars "
                        "per epoch, picture grids, the config")
    t.add_argument("--log-images-every", type=int, default=IMAGES_EVERY, metavar="N",
                   help="epochs between the picture grids a --log gets (and the last epoch)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")


def presets_text() -> str:
    import textwrap

    lines = ["presets (options on top of a preset win):"]
    for name in presets.names():
        lines += textwrap.wrap(presets.preset(name)["description"], 100, initial_indent=f"  {name:<20}",
                               subsequent_indent=" " * 22)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    code = launched(args)
    if code is not None:
        return code
    with distributed.leave_when_done():
        train_here(args)
    if first_process():
        print(f"run folder: {args.out}  ({', '.join(Run.open(args.out).files())})")
    return 0


def launched(args: argparse.Namespace) -> int | None:
    """With --nproc N > 1, in the command the user typed: the same command in N processes (as torchrun
    would start them), and their exit code. None when this process is to train."""
    if args.nproc is None or distributed.requested():
        return None
    if args.nproc == 1:
        return None
    return launch(without_nproc(args.argv), args.nproc)


def train_here(args: argparse.Namespace, **options):
    """The training the arguments ask for, in this process (one of several under --nproc or torchrun,
    which stays in their group until the caller leaves it)."""
    given = {**given_options(args), **options}
    data = given.pop("data", None)
    # made before training starts, so a missing package or an unreachable store stops it in one line
    loggers = [logger(spec, args.log_images_every) for spec in args.log or ()] if first_process() else []
    return fit(data, args.out, preset=args.preset, config=args.config, resume=args.resume, progress=not args.quiet,
               callbacks=loggers, **given)


def first_process() -> bool:
    """Rank 0 of a run in several processes (or the only process): the one that reports and writes."""
    return int(os.environ.get("RANK", "0")) == 0


def without_nproc(argv: list[str]) -> list[str]:
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
