"""The application commands: anomaly (fit, score), denoise and inpaint (vaelab.apps), each against baselines."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .errors import VaelabError

ANOMALY_FILE = "anomaly.json"

EPILOGS = {
    "anomaly": """examples:
  vaelab anomaly fit --data mnist --normal-class 3 --epochs 20 --out runs/normal-3
  vaelab anomaly score runs/normal-3 --score iwae --out scores.csv        # AUROC and AP with labels
  vaelab anomaly fit --data csv:cancer.csv --label-column target --normal-class 1 --model mlp \\
      --likelihood gaussian-learned --out runs/cancer
  vaelab anomaly score runs/cancer --data csv:new_patients.csv --out flags.csv
  vaelab anomaly fit --normal-class 8 --contrast gcn --likelihood gaussian-learned --out runs/eights
  vaelab anomaly score runs/eights --score recon                           # contrast-normalised, as trained""",
    "denoise": """examples:
  vaelab denoise runs/demo --noise gaussian:0.5 --out denoise.png      # noisy, denoised, clean rows
  vaelab denoise runs/demo --noise saltpepper:0.2 --limit 2000 --out sp.png""",
    "inpaint": """examples:
  vaelab inpaint runs/demo --mask left --out inpaint.png               # fill the left half
  vaelab inpaint runs/demo --mask random:0.5 --method iterate --out r.png
  vaelab inpaint runs/demo --mask my_mask.png --out m.png              # white = known, black = fill""",
}


def add_commands(command, add_training_options, ints) -> None:
    a = command("anomaly", "Anomaly detection: fit a model on normal data, then score examples (nats).")
    steps = a.add_subparsers(dest="anomaly_command", required=True, metavar="{fit,score}")
    f = steps.add_parser("fit", help="train on normal examples only and set a threshold",
                         description="Train on normal examples only (the training options of `vaelab train`), "
                                     "then set the score threshold that flags --fpr of held-out normal examples.",
                         epilog=EPILOGS["anomaly"], formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("--out", required=True, help="run folder to create")
    f.add_argument("--normal-class", type=ints, help="the label(s) that are normal (default: all data is normal)")
    _score_options(f)
    add_training_options(f)
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    s = steps.add_parser("score", help="score examples; AUROC and average precision when labels are known",
                         description="Score every example of a split (higher = more anomalous) and flag those "
                                     "above the run's threshold; with labels, print AUROC and average precision.",
                         epilog=EPILOGS["anomaly"], formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("run", help="run folder made by `vaelab anomaly fit` (or any run)")
    s.add_argument("--data", help="data to score (default: the run's own data, every class); csv:FILE scores "
                                  "every row of the file with the run's standardisation")
    s.add_argument("--split", default="test", choices=["train", "val", "test"])
    s.add_argument("--limit", type=int, help="score only the first N examples")
    _score_options(s, defaults=False)
    s.add_argument("--out", help="CSV with one score per example (default RUN/scores.csv)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    d = command("denoise", "Remove noise from test images with the decoder as a prior; PSNR against baselines.")
    d.add_argument("run", help="run folder")
    d.add_argument("--noise", required=True,
                   help="gaussian:SIGMA, saltpepper:P (share of pixels set to 0 or 1) or dropout:P (set to 0)")
    d.add_argument("-n", type=int, default=8, help="examples to draw (default 8)")
    d.add_argument("--limit", type=int, help="measure on the first N test images (default: all)")
    d.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    d.add_argument("--out", help="PNG: noisy, denoised and clean rows (default RUN/denoise.png)")

    i = command("inpaint", "Fill masked pixels by inference in the latent space; error against baselines.")
    i.add_argument("run", help="run folder")
    i.add_argument("--mask", required=True,
                   help="center, left, right, top, bottom, random:P (share missing) or a PNG (white = known)")
    i.add_argument("--method", default="optimize", choices=["optimize", "iterate", "both"],
                   help="optimize: MAP estimate of z from the known pixels (default); iterate: encode-decode "
                        "with the known pixels clamped; both: compare them")
    i.add_argument("--steps", type=int, default=100, help="optimisation steps or iterations (default 100)")
    i.add_argument("-n", type=int, default=8, help="examples to draw (default 8)")
    i.add_argument("--limit", type=int, default=1000, help="measure on the first N test images (default 1000)")
    i.add_argument("--seed", type=int, default=0, help="seed of a random mask (default 0)")
    i.add_argument("--out", help="PNG: masked, inpainted and clean rows (default RUN/inpaint.png)")


def _score_options(p, defaults: bool = True) -> None:
    p.add_argument("--score", choices=["recon", "elbo", "iwae"],
                   help="the statistic: recon(struction error), elbo (negative ELBO, KL included) or iwae "
                        "(-log p(x) bound) (default: elbo for a VAE, recon for an autoencoder" +
                        ("" if defaults else "; or the one the run was fitted with") + ")")
    p.add_argument("--fpr", type=float, help="flag this share of normal held-out examples (default 0.05)"
                   if defaults else "set a new threshold at this false-positive rate on the run's normal "
                                    "validation examples (default: the run's threshold)")
    p.add_argument("--samples", type=int, default=10, help="posterior samples per score (default 10)")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples for --score iwae (default 100)")


def cmd_anomaly(args) -> int:
    return (_anomaly_fit if args.anomaly_command == "fit" else _anomaly_score)(args)


def _anomaly_fit(args) -> int:
    from .apps.anomaly import threshold_at_fpr
    from .cli import given_options, new_run_config
    from .cli_common import load_run
    from .train.checkpoint import atomic_write_text
    from .train.trainer import fit

    fpr = 0.05 if args.fpr is None else args.fpr
    if not 0 < fpr < 1:
        raise VaelabError(f"--fpr must lie strictly between 0 and 1, got {fpr}")
    given = given_options(args)
    if args.normal_class:
        given["data"]["classes"] = tuple(args.normal_class)
    config, data = new_run_config(args, given)
    statistic = args.score or ("elbo" if config.model.stochastic else "recon")
    if statistic != "recon" and not config.model.stochastic:
        raise VaelabError(f"an autoencoder has no posterior, so no {statistic} score; use --score recon")
    if len(data.val) == 0:
        raise VaelabError("the threshold needs held-out normal examples: give a --val-size above 0")
    fit(config, data, args.out, progress=not args.quiet)
    model = load_run(args.out)  # the weights kept (best validation epoch), as `anomaly score` will load them
    scores = _scores(model, config, data.val, statistic, args)
    record = {"normal_classes": list(args.normal_class) if args.normal_class else None, "score": statistic,
              "fpr": fpr, "threshold": threshold_at_fpr(scores, fpr), "samples": args.samples,
              "iwae_k": args.iwae_k, "validation_examples": len(scores)}
    atomic_write_text(Path(args.out) / ANOMALY_FILE, json.dumps(record, indent=2) + "\n")
    print(f"normal data: {config.data.name}{' classes ' + str(record['normal_classes']) if args.normal_class else ''}; "
          f"threshold {record['threshold']:.2f} nats ({statistic}) flags {fpr:.0%} of {len(scores)} normal "
          f"validation examples")
    print(f"run folder: {args.out}  (as vaelab train writes it, plus {ANOMALY_FILE})")
    return 0


def _scores(model, config, x, statistic, args):
    from .apps.anomaly import anomaly_scores
    from .data.datasets import presented

    return anomaly_scores(model, presented(x, config.data.binarize), statistic, samples=args.samples,
                          iwae_k=args.iwae_k)


def _anomaly_score(args) -> int:
    import torch

    from .apps.anomaly import detection_metrics, threshold_at_fpr
    from .cli_common import load_run, writable_path
    from .train.checkpoint import atomic_write_text

    out = writable_path(args.out or Path(args.run) / "scores.csv")
    model = load_run(args.run)
    config = model.run_config
    fitted = _read_fit(args.run)
    statistic = args.score or fitted.get("score") or ("elbo" if config.model.stochastic else "recon")
    x, y = _data_to_score(args, model)
    if args.limit is not None:
        x, y = x[:args.limit], (y[:args.limit] if y is not None else None)
    scores = _scores(model, config, x, statistic, args)
    same = fitted.get("score") == statistic and fitted.get("samples") == args.samples and args.fpr is None
    if same:
        threshold, origin = fitted["threshold"], f"the run's ({fitted['fpr']:.0%} of normal validation examples)"
    else:
        fpr = 0.05 if args.fpr is None else args.fpr
        normal_val = _own_data(config, keep_classes=True).val
        threshold = threshold_at_fpr(_scores(model, config, normal_val, statistic, args), fpr)
        origin = f"set now at {fpr:.0%} of the run's {len(normal_val)} normal validation examples"
    flagged = scores > threshold
    normal = fitted.get("normal_classes")
    is_anomaly = (~torch.isin(y, torch.tensor(normal))) if (y is not None and normal) else None
    lines = ["index,score,flagged" + (",label,anomaly" if is_anomaly is not None else "")]
    for i in range(len(scores)):
        row = f"{i},{scores[i]:.6f},{int(flagged[i])}"
        if is_anomaly is not None:
            row += f",{int(y[i])},{int(is_anomaly[i])}"
        lines.append(row)
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"{len(scores)} examples scored with {statistic} (nats; higher = more anomalous)")
    print(f"threshold {threshold:.2f}, {origin}: {int(flagged.sum())} flagged ({float(flagged.float().mean()):.1%})")
    if is_anomaly is not None:
        m = detection_metrics(scores, is_anomaly)
        print(f"labels known ({m['anomalies']} anomalies of {m['n']}): AUROC {m['auroc']:.4f}, "
              f"average precision {m['average_precision']:.4f}")
        caught = flagged & is_anomaly
        print(f"at the threshold: {int(caught.sum())} of {int(is_anomaly.sum())} anomalies flagged, "
              f"{int((flagged & ~is_anomaly).sum())} of {int((~is_anomaly).sum())} normal examples flagged")
    print(f"wrote {out}")
    return 0


def _read_fit(run) -> dict:
    path = Path(run) / ANOMALY_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise VaelabError(f"{path} is not valid JSON ({e})") from None


def _own_data(config, keep_classes: bool, run_dir=None):
    import dataclasses

    from .data import load_splits

    data_config = config.data if keep_classes else dataclasses.replace(config.data, classes=None)
    data = load_splits(data_config)
    if data.standardization is not None and not keep_classes:  # every class, scaled as the run was trained
        from .data.table import restandardize
        from .train.run import STANDARDIZATION

        data = restandardize(data, json.loads((Path(run_dir) / STANDARDIZATION).read_text()))
    return data


def _data_to_score(args, model):
    """(x, labels) to score: the run's own data over every class, or another dataset of the same kind."""
    config = model.run_config
    if args.data is None:
        return _own_data(config, keep_classes=False, run_dir=args.run).split(args.split)
    from .cli_common import data_spec

    name, path = data_spec(args.data)
    if name == "csv":
        x, y = _other_table(args.run, config, path)
    else:
        from .config import DataConfig
        from .data import load_splits

        x, y = load_splits(DataConfig(name=name, path=path, val_size=config.data.val_size,
                                      binarize=config.data.binarize, contrast=config.data.contrast)).split(args.split)
    if tuple(x.shape[1:]) != tuple(model.shape):
        raise VaelabError(f"{args.data} has examples of shape {tuple(x.shape[1:])}, but the run was trained on "
                          f"{tuple(model.shape)}: score data of the kind the run was trained on")
    return x, y


def _other_table(run, config, path):
    """Every row of another CSV, with the run's columns and standardisation."""
    import torch

    from .data.table import read_table, standardize
    from .train.run import STANDARDIZATION

    stats_path = Path(run) / STANDARDIZATION
    if config.data.name != "csv" or not stats_path.is_file():
        raise VaelabError(f"{run} was not trained on a CSV table, so it cannot score one")
    stats = json.loads(stats_path.read_text())
    label_column = config.data.label_column
    features, values, labels, _ = read_table(path, config.data.ignore or (), None)
    if label_column in features:  # labels, when the new file has the column
        _, values, labels, _ = read_table(path, config.data.ignore or (), label_column)
        features = [f for f in features if f != label_column]
    if features != stats["columns"]:
        raise VaelabError(f"{path} has columns {features}; the run was trained on {stats['columns']}")
    return standardize(values, stats), (torch.from_numpy(labels) if labels is not None else None)


def _test_images(args):
    from .cli_common import load_run
    from .data import load_splits

    model = load_run(args.run)
    if model.conditional:
        raise VaelabError("denoising and inpainting take unconditional runs; this run is conditional")
    if model.run_config.data.contrast != "none":
        raise VaelabError("denoising and inpainting work on pixels in [0, 1]; this run was trained on "
                          f"contrast-normalised images (--contrast {model.run_config.data.contrast})")
    data = load_splits(model.run_config.data)
    x, y = data.split("test")
    if args.n < 1:
        raise VaelabError(f"-n must be at least 1, got {args.n}")
    if args.limit is not None:
        if args.limit < 1:
            raise VaelabError(f"--limit must be at least 1, got {args.limit}")
        x, y = x[:args.limit], (y[:args.limit] if y is not None else None)
    return model, data, x, y


def _rows_picture(rows, n, path):
    import torch

    from .cli_common import as_images
    from .viz.grid import save_grid

    n = min(n, len(rows[0]))
    return save_grid(as_images(torch.cat([r[:n] for r in rows])), path, nrow=n)


def cmd_denoise(args) -> int:
    import torch

    from .apps.corruption import add_noise, parse_noise, psnr
    from .apps.restore import denoise, median_filter
    from .cli_common import writable_path

    kind, level = parse_noise(args.noise)  # a bad spec fails before any data is loaded
    out = writable_path(args.out or Path(args.run) / "denoise.png")
    model, _, x, _ = _test_images(args)
    noisy = add_noise(x, args.noise, torch.Generator().manual_seed(args.seed))
    sigma = level if kind == "gaussian" else None  # the known noise level, else estimated from the data
    cleaned = denoise(model, noisy, "map", sigma=sigma)
    figures = {"noisy input": psnr(noisy, x),
               "VAE, MAP z under Gaussian noise": psnr(cleaned, x),
               "VAE, decoded posterior mean": psnr(denoise(model, noisy, "encode"), x),
               "median filter 3x3 (SciPy)": psnr(median_filter(noisy), x)}
    print(f"PSNR against the clean images, {len(x)} test images, noise {args.noise} (higher is better):")
    for name, values in figures.items():
        print(f"  {name:<34} {values.mean():6.2f} dB")
    gain = float(figures["VAE, MAP z under Gaussian noise"].mean() - figures["noisy input"].mean())
    print(f"the VAE (MAP) gains {gain:+.2f} dB over the noisy input"
          + (" (noise model sigma estimated from the data)" if sigma is None else f" (noise model sigma {sigma:g})"))
    print(f"wrote {_rows_picture([noisy, cleaned, x], args.n, out)} (rows: noisy, denoised, clean)")
    return 0


def cmd_inpaint(args) -> int:
    import torch

    from .apps.corruption import make_mask
    from .apps.restore import inpaint, masked_error, mean_image_fill, nearest_neighbour_fill
    from .cli_common import writable_path

    if args.steps < 1:
        raise VaelabError(f"--steps must be at least 1, got {args.steps}")
    out = writable_path(args.out or Path(args.run) / "inpaint.png")
    model, data, x, y = _test_images(args)
    if len(model.shape) != 3:
        raise VaelabError(f"inpainting needs images; this run's examples have shape {tuple(model.shape)}")
    known = make_mask(args.mask, tuple(model.shape), torch.Generator().manual_seed(args.seed), n=len(x))
    if known.all():
        raise VaelabError(f"mask {args.mask!r} leaves nothing to fill")
    methods = ["optimize", "iterate"] if args.method == "both" else [args.method]
    filled = {m: inpaint(model, x, known, method=m, steps=args.steps) for m in methods}
    shown = torch.where(known, x, torch.full_like(x, 0.5))  # missing pixels drawn mid-grey
    baselines = {"mean training image": mean_image_fill(data.train, x, known)}
    fixed = bool((known == known[:1]).all())
    if fixed:
        baselines["nearest training image on the known pixels"] = nearest_neighbour_fill(data.train, x, known)
    print(f"mean squared error over the missing pixels, {len(x)} test images, mask {args.mask} "
          f"({float((~known).float().mean()):.0%} missing; lower is better):")
    for m, image in filled.items():
        label = "VAE, optimised z (MAP)" if m == "optimize" else "VAE, iterated encode-decode"
        print(f"  {label:<44} {masked_error(image, x, known):.4f}")
    for name, image in baselines.items():
        print(f"  {name:<44} {masked_error(image, x, known):.4f}")
    if not fixed:
        print("  (the nearest-neighbour baseline needs one mask for all images; a random mask differs per image)")
    _classifier_figures(model, y, torch.where(known, x, torch.zeros_like(x)), filled)
    rows = [shown, *filled.values(), x]
    print(f"wrote {_rows_picture(rows, args.n, out)} (rows: masked, {', '.join(methods)}, clean)")
    return 0


def _classifier_figures(model, y, masked, filled) -> None:
    """For MNIST runs: does the digit classifier read the inpainted digits better than the masked ones?"""
    if y is None or model.run_config.data.name != "mnist":
        return
    from .metrics.classifier import digit_classifier

    judge = digit_classifier()
    accuracy = lambda images: float((judge.predict(images) == y).float().mean())  # noqa: E731
    print("digit classifier accuracy:")
    print(f"  {'masked images (missing pixels black)':<44} {accuracy(masked):.1%}")
    for m, image in filled.items():
        print(f"  {'inpainted, ' + m:<44} {accuracy(image):.1%}")


COMMANDS = {"anomaly": cmd_anomaly, "denoise": cmd_denoise, "inpaint": cmd_inpaint}
