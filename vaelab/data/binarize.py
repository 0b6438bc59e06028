"""Binarization: what a Bernoulli likelihood sees of grey-level images.

Dynamic binarization draws each pixel afresh from its grey level every time an image is seen in
training; reports use one fixed draw (seed `TEST_BINARIZATION_SEED`), the set every published
likelihood refers to.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..shard import rand_rows, random_bytes_rows

TEST_BINARIZATION_SEED = 0  # the fixed binarized test set every report uses


def presented(x: Tensor, binarization: str, generator: torch.Generator | None = None) -> Tensor:
    """What the likelihood sees: with dynamic binarization, a fresh draw when training (a generator is
    given) and the fixed draw for validation and reports."""
    if binarization != "dynamic":
        return x
    return binarize(x, generator) if generator is not None else fixed_binarization(x)


def binarize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One Bernoulli draw per pixel with the grey level as its probability.

    u < p with u ~ U[0, 1) on float32's 2^-24 grid: exact to float32's own resolution of p, and
    cheaper than torch.bernoulli.
    """
    u = rand_rows(tuple(x.shape), generator, x.device, x.dtype)
    return (u < x).to(x.dtype)


def byte_levels(x: Tensor) -> Tensor | None:
    """x as uint8 numerators k of k/256 when every value lies on that grid (MNIST's cache does), else None."""
    k = x * 256
    if x.is_floating_point() and len(x) and bool(((k == k.round()) & (k >= 0) & (k <= 255)).all()):
        return k.to(torch.uint8)
    return None


def binarize_levels(levels: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One Bernoulli draw per pixel with probability k/256 exactly, for uint8 levels k.

    A pixel is on when a uniform random byte is below k. The bytes come eight to a 64-bit draw
    (the full int64 range, so every bit is uniform): a quarter of the generator calls of
    `binarize`, which matters where the random numbers are the dearest part of a small model's step.
    """
    noise = random_bytes_rows(tuple(levels.shape), generator, levels.device)
    return (noise < levels).to(torch.float32)


def fixed_binarization(x: Tensor, seed: int = TEST_BINARIZATION_SEED) -> Tensor:
    """The same binarized copy every time: the set a reported likelihood refers to."""
    return binarize(x.cpu(), torch.Generator(device="cpu").manual_seed(seed)).to(x.device)
