"""Molecules: train a sequence VAE on SMILES, sample new molecules, interpolate, and search the latent
space for a better drug-likeness (QED).

    python examples/molecules.py [--data FILE.smi | --data moses] [--epochs 10] [--out runs/example-mol]

`--data moses` reads the MOSES training set from the molsets wheel (`pip install --no-deps molsets`);
any .smi file (one SMILES per line) works the same way.
"""
import argparse

import vaelab
from vaelab.mol.chem import canonical, generation_metrics
from vaelab.mol.optimize import optimize_property


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="moses")
    p.add_argument("--limit", type=int, default=5000, help="molecules read (MOSES: the first N)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", default="runs/example-mol")
    args = p.parse_args()

    # The molecule defaults (a GRU VAE over SELFIES tokens, KL warm-up, word dropout) apply; these are on top.
    model = vaelab.fit(args.data, args.out, limit=args.limit, latent_dim=16, hidden=128, epochs=args.epochs,
                       val_size=100, progress=False)
    print(model)

    samples = model.sample(200, temperature=1.0, generator=0)
    metrics = generation_metrics(samples, set(model.run.data().texts["train"]))
    print(f"200 samples: validity {metrics['validity']:.2f}, novelty {metrics['novelty']:.2f}")

    start, end = "CCOc1ccccc1", "O=C(O)c1ccccc1N"
    for share, smiles in model.interpolate(start, end, steps=6):
        print(f"  {share:4.2f}  {canonical(smiles) or smiles + '  (invalid)'}")

    result = optimize_property(model, model.run.data().texts["train"], "qed", seeds=5, steps=20, decode_every=5,
                               head_molecules=500)
    ascent, prior = result["latent_ascent"], result["prior_samples"]
    best = lambda r: "none valid and new" if r["best"] is None else f"{r['best']:.3f}"  # noqa: E731
    print(f"QED of new molecules: latent ascent best {best(ascent)}, prior samples best {best(prior)} "
          f"({result['decoder_calls']} decoder calls each)")


if __name__ == "__main__":
    main()
