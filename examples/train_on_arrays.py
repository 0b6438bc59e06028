"""Train a VAE on your own arrays, reload it from its run folder, and use it.

The data: scikit-learn's 1,797 handwritten digits (8x8 grey images, shipped with scikit-learn).
Any (N, C, H, W) array of images in [0, 1], or (N, D) table of numbers, trains the same way.

    python examples/train_on_arrays.py [--epochs 40] [--out runs/example-digits]
"""
import argparse

import numpy as np
from sklearn.datasets import load_digits

import vaelab
from vaelab.viz.grid import save_grid


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--out", default="runs/example-digits")
    args = p.parse_args()

    digits = load_digits()
    images = (digits.images / 16.0)[:, None].astype(np.float32)  # (1797, 1, 8, 8), grey levels in [0, 1]

    # Options are those of `vaelab train`, by their flag names. Grey levels: a continuous Bernoulli
    # likelihood, no binarization. The last tenth of the arrays is held out for validation.
    model = vaelab.fit(images, args.out, labels=digits.target, model="mlp", hidden=(128,), latent_dim=4,
                       likelihood="cbernoulli", binarize="none", epochs=args.epochs, batch_size=64)
    print(model)

    model = vaelab.load(args.out)  # the weights with the best validation loss, from the run folder
    mu, logvar = model.encode(images[:5])  # numpy in, numpy out
    print("posterior means of the first five digits:\n", np.round(mu, 2))
    recon = model.reconstruct(images[:16])
    samples = model.sample(16, temperature=1.0, generator=0)
    grid = np.concatenate([images[:16], recon, samples.numpy()])
    print("wrote", save_grid(grid, f"{args.out}/originals-reconstructions-samples.png", nrow=16))


if __name__ == "__main__":
    main()
