"""One-class MNIST anomaly detection: each digit in turn is normal, every other digit an anomaly.

    python -m bench.anomaly_mnist [--likelihood gaussian-learned|bernoulli|...] [--contrast gcn|none] [--epochs 80]
                                  [--digits 0,...,9] [--iwae-k 20] [--out runs/anomaly-mnist] [--quick] [--json PATH]

The protocol of Ruff et al. 2018 (Deep SVDD): for digit d, train on the training images of d only
(vaelab's 50k training split, so about 5,000 images), then score all 10,000 test images; d is
normal, the other nine digits are anomalies; report the AUROC. As in that paper, every image is
first contrast-normalised (--contrast gcn: centred and divided by its mean absolute deviation; the
paper then also min-max scales, an affine map that changes none of these rankings). Per digit, in
the same run, all on the same (normalised) images:

* VAE (vaelab's default conv VAE, 16-D latent, --epochs). With --likelihood gaussian-learned (the
  default: one learned sigma^2) it models the grey levels and scores the grey test images; with
  --likelihood bernoulli it trains with dynamic binarization and scores the fixed binarized test set.
  Three scores from `vaelab.apps.anomaly`: the reconstruction term
  and the negative ELBO (both averaged over 10 posterior samples; the ELBO keeps its KL term) and
  the IWAE bound on -log p(x) with --iwae-k samples;
* AE: the same networks as a plain autoencoder (regularizer none), its reconstruction error;
* PCA: reconstruction error (squared, on grey levels) with as many components as the latent size,
  fitted on the digit's training images (scikit-learn);
* IsolationForest: scikit-learn's, 200 trees, fitted on the digit's training images (grey levels).

It prints one row per digit and the mean, names the best VAE statistic, and, as published
reference points, Ruff et al. 2018's means: about 0.948 for Deep SVDD (one-class) and about 0.897
for their convolutional autoencoder. Run folders go to --out/vae-d and --out/ae-d.

Time: each digit trains two conv models on ~5,000 images (--epochs each) and scores 10,000 test
images several times; about 5 minutes per digit on one core at the defaults (80 epochs). Digits
can be split across processes (--digits, the same --out); a last run over all digits then reuses
the trained folders and only scores.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vaelab.apps.anomaly import anomaly_scores, detection_metrics
from vaelab import presets
from vaelab.config import CONTRASTS, DataConfig
from vaelab.data import load_splits, presented
from vaelab.registry import likelihoods

from .report import command_line, write_json
from .runs import preset_config, train_or_reuse

PRESET = "anomaly-one-class"  # vaelab/presets: the settings every digit's VAE and AE train with

PUBLISHED = {"Deep SVDD (one-class), Ruff et al. 2018": 0.948, "conv autoencoder, Ruff et al. 2018": 0.897}
COLUMNS = ("VAE recon", "VAE elbo", "VAE iwae", "AE recon", "PCA", "IsolationForest")


def baselines(train: np.ndarray, test: np.ndarray, components: int, seed: int) -> dict[str, np.ndarray]:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    pca = PCA(n_components=components, random_state=seed).fit(train)
    pca_error = ((pca.inverse_transform(pca.transform(test)) - test) ** 2).sum(1)
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(train)
    return {"PCA": pca_error, "IsolationForest": -forest.score_samples(test)}  # higher = more anomalous


def one_digit(digit: int, all_splits, args, out: Path) -> dict[str, float]:
    binarize = "dynamic" if args.likelihood == "bernoulli" else "none"
    options = dict(keep_labels=(digit,), binarize=binarize, contrast=args.contrast, likelihood=args.likelihood,
                   latent_dim=args.latent_dim, epochs=args.epochs, seed=args.seed)
    config, normal = preset_config(PRESET, **options, regularizer="kl")
    if args.quick:
        normal.train, normal.train_labels = normal.train[:1000], normal.train_labels[:1000]
    x_test, y_test = all_splits.test[:args.test_limit], all_splits.test_labels[:args.test_limit]
    is_anomaly = y_test != digit
    # Bernoulli pixels: the fixed binarization every vaelab report uses; other likelihoods: grey levels.
    scored = presented(x_test, binarize)
    aurocs = {}
    for name, regularizer in (("vae", "kl"), ("ae", "none")):
        config, _ = preset_config(PRESET, normal, **options, regularizer=regularizer)
        model = train_or_reuse(config, normal, out / f"{name}-{digit}", progress=not args.quiet)
        statistics = ("recon", "elbo", "iwae") if name == "vae" else ("recon",)
        for statistic in statistics:
            s = anomaly_scores(model, scored, statistic, samples=10, iwae_k=args.iwae_k, seed=args.seed)
            aurocs[f"{name.upper()} {statistic}"] = detection_metrics(s, is_anomaly)["auroc"]
    flat_train, flat_test = normal.train.flatten(1).numpy(), x_test.flatten(1).numpy()
    for name, s in baselines(flat_train, flat_test, args.latent_dim, args.seed).items():
        aurocs[name] = detection_metrics(torch.from_numpy(s), is_anomaly)["auroc"]
    return aurocs


def main(argv: list[str] | None = None) -> dict:
    preset = presets.options(PRESET)  # the defaults below are the preset's
    p = argparse.ArgumentParser(prog="python -m bench.anomaly_mnist", description=__doc__.split("\n")[0])
    p.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    p.add_argument("--likelihood", default=preset["likelihood"],
                   choices=[n for n in likelihoods.names() if n != "categorical"],
                   help=f"p(x|z) of the VAE and the AE (default {preset['likelihood']}, on grey levels)")
    p.add_argument("--contrast", default=preset["contrast"], choices=CONTRASTS,
                   help=f"gcn: global contrast normalisation of every image, as Ruff et al. 2018; none: raw grey "
                        f"levels (default {preset['contrast']})")
    p.add_argument("--epochs", type=int, default=preset["epochs"])
    p.add_argument("--latent-dim", type=int, default=preset["latent_dim"])
    p.add_argument("--iwae-k", type=int, default=20)
    p.add_argument("--out", default="runs/anomaly-mnist",
                   help="run folders; finished ones with the same settings are reused, killed ones resumed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="digits 0 and 1, 1 epoch on 1,000 images, 1,000 test images")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.contrast != "none" and not args.likelihood.startswith("gaussian"):
        p.error(f"--likelihood {args.likelihood} models pixels in [0, 1]: add --contrast none")
    torch.set_num_threads(args.threads)
    digits = [0, 1] if args.quick else [int(d) for d in args.digits.split(",")]
    if args.quick:
        args.epochs, args.iwae_k = 1, 5
    args.test_limit = 1000 if args.quick else None
    command = command_line("bench.anomaly_mnist", argv)
    print(f"command: {command}")
    out = Path(args.out)
    all_splits = load_splits(DataConfig(name="mnist", binarize="none" if args.contrast != "none" else "dynamic",
                                        contrast=args.contrast))
    rows, start = {}, time.perf_counter()
    print(f"\nAUROC ({args.likelihood} VAE and AE, contrast {args.contrast}), digit d normal, the other nine anomalies ({len(all_splits.test[:args.test_limit])} test images)")
    print("  digit  " + "  ".join(f"{c:>15}" for c in COLUMNS))
    for d in digits:
        rows[d] = one_digit(d, all_splits, args, out)
        print(f"  {d:5d}  " + "  ".join(f"{rows[d][c]:15.4f}" for c in COLUMNS), flush=True)
    means = {c: float(np.mean([r[c] for r in rows.values()])) for c in COLUMNS}
    print("   mean  " + "  ".join(f"{means[c]:15.4f}" for c in COLUMNS))
    best = max(("VAE recon", "VAE elbo", "VAE iwae"), key=means.get)
    print(f"\nbest VAE statistic: {best} (mean AUROC {means[best]:.4f}; goal >= 0.97)")
    for name, value in PUBLISHED.items():
        print(f"published, for reference: {name}: mean AUROC about {value}")
    print(f"{time.perf_counter() - start:.0f} s; command: {command}")
    results = {"command": command, "per_digit": rows, "mean": means, "best_vae_statistic": best,
               "likelihood": args.likelihood, "contrast": args.contrast, "epochs": args.epochs, "iwae_k": args.iwae_k, "latent_dim": args.latent_dim}
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
