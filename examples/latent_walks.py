"""Walk through a VAE's latent space: interpolate between two digits and sweep each dimension in turn.

Trains a small VAE on scikit-learn's 8x8 digits first (or opens a run folder you give), then:
  * decodes the straight and the spherical path between the codes of two digits;
  * ranks the latent dimensions by how much they carry (mean KL over the data) and traverses the top ones.

    python examples/latent_walks.py [--run RUN] [--epochs 40] [--out runs/example-walks]
"""
import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits

import vaelab
from vaelab.latent.paths import interpolate, step_distances
from vaelab.latent.traverse import dimension_order, latent_statistics, traverse
from vaelab.viz.grid import save_grid


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="a run folder of 8x8 grey images (default: train one)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--out", default="runs/example-walks")
    args = p.parse_args()

    digits = load_digits()
    images = torch.from_numpy((digits.images / 16.0)[:, None].astype(np.float32))
    if args.run:
        model = vaelab.load(args.run)
    else:
        model = vaelab.fit(images, args.out, model="mlp", hidden=(128,), latent_dim=4, likelihood="cbernoulli",
                           binarize="none", epochs=args.epochs, batch_size=64, progress=False)

    zero, one = images[digits.target == 0][:1], images[digits.target == 1][:1]
    rows = []
    for spherical in (False, True):
        frames, z = interpolate(model, zero, one, steps=10, spherical=spherical)
        d = step_distances(frames)
        kind = "spherical" if spherical else "linear"
        print(f"{kind:9} path 0 -> 1: mean step {d.mean():.4f}, largest {d.max():.4f}")
        rows.append(frames)

    stats = latent_statistics(model, images)  # KL per dimension and which dimensions are active
    order = dimension_order(stats)
    for d in order:
        print(f"z{d}: mean KL {float(stats['kl'][d]):.2f} nats, active: {bool(stats['active'][d])}")
    sweeps = traverse(model, order[:2], anchor=torch.zeros(model.latent_dim), span=2.5, steps=10)  # (2, 10, ...)
    grid = torch.cat([*rows, *sweeps])
    print("wrote", save_grid(grid, f"{args.out}-walks.png", nrow=10),
          "(rows: linear path, spherical path, then the two most informative dimensions)")


if __name__ == "__main__":
    main()
