"""Lossless compression of the binarized MNIST test set: bits-back coding with a trained VAE against
general-purpose and image coders, on the same images.

    python -m bench.compression --run runs/conv-res [-n 10000] [--iwae-k 1000] [--samples K] [--json]

The images: the run's test split binarized once with the fixed seed every reported likelihood
uses (what `vaelab evaluate` scores). What it prints, in bits per dimension (pixel):

* vaelab bits-back: the size of the file `vaelab compress` writes (header and seed words
  included), checked to decompress bit for bit; beside it, the rate the code should approach:
  the run's -ELBO on the same images (one posterior draw per image) and its IWAE bound (K =
  --iwae-k), converted to bits per dimension, and what the latent grid costs (the code's bits
  beyond the -ELBO);
* with --samples K, also Monte Carlo bits-back with K importance samples per image (Ruan et al.
  2021; `vaelab compress --samples K`), beside the IWAE bound with K samples that it approaches;
* gzip, bz2 and xz (level 9) on the images' pixels packed 8 to a byte, image after image;
* PNG (1-bit, zlib level 9), WebP lossless (method 6, quality 100) and JBIG (Debian's `pbmtojbg`,
  `apt-get install jbigkit-bin`; skipped where it is missing) on one bi-level mosaic of all the
  images, 100 to a row, so that no per-file header is counted against them.

And compress and decompress speed in images per second, on the threads torch uses here (the
file records them; decompressing uses the same).
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PER_ROW = 100


def test_images(run, n: int | None) -> np.ndarray:
    from vaelab.bitsback.inputs import split_images

    images = split_images(run, "test", levels=2).astype(np.uint8)
    return images[:n] if n else images


def mosaic(images: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) 0/1 -> one (rows * H, PER_ROW * W) 0/1 picture, blank cells after the last image."""
    n, _, h, w = images.shape
    rows = math.ceil(n / PER_ROW)
    canvas = np.zeros((rows * PER_ROW, h, w), dtype=np.uint8)
    canvas[:n] = images[:, 0]
    return canvas.reshape(rows, PER_ROW, h, w).transpose(0, 2, 1, 3).reshape(rows * h, PER_ROW * w)


def general_purpose(images: np.ndarray) -> dict[str, int]:
    packed = np.packbits(images.reshape(len(images), -1), axis=1).tobytes()
    return {"gzip -9": len(gzip.compress(packed, 9)), "bz2 -9": len(bz2.compress(packed, 9)),
            "xz -9": len(lzma.compress(packed, preset=9))}


def image_coders(images: np.ndarray) -> dict[str, int | None]:
    picture = mosaic(images)
    png, webp = io.BytesIO(), io.BytesIO()
    Image.fromarray(picture * 255).convert("1").save(png, "PNG", optimize=True, compress_level=9)
    Image.fromarray(picture * 255).save(webp, "WEBP", lossless=True, quality=100, method=6)
    return {"PNG (1-bit)": png.tell(), "WebP lossless": webp.tell(), "JBIG (pbmtojbg)": jbig(picture)}


def jbig(picture: np.ndarray) -> int | None:
    if shutil.which("pbmtojbg") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        pbm, jbg = Path(tmp) / "all.pbm", Path(tmp) / "all.jbg"
        Image.fromarray((1 - picture) * 255).convert("1").save(pbm)  # PBM: 1 is black, so ink is 1
        subprocess.run(["pbmtojbg", "-q", str(pbm), str(jbg)], check=True)
        return jbg.stat().st_size


def bits_back(run, images: np.ndarray, samples: int = 1) -> dict:
    import vaelab

    vaelab.decompress(run, vaelab.compress(run, images[:1]))  # warm up (imports, thread pool) before timing
    start = time.perf_counter()
    data = vaelab.compress(run, images, samples=samples)
    packed = time.perf_counter() - start
    start = time.perf_counter()
    back = vaelab.decompress(run, data)
    unpacked = time.perf_counter() - start
    if not np.array_equal(back, images):
        raise SystemExit("bits-back decoding did not give the images back: a bug")
    return {"bytes": len(data), "compress_images_per_s": len(images) / packed,
            "decompress_images_per_s": len(images) / unpacked, "threads": torch.get_num_threads()}


def model_rates(run, images: np.ndarray, iwae_k: int) -> dict[str, float]:
    """The run's -ELBO and IWAE bound (K = iwae_k) on exactly these images, in bits per dimension."""
    from vaelab.data.splits import Splits
    from vaelab.metrics.likelihood import evaluate

    x = torch.from_numpy(images).float()
    splits = Splits(train=x[:1], val=x[:0], test=x)
    result = evaluate(run.model(), splits, "test", iwae_k=iwae_k, n=len(x), seed=0)
    dims = images[0].size * math.log(2)
    return {"elbo_bpd": result["elbo"] / dims, "iwae_bpd": result["nll_iwae"] / dims}


def importance(run, images: np.ndarray, samples: int) -> dict[str, float]:
    """Monte Carlo bits-back with `samples` draws per image, and the IWAE bound it approaches."""
    coded = bits_back(run, images, samples)
    bound = model_rates(run, images, samples)["iwae_bpd"]
    return {"samples": samples, "bits_back_bpd": 8 * coded["bytes"] / images.size, "iwae_bpd": bound,
            "compress_images_per_s": coded["compress_images_per_s"],
            "decompress_images_per_s": coded["decompress_images_per_s"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run folder with a Bernoulli likelihood (binary images)")
    parser.add_argument("-n", type=int, help="the first N test images (default: all)")
    parser.add_argument("--iwae-k", type=int, default=1000)
    parser.add_argument("--samples", type=int, help="also code with K importance samples per image")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import vaelab

    run = vaelab.Run.open(args.run)
    images = test_images(run, args.n)
    dims = images.size
    result = {"images": len(images), **bits_back(run, images), **model_rates(run, images, args.iwae_k)}
    result["bits_back_bpd"] = 8 * result["bytes"] / dims
    if args.samples:
        result["importance"] = importance(run, images, args.samples)
    sizes = {**general_purpose(images), **image_coders(images)}
    result["others_bpd"] = {name: (8 * size / dims if size is not None else None) for name, size in sizes.items()}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{len(images)} binarized test images of {args.run}, bits per dimension:")
    print(f"  vaelab bits-back        {result['bits_back_bpd']:.4f}   (-ELBO {result['elbo_bpd']:.4f}, "
          f"IWAE K={args.iwae_k} {result['iwae_bpd']:.4f}; the code is "
          f"{result['bits_back_bpd'] / result['elbo_bpd'] - 1:+.2%} of the -ELBO)")
    if args.samples:
        mc = result["importance"]
        print(f"  ... importance, K={mc['samples']:<3}  {mc['bits_back_bpd']:.4f}   (IWAE K={mc['samples']} "
              f"{mc['iwae_bpd']:.4f}; the code is {mc['bits_back_bpd'] / mc['iwae_bpd'] - 1:+.2%} of it; compress "
              f"{mc['compress_images_per_s']:.0f} images/s, decompress {mc['decompress_images_per_s']:.0f} images/s)")
    for name, bpd in result["others_bpd"].items():
        print(f"  {name:<22}  " + (f"{bpd:.4f}" if bpd is not None else "not installed (apt-get install jbigkit-bin)"))
    print(f"speed on {result['threads']} threads: compress {result['compress_images_per_s']:.0f} images/s, "
          f"decompress {result['decompress_images_per_s']:.0f} images/s")


if __name__ == "__main__":
    main()
