"""AE vs VAE, as taught: on MNIST 1s and 8s with a 2-D latent, what does the KL term buy?

    python -m bench.ae_vs_vae [--epochs 50] [--out runs/ae-vs-vae] [--lam 0.5] [--seed 0] [--quick] [--json PATH]

What it trains
--------------
Three models on the MNIST training images of digits 1 and 8 only (DataConfig(keep_labels=(1, 8)):
10,520 training, 2,073 validation, 2,109 test images), with the same networks and the same
training (Bernoulli pixels, dynamic binarization, Adam lr 1e-3, batch 128, --epochs each, the
weights of the best validation epoch kept):

* networks: an MLP encoder 784-512-256-2 and decoder 2-256-512-784 (ReLU); the VAE's encoder
  has 4 outputs (mean and log-variance), the autoencoders' 2 (the code itself). Two hidden layers,
  because one layer of 400 units, the usual MNIST VAE, leaves a 2-D latent too little capacity;
* ae:  a plain autoencoder, z = encoder(x), loss = -log p(x|z) (regularizer none);
* rae: a regularised autoencoder, loss = -log p(x|z) + lambda |z|^2 (regularizer l2). Lambda is
  0.5 by default (--lam): the weight the VAE's KL puts on |mu|^2 (KL = 0.5 (|mu|^2 + sum var - d -
  sum log var)), so the rae is the VAE's objective with the posterior noise and the variance terms
  taken away. vaelab's default lambda of 1e-3 would leave it nearly a plain autoencoder;
* vae: the VAE, z ~ q(z|x) = N(mu, diag var), loss = -E_q log p(x|z) + KL(q(z|x) || N(0, I)).

What it measures (nothing about the outcome is assumed; it prints what it finds)
-------------------------------------------------------------------------------------
* prior samples: 1,000 draws z ~ N(0, I) (the same draws for the three models) are decoded to
  pixel probabilities and given to the digit classifier (vaelab.metrics.classifier, a small CNN
  trained on all ten MNIST digits; its first use trains and caches it, about 80 s on 2 cores). A
  sample counts as recognisable when the classifier's largest softmax probability is >= 0.9;
  printed: the share recognisable, and among those the share called 1, called 8 and called
  another digit. The same is printed for the real test 1s and 8s, as the ceiling to read it against.
* aggregate posterior vs the prior, by moment matching: a Gaussian N(m, S) is fitted to the
  aggregate posterior over the test set, the mixture of every test image's q(z|x). m is the mean of
  the posterior means; S = Cov(mu) + mean of diag(exp(logvar)) for the VAE, S = Cov(mu) for the
  autoencoders, whose posterior is a point mass (covariances with divisor N: the mixture's own).
  Printed: KL(N(m, S) || N(0, I)) = 0.5 (tr S + m'm - d - log det S), 0 when the moments match
  the prior's. It compares only two moments: a mixture of a few tight clusters can match them.
* the test reconstruction term -E_q log p(x|z) in nats (the autoencoders: at z = encoder(x); the
  VAE: averaged over --iwae-k posterior samples, and also at z = mu), with the VAE's KL, -ELBO and
  IWAE bound, on the fixed binarization of the test set that every vaelab report uses.

What it writes, under --out (default runs/ae-vs-vae; refuses run folders that already exist)
---------------------------------------------------------------------------------------------
    ae/ rae/ vae/            the three run folders (vaelab.load(...) reads them)
    latents.png              three scatters of the test posterior means, 1s and 8s in two colours;
                             each panel square and centred on 0 with its own scale (the autoencoders'
                             codes need not live near the unit circle), the prior's 1- and 2-sigma
                             circles dashed
    {ae,rae,vae}_prior_samples.png   10x10 grids of the first 100 of the 1,000 prior samples
    prior_samples.png        the three grids side by side

Time
----
Measured on the shared 2-core machine while another training job kept both cores busy, with
--threads 1: the MLP trains at 7,500-9,600 images/s, so an epoch of the 10,520 images takes about
1.3 s, plus about 0.3 s of validation and checkpointing; the test evaluation (K = 100), the
classifier's verdicts and the pictures take about 5 s per model. The default 50 epochs x 3 models
therefore take about 4-5 minutes, plus 80-140 s the first time the digit classifier is trained.
--quick takes 15 s once the classifier is cached. On a busy machine pass --threads 1: with 2
threads on 2 cores that another process keeps busy, every parallel region waits for the busy
core, and the same epoch measured 335 images/s instead of 7,900.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

import vaelab
from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import load_splits, presented
from vaelab.metrics.classifier import classifier_test_accuracy, digit_classifier
from vaelab.metrics.likelihood import evaluate
from vaelab.train.trainer import train
from vaelab.viz.figures import pyplot, save_png
from vaelab.viz.grid import grid_image, save_grid

from .report import command_line, write_json

DIGITS = (1, 8)
HIDDEN = (512, 256)
LATENT = 2
MODELS = {  # folder name -> (title, regularizer)
    "ae": ("autoencoder", "none"),
    "rae": ("regularised AE", "l2"),
    "vae": ("VAE", "kl"),
}
PRIOR_SAMPLES = 1000
GRID = 10  # GRID x GRID of the prior samples drawn
CONFIDENT = 0.9
QUICK_TRAIN, QUICK_VAL = 3000, 500


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the pure part: a Gaussian fitted to the aggregate posterior, and its KL from N(0, I) --------
def aggregate_gaussian(mu: torch.Tensor, logvar: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean m (d,) and covariance S (d, d), in float64, of the mixture (1/N) sum_n N(mu_n, diag(exp(logvar_n))).

    Without `logvar` every component is a point mass (an autoencoder's code) and S = Cov(mu).
    Covariances use the divisor N: these are the mixture's own moments, not an estimate of another's.
    """
    mu = torch.as_tensor(mu).double()
    if mu.dim() != 2 or len(mu) == 0:
        raise ValueError(f"expected codes of shape (N, d) with N >= 1, got {tuple(mu.shape)}")
    m = mu.mean(0)
    centred = mu - m
    s = centred.T @ centred / len(mu)
    if logvar is not None:
        logvar = torch.as_tensor(logvar).double()
        if logvar.shape != mu.shape:
            raise ValueError(f"logvar {tuple(logvar.shape)} does not match mu {tuple(mu.shape)}")
        s = s + torch.diag(logvar.exp().mean(0))
    return m, s


def kl_to_standard_normal(m: torch.Tensor, s: torch.Tensor) -> float:
    """KL(N(m, S) || N(0, I)) = 0.5 (tr S + m'm - d - log det S) in nats; inf when S is singular."""
    m, s = torch.as_tensor(m).double(), torch.as_tensor(s).double()
    sign, logdet = torch.linalg.slogdet(s)
    if sign <= 0 or not torch.isfinite(logdet):
        return math.inf
    return float(0.5 * (torch.trace(s) + m @ m - len(m) - logdet))


def moment_matched_kl(mu: torch.Tensor, logvar: torch.Tensor | None = None) -> float:
    """KL from N(0, I) of the moment-matched Gaussian of the aggregate posterior of these codes."""
    return kl_to_standard_normal(*aggregate_gaussian(mu, logvar))


def prior_sample_verdict(probabilities: torch.Tensor, digits=DIGITS, threshold: float = CONFIDENT) -> dict:
    """From the classifier's (N, 10) softmax outputs: the share with max probability >= threshold, and
    among those the share of each of `digits` and of any other digit (None when none is confident)."""
    confidence, label = probabilities.max(-1)
    sure = confidence >= threshold
    n_sure = int(sure.sum())
    result = {"n": len(probabilities), "threshold": threshold, "confident": n_sure / len(probabilities)}
    for d in digits:
        result[f"share_{d}"] = float((label[sure] == d).float().mean()) if n_sure else None
    result["share_other"] = float((~torch.isin(label[sure], torch.tensor(digits))).float().mean()) if n_sure else None
    return result


# --- pictures ---------------------------------------------------------------------------------
def scatter_panels(codes: dict[str, np.ndarray], labels: np.ndarray, path: Path, titles: dict[str, str]) -> Path:
    """One scatter per model of its 2-D test codes, coloured by digit; each panel square, centred on 0,
    scaled to its own codes (the 0.5%..99.5% range, so a few outliers do not shrink the rest)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(codes), figsize=(5.2 * len(codes), 5.4), dpi=110)
    angle = np.linspace(0, 2 * np.pi, 200)
    for ax, (key, z) in zip(np.atleast_1d(axes), codes.items()):
        for digit, colour in zip(DIGITS, ("tab:blue", "tab:orange")):
            sel = labels == digit
            ax.scatter(z[sel, 0], z[sel, 1], s=3, alpha=0.6, color=colour, label=f"digit {digit}", linewidths=0)
        for r in (1, 2):
            ax.plot(r * np.cos(angle), r * np.sin(angle), "--", color="0.4", linewidth=0.8,
                    label="N(0, I): 1 and 2 sigma" if r == 1 else None)
        half = 1.1 * float(np.abs(np.quantile(z, [0.005, 0.995], axis=0)).max())
        ax.set_xlim(-half, half)
        ax.set_ylim(-half, half)
        ax.set_aspect("equal")
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
        ax.set_title(f"{titles[key]}\n{len(z)} test posterior means, axes \u00b1{half:.3g}", fontsize=10)
        ax.legend(markerscale=4, fontsize=8, loc="upper right", frameon=False)
    fig.tight_layout()
    return save_png(fig, path)


def grids_side_by_side(images: dict[str, torch.Tensor], path: Path, titles: dict[str, str]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(images), figsize=(5.2 * len(images), 5.6), dpi=110)
    for ax, (key, x) in zip(np.atleast_1d(axes), images.items()):
        ax.imshow(np.asarray(grid_image(x, nrow=GRID)), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{titles[key]}: decoded z ~ N(0, I)", fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return save_png(fig, path)


# --- the run ----------------------------------------------------------------------------------
def run_config(regularizer: str, lam: float, epochs: int, seed: int) -> RunConfig:
    return RunConfig(data=DataConfig(name="mnist", keep_labels=DIGITS),
                     model=ModelConfig(arch="mlp", latent_dim=LATENT, hidden=HIDDEN, likelihood="bernoulli",
                                       regularizer=regularizer, lam=lam),
                     train=TrainConfig(epochs=epochs, seed=seed))


def train_seconds(run_dir: Path) -> float:
    return sum(record["seconds"] for record in vaelab.Run.open(run_dir).metrics())


@torch.no_grad()
def recon_at_mean(model, x: torch.Tensor, batch_size: int = 500) -> float:
    """-log p(x | z = posterior mean), mean over x (x as the likelihood sees it)."""
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        total += float(-model.network.px(model.network.posterior(xb).mu).log_prob(xb).double().sum())
    return total / len(x)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.ae_vs_vae", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Full description: the module docstring (python -c 'import bench.ae_vs_vae "
                                       "as m; print(m.__doc__)').")
    p.add_argument("--epochs", type=int, default=50,
                   help="epochs of each model (default 50: about 5 minutes in all on 2 cores)")
    p.add_argument("--out", default="runs/ae-vs-vae", help="folder for the run folders and pictures "
                                                          "(default runs/ae-vs-vae)")
    p.add_argument("--lam", type=float, default=0.5, help="lambda of the regularised AE's lambda*|z|^2 (default 0.5)")
    p.add_argument("--iwae-k", type=int, default=100, help="posterior samples per test image for the VAE's "
                                                           "evaluation (default 100)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: 1 epoch on the first {QUICK_TRAIN} training images, K = 5")
    p.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    args = p.parse_args(argv)
    epochs, iwae_k = (1, 5) if args.quick else (args.epochs, args.iwae_k)
    if epochs < 1 or iwae_k < 1:
        p.error("--epochs and --iwae-k must be at least 1")
    out = Path(args.out)
    taken = [str(out / key) for key in MODELS if (out / key).exists()]
    if taken:
        p.error(f"run folder(s) already exist: {', '.join(taken)}; choose another --out")
    if args.threads:
        torch.set_num_threads(args.threads)
    command = command_line("bench.ae_vs_vae", argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"command: {command}")

    splits = load_splits(DataConfig(name="mnist", keep_labels=DIGITS))
    if args.quick:
        splits = dataclasses.replace(splits, train=splits.train[:QUICK_TRAIN],
                                     train_labels=splits.train_labels[:QUICK_TRAIN],
                                     val=splits.val[:QUICK_VAL], val_labels=splits.val_labels[:QUICK_VAL])
    n_train = len(splits.train)
    print(f"MNIST digits {DIGITS[0]} and {DIGITS[1]}: {n_train} training, {len(splits.val)} validation, "
          f"{len(splits.test)} test images{' (--quick subset)' if args.quick else ''}")
    print(f"networks: MLP 784-{'-'.join(map(str, HIDDEN))}-{LATENT} / {LATENT}-{'-'.join(map(str, HIDDEN[::-1]))}-784, "
          f"Bernoulli pixels, {epochs} epoch(s) each; rae lambda = {args.lam:g}")

    judge = digit_classifier(progress=sys.stderr.isatty())
    accuracy = classifier_test_accuracy()
    print(f"digit classifier: small CNN on all ten digits, MNIST test accuracy "
          f"{'n/a' if accuracy is None else f'{accuracy:.2%}'}")

    x_test = presented(splits.test, "dynamic")  # the fixed binarization every vaelab report uses
    y_test = splits.test_labels
    z_prior = torch.randn(PRIOR_SAMPLES, LATENT, generator=torch.Generator().manual_seed(args.seed + 1))
    out.mkdir(parents=True, exist_ok=True)
    titles = {key: f"{title} ({key})" for key, (title, _) in MODELS.items()}

    results: dict = {"command": command, "argv": sys.argv, "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "quick": args.quick, "digits": list(DIGITS),
                     "train_examples": n_train, "test_examples": len(x_test), "epochs": epochs,
                     "hidden": list(HIDDEN), "latent_dim": LATENT, "lam": args.lam, "iwae_k": iwae_k,
                     "confidence_threshold": CONFIDENT, "prior_samples": PRIOR_SAMPLES,
                     "classifier_test_accuracy": accuracy,
                     "real_test_digits": prior_sample_verdict(judge.probabilities(splits.test)), "models": {}}
    codes, samples = {}, {}
    for key, (title, regularizer) in MODELS.items():
        config = run_config(regularizer, args.lam, epochs, args.seed)
        log(f"--- training {title} ({key}) -> {out / key}")
        start = time.perf_counter()
        train(config, splits, out / key, progress=sys.stderr.isatty())
        wall = time.perf_counter() - start
        model = vaelab.load(out / key)  # the best validation epoch's weights
        log(f"--- evaluating {key} on the test set")
        ev = evaluate(model, splits, split="test", iwae_k=iwae_k, progress=sys.stderr.isatty())
        mu, logvar = model.encode_all(x_test)
        m, s = aggregate_gaussian(mu, logvar if config.model.stochastic else None)
        images = model.decode(z_prior)
        samples[key] = images[:GRID * GRID]
        save_grid(samples[key], out / f"{key}_prior_samples.png", nrow=GRID)
        codes[key] = mu.numpy()
        results["models"][key] = {
            "title": title, "regularizer": regularizer, "run": str(out / key),
            "train_seconds": train_seconds(out / key), "train_wall_seconds": wall,
            "prior_samples": prior_sample_verdict(judge.probabilities(images)),
            "aggregate_mean": m.tolist(), "aggregate_cov": s.tolist(),
            "aggregate_std_principal": torch.linalg.eigvalsh(s).clamp_min(0).sqrt().flip(0).tolist(),
            "kl_moment_matched": kl_to_standard_normal(m, s),
            "test_recon": ev["recon"], "test_recon_at_mean": recon_at_mean(model, x_test),
            "test_kl": ev["kl"], "test_nelbo": ev["elbo"], "test_nll_iwae": ev["nll_iwae"],
            "active_units": ev["active_units"],
        }
    scatter_panels(codes, y_test.numpy(), out / "latents.png", titles)
    grids_side_by_side(samples, out / "prior_samples.png", titles)

    def share(v):
        return "   n/a" if v is None else f"{v:6.1%}"

    rows = results["models"]
    real = results["real_test_digits"]
    print(f"\n{PRIOR_SAMPLES} prior samples z ~ N(0, I), decoded; the digit classifier's verdict "
          f"(recognisable: max softmax >= {CONFIDENT})")
    print(f"  {'model':<24} {'recognisable':>12}   {'of which: 1':>11} {'8':>6} {'other':>6}")
    for key, r in rows.items():
        v = r["prior_samples"]
        print(f"  {titles[key]:<24} {v['confident']:12.1%}   {share(v['share_1']):>11} {share(v['share_8']):>6} "
              f"{share(v['share_other']):>6}")
    print(f"  {'real test 1s and 8s':<24} {real['confident']:12.1%}   {share(real['share_1']):>11} "
          f"{share(real['share_8']):>6} {share(real['share_other']):>6}   (reference)")

    print(f"\naggregate posterior over the {len(x_test)} test images vs the prior N(0, I), "
          "by a moment-matched Gaussian N(m, S)")
    print(f"  {'model':<24} {'KL(N(m,S) || N(0,I))':>21}   {'m':>17}   {'std along axes of S':>21}")
    for key, r in rows.items():
        mean = ", ".join(f"{v:+.3g}" for v in r["aggregate_mean"])
        std = ", ".join(f"{v:.3g}" for v in r["aggregate_std_principal"])
        print(f"  {titles[key]:<24} {r['kl_moment_matched']:17.3f} nats   ({mean:>14})   ({std:>18})")

    print("\ntest reconstruction term -log p(x|z), nats per image (fixed binarization of the test set)")
    print(f"  {'model':<24} {'recon':>8} {'at z=mu':>8} {'KL':>7} {'-ELBO':>8} {'IWAE NLL':>9}  {'train s':>7}")

    def nats(v, width):
        return f"{'-':>{width}}" if v is None else f"{v:{width}.2f}"

    for key, r in rows.items():
        print(f"  {titles[key]:<24} {r['test_recon']:8.2f} {r['test_recon_at_mean']:8.2f} {nats(r['test_kl'], 7)} "
              f"{nats(r['test_nelbo'], 8)} {nats(r['test_nll_iwae'], 9)}  {r['train_seconds']:7.1f}")
    print(f"  (VAE: recon averaged over K = {iwae_k} posterior samples; IWAE with the same K)")
    print(f"\npictures: {out / 'latents.png'}, {out / 'prior_samples.png'}, {out}/{{ae,rae,vae}}_prior_samples.png")
    print(f"command: {command}")
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
