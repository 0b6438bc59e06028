"""Denoising and inpainting by inference in the latent space, with the baselines they are judged against.

Denoising: the decoder as a prior over clean images: the MAP code under a Gaussian noise model
(default), or simply the decoded posterior mean of the noisy image.

Inpainting, two ways (both offered, `method`):
* "iterate": fill the missing pixels, encode, decode, put the known pixels back, and repeat
  (a fixed-point iteration, the classic autoencoder trick; Rezende et al. 2014 use its sampling form);
* "optimize": find z maximising log p(x_known | z) + log N(z; 0, I) by gradient ascent, started
  from the encoder's guess, then decode the missing pixels: a MAP estimate that uses exactly the
  known pixels' likelihood, not the encoder's reading of a filled-in image.
The known pixels are always returned unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..model import seeded
from ..progress import progress_bar

METHODS = ("iterate", "optimize")


DENOISERS = ("map", "encode")


MAX_STEPS = 10_000  # optimisation steps or iterations: a hundred times the default


def denoise(model, x_noisy: Tensor, method: str = "map", sigma: float | None = None, steps: int = 150,
            lr: float = 0.05, batch_size: int = 500, progress: bool = False) -> Tensor:
    """Clean images from noisy ones, two ways (`progress`: count the MAP estimate's steps):

    * "encode": decode the posterior mean of the noisy image, decode(mu(x_noisy)): the encoder has
      only seen clean digits and is easily misled by noise it never saw;
    * "map" (default): the MAP estimate of z under a Gaussian noise model, maximising
      -|x_noisy - decode(z)|^2 / (2 sigma^2) + log N(z; 0, I) from the encoder's guess, then decode(z).
      sigma is the noise level if known, else estimated as the RMS difference between the noisy
      images and their "encode" reconstructions.

    Example:
        >>> clean = denoise(vaelab.load("runs/demo"), noisy, sigma=0.5)   # noisy (N, 1, 28, 28) -> (N, 1, 28, 28)
    """
    if method not in DENOISERS:
        raise InputError(f"unknown denoising method {method!r}; choose one of: {', '.join(DENOISERS)}")
    if not 1 <= steps <= MAX_STEPS:
        raise InputError(f"denoising takes 1..{MAX_STEPS:,} steps, got {steps}", "steps")
    if method == "encode" or sigma is None:  # the MAP estimate with a known sigma needs no such pass
        with torch.no_grad():
            encoded = torch.cat([model.reconstruct(x_noisy[i:i + batch_size])
                                 for i in range(0, len(x_noisy), batch_size)]).to(x_noisy.device)
        if method == "encode":
            return encoded
        sigma = float((x_noisy - encoded).pow(2).mean().sqrt())
    if not sigma > 0:
        raise InputError(f"the noise level must be > 0, got {sigma}")
    out = []
    with _steps_bar(len(x_noisy), batch_size, steps, "denoise (MAP)", progress) as bar:
        for i in range(0, len(x_noisy), batch_size):
            xb = x_noisy[i:i + batch_size]
            fit = lambda z, xb=xb: -(xb - model.network.px(z).mean).pow(2).flatten(1).sum(-1) / (2 * sigma**2)  # noqa: E731
            z = map_latent(model, xb, fit, steps, lr, bar.update)
            with torch.no_grad():
                out.append(model.network.px(z).mean)
    return torch.cat(out)


def _steps_bar(n: int, batch_size: int, steps: int, desc: str, progress: bool):
    """Progress over every batch's optimisation steps: the unit that takes the time."""
    return progress_bar(-(-n // batch_size) * steps, desc, progress, unit="step", lines=True)


def map_latent(model, x_start: Tensor, log_likelihood, steps: int, lr: float, on_step=None) -> Tensor:
    """z* = argmax log_likelihood(z) + log N(z; 0, I) by Adam, started at the encoder's mean of x_start.

    `log_likelihood(z)` returns one value per example; the model's weights stay fixed. `on_step()`, if
    given, is called after each step (a progress bar's update)."""
    with torch.no_grad():
        z0, _ = model.encode(x_start)
    z = z0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    network = model.network
    was_training = network.training
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            objective = log_likelihood(z) - 0.5 * (z**2).sum(-1)
            optimizer.zero_grad(set_to_none=True)
            (-objective.sum()).backward()
            optimizer.step()
            if on_step is not None:
                on_step()
    finally:
        for p in network.parameters():
            p.requires_grad_(True)
        network.train(was_training)
    return z.detach()


def median_filter(x: Tensor, size: int = 3) -> Tensor:
    """The classic baseline: each pixel replaced by the median of its size x size neighbourhood (SciPy)."""
    from scipy.ndimage import median_filter as scipy_median

    footprint = (1,) * (x.dim() - 2) + (size, size)  # filter within each image and channel only
    return torch.from_numpy(scipy_median(x.cpu().numpy(), size=footprint, mode="reflect")).to(x)


def inpaint(model, x: Tensor, known: Tensor, method: str = "optimize", steps: int = 100, lr: float = 0.05,
            batch_size: int = 500, start: Tensor | None = None, progress: bool = False) -> Tensor:
    """Fill the pixels where `known` is False; `start` (default 0.5 grey) fills them before the first pass.
    `progress`: count the steps or iterations (a bar, or a line now and then in a log).

    Example:
        >>> known = torch.ones(1, 28, 28, dtype=torch.bool); known[:, :, :14] = False   # the left half missing
        >>> filled = inpaint(vaelab.load("runs/demo"), x, known)                          # x (N, 1, 28, 28)
    """
    if method not in METHODS:
        raise InputError(f"unknown inpainting method {method!r}; choose one of: {', '.join(METHODS)}")
    if not 1 <= steps <= MAX_STEPS:
        raise InputError(f"inpainting takes 1..{MAX_STEPS:,} steps, got {steps}", "steps")
    known = known.to(x.device).expand_as(x)
    fill = torch.full_like(x, 0.5) if start is None else start.to(x).expand_as(x)
    chunks = []
    with _steps_bar(len(x), batch_size, steps, f"inpaint ({method})", progress) as bar:
        for i in range(0, len(x), batch_size):
            xb, kb, fb = x[i:i + batch_size], known[i:i + batch_size], fill[i:i + batch_size]
            run = _iterate if method == "iterate" else _optimize
            chunks.append(run(model, xb, kb, fb, steps, lr, bar.update))
    return torch.cat(chunks)


@torch.no_grad()
def _iterate(model, x, known, fill, steps, lr, on_step):
    current = torch.where(known, x, fill)
    for _ in range(steps):
        current = torch.where(known, x, model.reconstruct(current))
        on_step()
    return current


def _optimize(model, x, known, fill, steps, lr, on_step):
    mask = known.to(x.dtype)
    px = model.network.px
    z = map_latent(model, torch.where(known, x, fill), lambda z: px(z).log_prob(x, mask), steps, lr, on_step)
    with torch.no_grad():
        return torch.where(known, x, px(z).mean)


def mean_image_fill(train: Tensor, x: Tensor, known: Tensor) -> Tensor:
    """Baseline: the training set's mean image in the missing pixels."""
    return torch.where(known.expand_as(x), x, train.mean(0, keepdim=True).expand_as(x))


def nearest_neighbour_fill(train: Tensor, x: Tensor, known: Tensor) -> Tensor:
    """Baseline: the missing pixels of the training image nearest on the known pixels (scikit-learn).

    The mask must be the same for every example (the known pixels define one search space)."""
    from sklearn.neighbors import NearestNeighbors

    known = known.expand_as(x)
    shared = known[0]
    if not bool((known == shared).all()):
        raise InputError("the nearest-neighbour baseline needs one mask for every example")
    cols = shared.flatten().cpu().numpy()
    flat_train, flat_x = train.flatten(1).cpu().numpy(), x.flatten(1).cpu().numpy()
    index = NearestNeighbors(n_neighbors=1).fit(flat_train[:, cols])
    nearest = index.kneighbors(flat_x[:, cols], return_distance=False)[:, 0]
    donors = torch.from_numpy(np.ascontiguousarray(flat_train[nearest])).reshape(x.shape).to(x)
    return torch.where(known, x, donors)


def masked_error(estimate: Tensor, clean: Tensor, known: Tensor) -> float:
    """Mean squared error over the missing pixels only."""
    missing = ~known.expand_as(clean)
    return float(((estimate - clean) ** 2)[missing].mean())


# --- the comparisons `vaelab denoise` and `vaelab inpaint` report --------------------------------------------
def check_restorable(model) -> None:
    """Restoration works on unconditional models of pixels in [0, 1]."""
    if model.conditional:
        raise InputError("denoising and inpainting take unconditional runs; this run is conditional")
    if model.config.data.contrast != "none":
        raise InputError("denoising and inpainting work on pixels in [0, 1]; this run was trained on "
                         f"contrast-normalised images ({{contrast}} {model.config.data.contrast})")


def denoising_comparison(model, x: Tensor, noise: str, seed: int = 0, progress: bool = False) -> dict:
    """Corrupt clean images x with `noise` (vaelab.apps.corruption), clean them with the VAE two ways and
    with a median filter; PSNR (dB, per image) of each against the clean images. `progress`: of the MAP
    estimate, the long part."""
    from .corruption import add_noise, parse_noise, psnr

    check_restorable(model)
    kind, level = parse_noise(noise)
    noisy = add_noise(x, noise, seeded(seed))
    sigma = level if kind == "gaussian" else None  # the known noise level, else estimated from the data
    cleaned = denoise(model, noisy, "map", sigma=sigma, progress=progress)
    figures = {"noisy input": psnr(noisy, x),
               "VAE, MAP z under Gaussian noise": psnr(cleaned, x),
               "VAE, decoded posterior mean": psnr(denoise(model, noisy, "encode"), x),
               "median filter 3x3 (SciPy)": psnr(median_filter(noisy), x)}
    return {"noisy": noisy, "cleaned": cleaned, "sigma": sigma, "psnr": figures}


def inpainting_comparison(model, x: Tensor, train: Tensor, mask: str, methods: list[str], steps: int = 100,
                          seed: int = 0, progress: bool = False) -> dict:
    """Hide pixels of x by `mask` (vaelab.apps.corruption.make_mask), fill them with each VAE method and
    the baselines (the training set's mean image; its nearest image on the known pixels, where one
    mask serves all images); mean squared error over the missing pixels of each. `progress`: of each
    VAE method's steps."""
    from .corruption import make_mask

    check_restorable(model)
    if not 1 <= steps <= MAX_STEPS:
        raise InputError(f"inpainting takes 1..{MAX_STEPS:,} steps, got {steps}", "steps")
    if len(model.shape) != 3:
        raise InputError(f"inpainting needs images; this run's examples have shape {tuple(model.shape)}")
    known = make_mask(mask, tuple(model.shape), seeded(seed), n=len(x))
    if known.all():
        raise InputError(f"mask {mask!r} leaves nothing to fill", "mask")
    filled = {m: inpaint(model, x, known, method=m, steps=steps, progress=progress) for m in methods}
    baselines = {"mean training image": mean_image_fill(train, x, known)}
    fixed = bool((known == known[:1]).all())
    if fixed and bool(known.any()):  # a mask that hides every pixel leaves nothing to match neighbours on
        baselines["nearest training image on the known pixels"] = nearest_neighbour_fill(train, x, known)
    errors = {name: masked_error(image, x, known) for name, image in {**filled, **baselines}.items()}
    return {"known": known, "filled": filled, "baselines": baselines, "errors": errors, "fixed_mask": fixed}
