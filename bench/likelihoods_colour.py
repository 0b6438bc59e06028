"""Which likelihood for colour images? Four choices of p(x|z), trained alike on coloured digits.

    python -m bench.likelihoods_colour [--epochs 5] [--train 10000] [--test 1000] [--out runs/likelihoods-colour]

The data: MNIST digits painted in colour, made here so that nothing is downloaded. Each image gets a
random background colour and a random ink colour (uniform RGB, a fixed seed), mixed by the digit's
grey level and stored as 8-bit values: 3x28x28 images whose values are k/255, as a folder of PNG
photos would give. The first --train MNIST training digits train, the first --test test digits test.

The four models share everything (conv VAE, channels 32,64, latent 16, Adam 1e-3, batch 128,
--epochs, seed 0) but p(x|z):

* bernoulli + dynamic binarization: vaelab's default before it chose from the data. Each channel
  value is read as the probability of a binary pixel and binarized afresh each epoch;
* cbernoulli: the continuous Bernoulli, a density on [0, 1];
* gaussian-learned-pixel: a Gaussian with one learned variance per pixel, a density on the reals;
* discretized-logistic: a logistic per pixel summed over each 8-bit value's bin, a probability over
  the 256 values (what vaelab now picks for 8-bit grey-level or colour images).

What it prints, on the test images: the code length in bits per dimension of the 8-bit values
(IWAE bound, K = --iwae-k). The discretized logistic gives it exactly. A density p over [0, 1] gives
it approximately, as -log2 p(x) + log2(255) per dimension (the density times the bin width); the
Bernoulli model's likelihood is of binarized pixels, not of the values, so it has none. Then the
mean absolute error of the reconstruction (the mean of p(x|z = mu)) in 8-bit levels, and the active
units. It writes a picture (--figure): test images, then each model's reconstructions and prior samples.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

CHOICES = {  # name -> the options that differ
    "bernoulli + dynamic binarization": {"likelihood": "bernoulli", "binarize": "dynamic"},
    "cbernoulli": {"likelihood": "cbernoulli", "binarize": "none"},
    "gaussian-learned-pixel": {"likelihood": "gaussian-learned-pixel", "binarize": "none"},
    "discretized-logistic": {"likelihood": "discretized-logistic", "binarize": "none"},
}
SHARED = {"model": "conv", "channels": (32, 64), "latent_dim": 16, "batch_size": 128, "lr": 1e-3, "seed": 0,
          "device": "cpu"}
DATA_SEED = 0


def coloured(grey: torch.Tensor, seed: int) -> torch.Tensor:
    """(N, 1, H, W) grey levels in [0, 1] -> (N, 3, H, W) 8-bit colour images k/255: a random background
    colour and ink colour per image, mixed by the grey level."""
    g = torch.Generator().manual_seed(seed)
    background = torch.rand(len(grey), 3, 1, 1, generator=g)
    ink = torch.rand(len(grey), 3, 1, 1, generator=g)
    mixed = background * (1 - grey) + ink * grey
    return torch.round(mixed * 255) / 255


def coloured_digits(n_train: int, n_test: int):
    from vaelab.config import DataConfig
    from vaelab.data import Splits, load_splits

    mnist = load_splits(DataConfig(name="mnist"))
    n_val = max(1, n_train // 10)
    return Splits(coloured(mnist.train[:n_train], DATA_SEED), coloured(mnist.val[:n_val], DATA_SEED + 1),
                  coloured(mnist.test[:n_test], DATA_SEED + 2), name="coloured-mnist")


def measure(name: str, model, splits, iwae_k: int) -> dict:
    from vaelab.metrics.likelihood import evaluate

    r = evaluate(model, splits, "test", iwae_k=iwae_k, progress=False)
    dims = math.prod(splits.shape)
    options = CHOICES[name]
    if options["likelihood"] == "discretized-logistic":
        bits = r["nll_iwae"] / (dims * math.log(2))
    elif options["binarize"] == "dynamic":
        bits = None  # a likelihood of binarized pixels, not of the 8-bit values
    else:  # a density on [0, 1]: times the bin width 1/255
        bits = r["nll_iwae"] / (dims * math.log(2)) + math.log2(255)
    with torch.no_grad():
        recon = model.reconstruct(splits.test[:500])
    mae = float((recon - splits.test[:500]).abs().mean() * 255)
    return {"likelihood": name, "bits_per_dim": bits, "exact": options["likelihood"] == "discretized-logistic",
            "recon_mae_levels": mae, "active_units": r["active_units"], "nll_iwae_nats": r["nll_iwae"]}


def figure(models: dict, splits, path: Path) -> None:
    from vaelab.viz.grid import save_labelled_rows

    originals = splits.test[:10]
    rows, labels = [originals], ["test images"]
    for name, model in models.items():
        with torch.no_grad():
            rows += [model.reconstruct(originals), model.sample(10, generator=0)]
        labels += [f"{name}: reconstructions", f"{name}: prior samples"]
    save_labelled_rows(torch.stack(rows), labels, path, header="coloured digits: four choices of p(x|z)")


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m bench.likelihoods_colour", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train", type=int, default=10_000, help="training digits")
    p.add_argument("--test", type=int, default=1_000, help="test digits")
    p.add_argument("--iwae-k", type=int, default=100)
    p.add_argument("--out", default="runs/likelihoods-colour", help="a folder for the four run folders")
    p.add_argument("--figure", default="docs/images/likelihoods_colour.png")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    from vaelab.train.options import build
    from vaelab.train.trainer import train

    splits = coloured_digits(args.train, args.test)
    results, models = [], {}
    for name, options in CHOICES.items():
        config, data = build({**SHARED, **options, "epochs": args.epochs}, splits)
        out = Path(args.out) / options["likelihood"]
        models[name] = train(config, data, out, progress=False)
        results.append(measure(name, models[name], data, args.iwae_k))
    figure(models, splits, Path(args.figure))
    print(f"\ncoloured MNIST, {len(splits.train)} training / {len(splits.test)} test images, {args.epochs} epochs; "
          f"IWAE K={args.iwae_k}")
    print(f"{'p(x|z)':<34} {'bits/dim':>9} {'recon MAE (levels)':>19} {'active':>7}")
    for r in results:
        bits = "-" if r["bits_per_dim"] is None else f"{r['bits_per_dim']:.3f}" + ("" if r["exact"] else "*")
        print(f"{r['likelihood']:<34} {bits:>9} {r['recon_mae_levels']:>19.1f} {r['active_units']:>4}/16")
    print("* a density's code length, approximated as -log2 p(x) + log2(255) per dimension")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
