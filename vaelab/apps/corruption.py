"""Noise and masks that corrupt images, parsed from short specs, and PSNR to measure the damage.

Noise specs: gaussian:SIGMA (additive, clipped to [0, 1]), saltpepper:P (a share P of the pixels
set to 0 or 1 at random), dropout:P (a share P set to 0). Mask specs, True where a pixel is
known: center, left, right, top, bottom (half or centre square missing), random:P (a share P
missing), or a PNG file (white = known) of the images' size.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from ..errors import InputError

NOISES = ("gaussian", "saltpepper", "dropout")
MASKS = ("center", "left", "right", "top", "bottom", "random")


def _spec(spec: str, kinds: tuple[str, ...], what: str) -> tuple[str, float | None]:
    kind, _, value = spec.partition(":")
    if kind not in kinds:
        forms = ", ".join(k + (":X" if k in NOISES or k == "random" else "") for k in kinds)
        raise InputError(f"unknown {what} {spec!r}; choose one of: {forms}")
    if not value:
        return kind, None
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{what} {spec!r}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(f"{what} {spec!r}: the value must be finite and >= 0")
    return kind, number


def parse_noise(spec: str) -> tuple[str, float]:
    kind, value = _spec(spec, NOISES, "noise")
    if value is None:
        raise InputError(f"noise {spec!r} needs a level, e.g. {kind}:0.5")
    if kind != "gaussian" and value > 1:
        raise InputError(f"noise {spec!r}: a share of pixels must lie in [0, 1]")
    return kind, value


def add_noise(x: Tensor, spec: str, generator: torch.Generator | None = None) -> Tensor:
    """A corrupted copy of images x in [0, 1]."""
    kind, level = parse_noise(spec)
    if kind == "gaussian":
        return (x + level * torch.randn(x.shape, generator=generator, device=x.device)).clamp(0, 1)
    hit = torch.rand(x.shape, generator=generator, device=x.device) < level
    if kind == "dropout":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def make_mask(spec: str, shape: tuple[int, ...], generator: torch.Generator | None = None, n: int = 1) -> Tensor:
    """(n, *shape) boolean, True where the pixel is known. Fixed masks are the same for every example."""
    c, h, w = shape
    path = Path(spec)
    if spec.lower().endswith(".png") or path.is_file():
        return _mask_file(path, (h, w)).expand(n, c, h, w).clone()
    kind, value = _spec(spec, MASKS, "mask")
    known = torch.ones(n, c, h, w, dtype=torch.bool)
    if kind == "random":
        if value is None or value > 1:
            raise InputError(f"mask {spec!r}: give the missing share in [0, 1], e.g. random:0.5")
        return torch.rand((n, 1, h, w), generator=generator) >= value if c == 1 else \
            (torch.rand((n, 1, h, w), generator=generator) >= value).expand(n, c, h, w).clone()
    if value is not None:
        raise InputError(f"mask {spec!r} takes no value")
    if kind == "center":
        known[..., h // 4:h - h // 4, w // 4:w - w // 4] = False
    elif kind == "left":
        known[..., :, :w // 2] = False
    elif kind == "right":
        known[..., :, w // 2:] = False
    elif kind == "top":
        known[..., :h // 2, :] = False
    else:  # bottom
        known[..., h // 2:, :] = False
    return known


def _mask_file(path: Path, size: tuple[int, int]) -> Tensor:
    from ..data.folder import image_header, read_image

    if not path.is_file():
        raise InputError(f"mask file not found: {path}")
    _, (width, height) = image_header(path)  # the image formats and size limit of image folders
    if (height, width) != size:
        raise InputError(f"mask {path} is {width}x{height} pixels; the images are {size[1]}x{size[0]}")
    known = read_image(path, (1, *size))[0] > 0.5
    if known.all():
        raise InputError(f"mask {path} marks every pixel as known (white = known, black = to fill)")
    return known


def psnr(estimate: Tensor, clean: Tensor) -> Tensor:
    """Peak signal-to-noise ratio per image in dB, for pixels in [0, 1] (peak 1): -10 log10(MSE)."""
    mse = (estimate - clean).pow(2).flatten(1).mean(-1).clamp_min(1e-10)
    return -10 * torch.log10(mse)
