"""`vaelab compress` and `vaelab decompress`: lossless compression of images with a run's VAE by
bits-back coding (vaelab.bitsback)."""
from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..bitsback import MAX_SAMPLES, compress, decompress
from ..bitsback.inputs import load_images, split_images
from ..data import SPLITS
from ..errors import InputError, ResourceError
from ..extras import require
from ..io import atomic_path
from ..run import Run
from .options import add_run_argument
from .output import add_out, out_path

COMPRESS_EXAMPLES = """examples:
  vaelab compress runs/demo --split test --out mnist-test.vbb     # the binarized test set, as evaluate sees it
  vaelab compress runs/demo digits/ --out digits.vbb              # a folder of binary (0/255) image files
  vaelab compress runs/photos images.npy --out images.vbb         # an .npy array of 0..255 values (8-bit run)
  vaelab compress runs/demo --split test --samples 10 --out t.vbb # toward the IWAE bound, 10x the work

Needs a run whose likelihood is a distribution over the stored values: bernoulli (binary images) or
discretized-logistic (8-bit images). Each image costs about the run's -ELBO in bits; with
--samples K (Monte Carlo bits-back, Ruan et al. 2021) about its IWAE bound with K samples."""
DECOMPRESS_EXAMPLES = """examples:
  vaelab decompress runs/demo mnist-test.vbb --out mnist-test/          # writes mnist-test/images.npy
  vaelab decompress runs/demo digits.vbb --out digits-back/ --png       # and one PNG per image

Only the run that compressed a file decompresses it (the file names the run's fingerprint)."""
IMAGES = "images.npy"


def register(commands) -> None:
    c = commands.add("compress", "Compress images losslessly with a run's VAE (bits-back coding).",
                     COMPRESS_EXAMPLES, run_compress)
    add_run_argument(c, data=False)
    c.add_argument("input", nargs="?", help="a folder of image files or an .npy array (or give --split)")
    c.add_argument("--split", choices=SPLITS, help="a split of the run's own data instead of INPUT")
    c.add_argument("-n", type=int, help="only the first N images")
    c.add_argument("--samples", type=int, default=1, metavar="K",
                   help="latents drawn per image: 1 is plain bits-back (about the -ELBO), K > 1 importance "
                        "sampling (about the IWAE bound with K; K + 1 decoder passes per image both ways; default 1)")
    add_out(c, "compressed file to write", required=True)
    d = commands.add("decompress", "Restore the images of a file `vaelab compress` wrote, bit for bit.",
                     DECOMPRESS_EXAMPLES, run_decompress)
    add_run_argument(d, data=False)
    d.add_argument("file", help="the compressed file")
    d.add_argument("--png", action="store_true", help="also write one PNG file per image")
    add_out(d, f"folder to create, holding {IMAGES} (uint8: 0/1 or 0..255, as compressed)", required=True)


def run_compress(args: argparse.Namespace) -> int:
    require("compress")
    if (args.input is None) == (args.split is None):
        raise InputError("give the images to compress: INPUT (a folder or an .npy file) or --split, not both")
    if args.n is not None and args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise InputError(f"--samples must lie in 1..{MAX_SAMPLES}, got {args.samples}")
    run = Run.open(args.run)
    out = out_path(args)
    shape = tuple(run.config.model.shape)
    levels = 2 if run.config.model.likelihood == "bernoulli" else 256
    images = split_images(run, args.split, levels) if args.split else load_images(args.input, shape)
    images = images[:args.n] if args.n else images
    data = compress(run, images, samples=args.samples, progress=True)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    dims = len(images) * math.prod(shape)
    print(f"wrote {out}: {len(images)} images in {len(data):,} bytes, {8 * len(data) / dims:.4f} bits per dimension "
          f"({8 * len(data) / len(images):.1f} bits per image)")
    return 0


def run_decompress(args: argparse.Namespace) -> int:
    require("compress")
    run = Run.open(args.run)
    out = Path(args.out).expanduser()
    if out.exists() and not (args.force and out.is_dir()):
        raise InputError(f"{out} already exists; add {{force}} to replace it" if out.is_dir() or not args.force
                         else f"{out} is a file; give a folder", "out")
    if out.exists() and any(not (p.name == IMAGES or (p.suffix == ".png" and p.stem.isdigit())) for p in out.iterdir()):
        raise InputError(f"{out} holds files decompress did not write; --force replaces only a folder it wrote",
                         "out")
    if not out.parent.is_dir():
        raise ResourceError(f"output folder does not exist: {out.parent}")
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise ResourceError(f"cannot read {args.file}: {e.strerror or e}") from None
    images = decompress(run, data, progress=True, where=args.file)  # refused before anything is written
    _write_folder(out, images, args.png, binary=run.config.model.likelihood == "bernoulli")
    print(f"wrote {out / IMAGES}: {len(images)} images of shape {images.shape[1:]}" + (" and PNGs" if args.png else ""))
    return 0


def _write_folder(out: Path, images: np.ndarray, png: bool, binary: bool) -> None:
    """Write the folder beside its place and rename it there when complete: never half a folder."""
    from PIL import Image

    try:
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result is as readable as any folder
    except OSError as e:
        raise ResourceError(f"cannot write into {out.parent}: {e.strerror or e}") from None
    try:
        np.save(tmp / IMAGES, images, allow_pickle=False)
        if png:  # (C, H, W) -> a grey or RGB file; binary pixels as 0 and 255
            for i, image in enumerate(images * 255 if binary else images):
                pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
                Image.fromarray(pixels.astype(np.uint8)).save(tmp / f"{i:06d}.png")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as e:
        raise ResourceError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
