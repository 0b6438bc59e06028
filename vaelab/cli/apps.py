"""The application commands: anomaly (fit, score), denoise and inpaint (vaelab.apps), each against baselines."""
from __future__ import annotations

import argparse

import torch

from ..apps.anomaly import (DEFAULT_FPR, STATISTICS, check_detector, detect, examples_to_score, fit_detector,
                            fit_threshold)
from ..apps.restore import METHODS, denoising_comparison, inpaint, inpainting_comparison
from ..config import ModelConfig
from ..data import SPLITS
from ..errors import InputError
from ..io import atomic_write_text
from ..registry import regularizers
from ..run import ARTIFACTS, OUTPUTS, Run
from ..train import distributed
from ..train.options import layered
from ..viz.grid import as_images, save_grid
from .options import add_run_argument, default_of, given_options, ints
from .output import add_out, out_path
from .train import add_train_arguments, first_process, launched, train_here

EXAMPLES = {
    "anomaly": """examples:
  vaelab anomaly fit --data mnist --normal-class 3 --epochs 20 --out runs/normal-3
  vaelab anomaly fit --preset anomaly-one-class --normal-class 8 --out runs/eights
  vaelab anomaly score runs/normal-3 --score iwae --out flags.csv          # AUROC and AP with labels
  vaelab anomaly fit --data csv:cancer.csv --label-column target --normal-class 1 --model mlp \\
      --likelihood gaussian-learned --out runs/cancer
  vaelab anomaly score runs/cancer --data csv:new_patients.csv --out flags.csv""",
    "denoise": """examples:
  vaelab denoise runs/demo --noise gaussian:0.5 --out clean.png       # noisy, denoised, clean rows
  vaelab denoise runs/demo --noise saltpepper:0.2 --measure 2000 --out sp.png""",
    "inpaint": """examples:
  vaelab inpaint runs/demo --mask left --out left.png                 # fill the left half
  vaelab inpaint runs/demo --mask random:0.5 --method iterate --out r.png
  vaelab inpaint runs/demo --mask my_mask.png --out m.png              # white = known, black = fill""",
}


def register(commands) -> None:
    anomaly = commands.group("anomaly", "Anomaly detection: fit a model on normal data, then score examples (nats).",
                             EXAMPLES["anomaly"])
    f = anomaly.add("fit", "Train on normal examples only and set the threshold that flags --fpr of held-out "
                           "normal examples (the options of `vaelab train`).", EXAMPLES["anomaly"], run_fit)
    f.add_argument("--normal-class", type=ints, help="the label(s) that are normal (default: all data is normal)")
    _score_options(f, fitting=True)
    add_train_arguments(f)
    s = anomaly.add("score", "Score every example of a split (higher = more anomalous) and flag those above the "
                             "run's threshold; with labels, print AUROC and average precision.",
                    EXAMPLES["anomaly"], run_score)
    add_run_argument(s, data=False)
    s.add_argument("--data", help="data to score (default: the run's own data, every class); csv:FILE scores "
                                  "every row of the file with the run's standardisation")
    s.add_argument("--split", default="test", choices=SPLITS)
    s.add_argument("-n", type=int, help="score only the first N examples")
    s.add_argument("--limit", dest="n", type=int, help=argparse.SUPPRESS)  # its name before version 0.2
    _score_options(s, fitting=False)
    add_out(s, f"CSV with one score per example (default RUN/{OUTPUTS['scores']})")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    d = commands.add("denoise", "Remove noise from test images with the decoder as a prior; PSNR against baselines.",
                     EXAMPLES["denoise"], run_denoise)
    add_run_argument(d)
    d.add_argument("--noise", required=True,
                   help="gaussian:SIGMA, saltpepper:P (share of pixels set to 0 or 1) or dropout:P (set to 0)")
    _restore_options(d, "denoise", measure=None)

    i = commands.add("inpaint", "Fill masked pixels by inference in the latent space; error against baselines.",
                     EXAMPLES["inpaint"], run_inpaint)
    add_run_argument(i)
    i.add_argument("--mask", required=True,
                   help="center, left, right, top, bottom, random:P (share missing) or a PNG (white = known)")
    i.add_argument("--method", default="optimize", choices=[*METHODS, "both"],
                   help="optimize: MAP estimate of z from the known pixels; iterate: encode-decode with the known "
                        "pixels clamped; both: compare them")
    i.add_argument("--steps", type=int, default=default_of(inpaint, "steps"), help="optimisation steps or iterations")
    _restore_options(i, "inpaint", measure=1000)


def _score_options(p: argparse.ArgumentParser, fitting: bool) -> None:
    p.add_argument("--score", dest="statistic", choices=STATISTICS,
                   help="the statistic: recon(struction error), elbo (negative ELBO, KL included) or iwae "
                        "(-log p(x) bound) (default: elbo for a VAE, recon for an autoencoder" +
                        ("" if fitting else "; or the one the run was fitted with") + ")")
    p.add_argument("--fpr", type=float, help="flag this share of normal held-out examples (default 0.05)"
                   if fitting else "set a new threshold at this false-positive rate on the run's normal "
                                   "validation examples (default: the run's threshold)")
    p.add_argument("--samples", type=int, default=default_of(fit_threshold, "samples"),
                   help="posterior samples per score")
    p.add_argument("--iwae-k", type=int, default=default_of(fit_threshold, "iwae_k"),
                   help="importance samples for --score iwae")


def _restore_options(p: argparse.ArgumentParser, output: str, measure: int | None) -> None:
    p.add_argument("-n", type=int, default=8, help="examples to draw")
    p.add_argument("--measure", metavar="N", type=int, default=measure,
                   help="measure on the first N test images" + (" (default: all)" if measure is None else ""))
    p.add_argument("--limit", dest="measure", type=int, help=argparse.SUPPRESS)  # its name before version 0.2
    p.add_argument("--seed", type=int, default=0, help="seed of the noise or of a random mask")
    add_out(p, f"PNG: corrupted, restored and clean rows (default RUN/{OUTPUTS[output]})")


# --- anomaly --------------------------------------------------------------------------------------------------
def run_fit(args) -> int:
    if args.normal_class and args.keep_labels:
        raise InputError("--normal-class and --keep-labels both say which labels to keep: give one of them")
    normal = {"keep_labels": tuple(args.normal_class)} if args.normal_class else {}
    fpr = DEFAULT_FPR if args.fpr is None else args.fpr
    merged = layered({**given_options(args), **normal}, args.preset, args.config)
    stochastic = regularizers.get(merged.get("regularizer", ModelConfig.regularizer)).stochastic
    check_detector(args.statistic, fpr, args.samples, args.iwae_k, stochastic, merged.get("val_size", 1))
    code = launched(args)
    if code is not None:
        return code
    with distributed.leave_when_done():
        model = train_here(args, **normal)
        record = (fit_detector(model, args.statistic, fpr, args.samples, args.iwae_k, progress=not args.quiet)
                  if first_process() else None)
    if record is None:
        return 0
    classes = f" classes {record['normal_classes']}" if record["normal_classes"] else ""
    print(f"normal data: {model.config.data.name}{classes}; threshold {record['threshold']:.2f} nats "
          f"({record['score']}) flags {record['fpr']:.0%} of {record['validation_examples']} normal validation "
          "examples")
    print(f"run folder: {args.out}  (as vaelab train writes it, plus {ARTIFACTS['anomaly']})")
    return 0


def run_score(args) -> int:
    if args.n is not None and args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    run = Run.open(args.run)
    out = out_path(args, run.output("scores"))
    model = run.model()
    x, y = examples_to_score(run, args.data, args.split)
    if args.n is not None:
        x, y = x[:args.n], (y[:args.n] if y is not None else None)
    r = detect(model, x, y, args.statistic, args.samples, args.iwae_k, args.fpr, progress=not args.quiet)
    scores, flagged, is_anomaly = r["scores"], r["flagged"], r["is_anomaly"]
    lines = ["index,score,flagged" + (",label,anomaly" if is_anomaly is not None else "")]
    for i in range(len(scores)):
        row = f"{i},{scores[i]:.6f},{int(flagged[i])}"
        if is_anomaly is not None:
            row += f",{int(y[i])},{int(is_anomaly[i])}"
        lines.append(row)
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"{len(scores)} examples scored with {r['statistic']} (nats; higher = more anomalous)")
    print(f"threshold {r['threshold']:.2f}, {r['origin']}: {int(flagged.sum())} flagged "
          f"({float(flagged.float().mean()):.1%})")
    if r["metrics"] is not None:
        m = r["metrics"]
        print(f"labels known ({m['anomalies']} anomalies of {m['n']}): AUROC {m['auroc']:.4f}, "
              f"average precision {m['average_precision']:.4f}")
        print(f"at the threshold: {int((flagged & is_anomaly).sum())} of {int(is_anomaly.sum())} anomalies flagged, "
              f"{int((flagged & ~is_anomaly).sum())} of {int((~is_anomaly).sum())} normal examples flagged")
    print(f"wrote {out}")
    return 0


# --- restoration ----------------------------------------------------------------------------------------------
def _test_images(args, output: str):
    """(run, model, its data, the test images and labels to measure on, the output path)."""
    if args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    if args.measure is not None and args.measure < 1:
        raise InputError(f"--measure must be at least 1, got {args.measure}")
    run = Run.open(args.run)
    out = out_path(args, run.output(output))
    model, data = run.model(), run.data(args.data)
    x, y = data.split("test")
    if args.measure is not None:
        x, y = x[:args.measure], (y[:args.measure] if y is not None else None)
    return model, data, x, y, out


def _rows_picture(rows, n, path):
    n = min(n, len(rows[0]))
    return save_grid(as_images(torch.cat([r[:n] for r in rows])), path, nrow=n)


def run_denoise(args) -> int:
    from ..apps.corruption import parse_noise

    parse_noise(args.noise)  # a bad spec fails before any data is loaded
    model, _, x, _, out = _test_images(args, "denoise")
    r = denoising_comparison(model, x, args.noise, args.seed, progress=True)
    print(f"PSNR against the clean images, {len(x)} test images, noise {args.noise} (higher is better):")
    for name, values in r["psnr"].items():
        print(f"  {name:<34} {values.mean():6.2f} dB")
    gain = float(r["psnr"]["VAE, MAP z under Gaussian noise"].mean() - r["psnr"]["noisy input"].mean())
    print(f"the VAE (MAP) gains {gain:+.2f} dB over the noisy input"
          + (" (noise model sigma estimated from the data)" if r["sigma"] is None else
             f" (noise model sigma {r['sigma']:g})"))
    print(f"wrote {_rows_picture([r['noisy'], r['cleaned'], x], args.n, out)} (rows: noisy, denoised, clean)")
    return 0


def run_inpaint(args) -> int:
    if args.steps < 1:
        raise InputError(f"--steps must be at least 1, got {args.steps}")
    model, data, x, y, out = _test_images(args, "inpaint")
    methods = ["optimize", "iterate"] if args.method == "both" else [args.method]
    r = inpainting_comparison(model, x, data.split("train")[0], args.mask, methods, args.steps, args.seed,
                              progress=True)
    known = r["known"]
    print(f"mean squared error over the missing pixels, {len(x)} test images, mask {args.mask} "
          f"({float((~known).float().mean()):.0%} missing; lower is better):")
    for m in methods:
        label = "VAE, optimised z (MAP)" if m == "optimize" else "VAE, iterated encode-decode"
        print(f"  {label:<44} {r['errors'][m]:.4f}")
    for name in r["baselines"]:
        print(f"  {name:<44} {r['errors'][name]:.4f}")
    if not r["fixed_mask"]:
        print("  (the nearest-neighbour baseline needs one mask for all images; a random mask differs per image)")
    _classifier_figures(model, y, torch.where(known, x, torch.zeros_like(x)), r["filled"])
    shown = torch.where(known, x, torch.full_like(x, 0.5))  # missing pixels drawn mid-grey
    rows = [shown, *r["filled"].values(), x]
    print(f"wrote {_rows_picture(rows, args.n, out)} (rows: masked, {', '.join(methods)}, clean)")
    return 0


def _classifier_figures(model, y, masked, filled) -> None:
    """For MNIST runs: does the digit classifier read the inpainted digits better than the masked ones?"""
    if y is None or model.config.data.name != "mnist":
        return
    from ..metrics.classifier import digit_classifier

    judge = digit_classifier()
    accuracy = lambda images: float((judge.predict(images) == y).float().mean())  # noqa: E731
    print("digit classifier accuracy:")
    print(f"  {'masked images (missing pixels black)':<44} {accuracy(masked):.1%}")
    for m, image in filled.items():
        print(f"  {'inpainted, ' + m:<44} {accuracy(image):.1%}")
