"""The application commands: denoise and inpaint (vaelab.apps), each printed against its baselines."""
from __future__ import annotations

from pathlib import Path

from .errors import VaelabError

EPILOGS = {
    "denoise": """examples:
  vaelab denoise runs/demo --noise gaussian:0.5 --out denoise.png      # noisy, denoised, clean rows
  vaelab denoise runs/demo --noise saltpepper:0.2 --limit 2000 --out sp.png""",
    "inpaint": """examples:
  vaelab inpaint runs/demo --mask left --out inpaint.png               # fill the left half
  vaelab inpaint runs/demo --mask random:0.5 --method iterate --out r.png
  vaelab inpaint runs/demo --mask my_mask.png --out m.png              # white = known, black = fill""",
}


def add_commands(command) -> None:
    d = command("denoise", "Remove noise from test images by encoding and decoding them; PSNR against baselines.")
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


def _test_images(args):
    from .cli_common import load_run
    from .data import load_splits

    model = load_run(args.run)
    if model.conditional:
        raise VaelabError("denoising and inpainting take unconditional runs; this run is conditional")
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

    parse_noise(args.noise)  # a bad spec fails before any data is loaded
    out = writable_path(args.out or Path(args.run) / "denoise.png")
    model, _, x, _ = _test_images(args)
    noisy = add_noise(x, args.noise, torch.Generator().manual_seed(args.seed))
    cleaned, median = denoise(model, noisy), median_filter(noisy)
    figures = {"noisy input": psnr(noisy, x), "VAE (decoded posterior mean)": psnr(cleaned, x),
               "median filter 3x3 (SciPy)": psnr(median, x)}
    print(f"PSNR against the clean images, {len(x)} test images, noise {args.noise} (higher is better):")
    for name, values in figures.items():
        print(f"  {name:<30} {values.mean():6.2f} dB")
    gain = float(figures["VAE (decoded posterior mean)"].mean() - figures["noisy input"].mean())
    print(f"the VAE gains {gain:+.2f} dB over the noisy input")
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


COMMANDS = {"denoise": cmd_denoise, "inpaint": cmd_inpaint}
