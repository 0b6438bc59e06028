"""`vaelab sample` and `vaelab reconstruct`: a run's prior samples and reconstructions as PNG grids."""
from __future__ import annotations

import argparse
import math

import torch

from ..data import SPLITS
from ..errors import InputError
from ..model import Model
from ..run import OUTPUTS, Run
from ..viz.grid import as_images, save_grid, save_pairs
from .options import add_run_argument
from .output import add_out, out_path

SAMPLE_EXAMPLES = """example:
  vaelab sample runs/mnist-conv -n 64 --temperature 0.8 --seed 1 --out grid.png
  vaelab sample runs/cvae --label 7 --out sevens.png      # a conditional run: one class"""
RECONSTRUCT_EXAMPLES = """example:
  vaelab reconstruct runs/mnist-conv -n 16 --out recon.png   # originals above reconstructions"""


def register(commands) -> None:
    s = commands.add("sample", "Decode draws from the prior N(0, T^2 I) into a PNG grid.", SAMPLE_EXAMPLES, sample)
    add_run_argument(s, data=False)
    s.add_argument("-n", type=int, default=64, help="number of samples")
    s.add_argument("--temperature", type=float, default=1.0, help="scale of the prior draws")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, help="class to generate (conditional runs; default: one column per class)")
    add_out(s, f"PNG file (default RUN/{OUTPUTS['samples']})")

    r = commands.add("reconstruct", "Draw examples above their reconstructions (decoded posterior means).",
                     RECONSTRUCT_EXAMPLES, reconstruct)
    add_run_argument(r)
    r.add_argument("-n", type=int, default=16, help="number of examples")
    r.add_argument("--split", default="test", choices=SPLITS)
    r.add_argument("--start", type=int, default=0, help="index of the first example")
    add_out(r, f"PNG file (default RUN/{OUTPUTS['reconstructions']})")


def sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    if not (args.temperature > 0 and math.isfinite(args.temperature)):
        raise InputError(f"--temperature must be finite and > 0, got {args.temperature}")
    run = Run.open(args.run)
    out = out_path(args, run.output("samples"))
    model = run.model()
    nrow, labels = None, None
    if args.label is not None:
        if not model.conditional:
            raise InputError("--label is for conditional runs (vaelab train --conditional); this run is not")
        labels = torch.full((args.n,), args.label)
    elif model.conditional:  # one column per class
        nrow, labels = model.num_classes, torch.arange(args.n) % model.num_classes
    images = model.sample(args.n, args.temperature, args.seed, y=labels)
    print(f"wrote {save_grid(as_images(images), out, nrow=nrow)}" + (" (one column per class)" if nrow else ""))
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    run = Run.open(args.run)
    out = out_path(args, run.output("reconstructions"))
    model: Model = run.model()
    x, y = run.data(args.data).split(args.split)
    if args.n < 1 or args.start < 0 or args.start + args.n > len(x):
        raise InputError(f"examples {args.start}..{args.start + args.n - 1} are outside the {args.split} split "
                         f"({len(x)} examples)")
    x = x[args.start:args.start + args.n]
    recon = model.reconstruct(x, y[args.start:args.start + args.n] if model.conditional else None)
    print(f"wrote {save_pairs(as_images(x), as_images(recon), out)}")
    return 0
