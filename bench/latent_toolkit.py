"""The latent toolkit's measured figures on MNIST, from trained run folders.

    python -m bench.latent_toolkit --vae runs/demo --ae runs/ae-32 --cvae runs/cvae-16 [--json PATH]

Each section needs only the runs it names, so any subset can be given:

* paths (--vae and --ae, same networks and latent size): linear and spherical interpolation between
  the posterior means of --pairs random pairs of test images, 16 frames each; per path the mean and
  the largest mean-absolute-pixel difference between neighbouring frames, and their ratio (1 means
  perfectly even steps; a large ratio means the path jumps).
* attribute (--vae): the ink vector (mean code of the thickest quarter of 10,000 training digits
  minus that of the thinnest quarter, by mean pixel value) added to 1,000 test codes with alpha in
  -2..2 (nine values; |v| is about 3 prior standard deviations, so 0.25 is a small step); the mean ink of the decoded images per alpha (must rise monotonically) and the share that
  the digit classifier still gives the true label.
* conditional (--cvae): 100 prior samples per class with that class as the label; the share the
  digit classifier assigns to the requested class, per class and overall (goal >= 90%).
* search (--vae): 5-NN label accuracy on the 10,000 test images against the 50,000 training images,
  with the posterior means, with raw pixels, and with PCA of the pixels to the latent size; query
  milliseconds per test image for each (scikit-learn's KNeighborsClassifier, default index).

The digit classifier is vaelab.metrics.classifier's small CNN (trained once, cached; its MNIST
test accuracy is printed).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import vaelab
from vaelab.latent.attributes import apply_vector, attribute_vector, is_monotonic, measure, quartile_masks
from vaelab.latent.paths import path_smoothness
from vaelab.latent.search import knn_accuracy
from vaelab.metrics.classifier import classifier_test_accuracy, digit_classifier

from .report import command_line, write_json

ALPHAS = [-2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0]


def paths_section(vae_run: str, ae_run: str, pairs: int, seed: int) -> dict:
    models = {"VAE": vaelab.load(vae_run), "AE": vaelab.load(ae_run)}
    x, _ = models["VAE"].run.data().split("test")
    g = torch.Generator().manual_seed(seed)
    chosen = torch.randint(0, len(x), (pairs, 2), generator=g)
    out = {}
    print(f"\ninterpolation between {pairs} random pairs of test images, 16 frames "
          "(mean absolute pixel difference between neighbouring frames, averaged over paths)")
    print(f"  {'model':<5} {'path':<10} {'mean step':>10} {'max step':>10} {'max / mean':>11}")
    for name, model in models.items():
        for spherical in (False, True):
            r = path_smoothness(model, x, chosen, steps=16, spherical=spherical)
            kind = "spherical" if spherical else "linear"
            out[f"{name}_{kind}"] = r
            print(f"  {name:<5} {kind:<10} {r['mean_step']:10.4f} {r['max_step']:10.4f} {r['max_over_mean']:11.2f}")
    return out


def attribute_section(vae_run: str, judge) -> dict:
    model = vaelab.load(vae_run)
    data = model.run.data()
    x_train = data.train[:10000]
    mu, _ = model.encode_all(x_train)
    thick, thin = quartile_masks(measure("ink", x_train))
    v = attribute_vector(mu, thick, thin)
    x_test, y_test = data.test[:1000], data.test_labels[:1000]
    z, _ = model.encode_all(x_test)
    decoded = apply_vector(model, z, v, ALPHAS)
    inks = [float(measure("ink", decoded[:, j]).mean()) for j in range(len(ALPHAS))]
    kept = [float((judge.predict(decoded[:, j]) == y_test).float().mean()) for j in range(len(ALPHAS))]
    print(f"\nattribute 'ink' (thick minus thin strokes, |v| = {v.norm():.2f}) on 1000 test digits")
    print(f"  {'alpha':>6} {'mean ink':>9} {'class kept':>11}")
    for a, ink, k in zip(ALPHAS, inks, kept):
        print(f"  {a:6.2f} {ink:9.4f} {k:11.1%}")
    monotonic = is_monotonic(inks)
    print(f"  ink rises monotonically over {len(ALPHAS)} alphas: {'yes' if monotonic else 'NO'}")
    return {"alphas": ALPHAS, "ink": inks, "class_kept": kept, "monotonic": monotonic, "vector_norm": float(v.norm())}


def conditional_section(cvae_run: str, judge, per_class: int, seed: int) -> dict:
    model = vaelab.load(cvae_run)
    if not model.conditional:
        raise SystemExit(f"{cvae_run} is not a conditional run (train it with --conditional)")
    g = torch.Generator().manual_seed(seed)
    agreement = {}
    for c in range(model.num_classes):
        samples = model.sample(per_class, generator=g, y=c)
        agreement[c] = float((judge.predict(samples) == c).float().mean())
    overall = float(np.mean(list(agreement.values())))
    print(f"\nconditional VAE: {per_class} prior samples per requested label, classifier agreement")
    print("  " + "  ".join(f"{c}: {a:.0%}" for c, a in agreement.items()))
    print(f"  overall {overall:.1%} of {per_class * len(agreement)} samples (goal >= 90%)")
    return {"per_class": agreement, "overall": overall, "samples": per_class * len(agreement)}


def search_section(vae_run: str) -> dict:
    from sklearn.decomposition import PCA

    model = vaelab.load(vae_run)
    data = model.run.data()
    train, test = data.train.flatten(1).numpy(), data.test.flatten(1).numpy()
    y_train, y_test = data.train_labels.numpy(), data.test_labels.numpy()
    mu_train, _ = model.encode_all(data.train)
    mu_test, _ = model.encode_all(data.test)
    pca = PCA(n_components=model.latent_dim, random_state=0).fit(train)
    rows = {
        f"VAE posterior mean ({model.latent_dim}-D)": knn_accuracy(mu_train.numpy(), y_train, mu_test.numpy(), y_test),
        "raw pixels (784-D)": knn_accuracy(train, y_train, test, y_test),
        f"PCA of pixels ({model.latent_dim}-D)": knn_accuracy(pca.transform(train), y_train, pca.transform(test), y_test),
    }
    print("\n5-NN label accuracy, 10,000 test images against 50,000 training images")
    for name, r in rows.items():
        print(f"  {name:<32} {r['accuracy']:.2%}   {r['query_ms_per_example']:.3f} ms per query")
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.latent_toolkit", description=__doc__.split("\n")[0])
    p.add_argument("--vae", help="a VAE run on MNIST (paths, attribute, search)")
    p.add_argument("--ae", help="a plain autoencoder run with the VAE's networks (paths)")
    p.add_argument("--cvae", help="a conditional VAE run on MNIST (conditional)")
    p.add_argument("--pairs", type=int, default=200, help="random test pairs for the paths (default 200)")
    p.add_argument("--per-class", type=int, default=100, help="conditional samples per class (default 100)")
    p.add_argument("--sections", default="paths,attribute,conditional,search",
                   help="which sections to run, of paths,attribute,conditional,search (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    args = p.parse_args(argv)
    command = command_line("bench.latent_toolkit", argv)
    print(f"command: {command}")
    results: dict = {"command": command}
    wanted = set(args.sections.split(","))
    judge = None
    if wanted & {"attribute", "conditional"} and (args.vae or args.cvae):
        judge = digit_classifier()
        print(f"digit classifier: small CNN, MNIST test accuracy {classifier_test_accuracy():.2%}")
    if "paths" in wanted and args.vae and args.ae:
        results["paths"] = paths_section(args.vae, args.ae, args.pairs, args.seed)
    if "attribute" in wanted and args.vae:
        results["attribute"] = attribute_section(args.vae, judge)
    if "conditional" in wanted and args.cvae:
        results["conditional"] = conditional_section(args.cvae, judge, args.per_class, args.seed)
    if "search" in wanted and args.vae:
        results["search"] = search_section(args.vae)
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
