"""Attribute vectors: mean(z | with attribute) - mean(z | without), added to codes as z + alpha v.

The attribute can come from labels ("label:7" vs every other digit), from a CelebA-style attribute
file for an image folder, or from a measured property of the images such as ink (mean pixel value,
a proxy for stroke thickness): the top quartile has it, the bottom quartile lacks it.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError

PROPERTIES = {
    "ink": lambda x: x.flatten(1).mean(-1),  # mean intensity: thicker strokes carry more ink
}


def measure(name: str, x: Tensor) -> Tensor:
    if name not in PROPERTIES:
        raise InputError(f"unknown property {name!r}; choose one of: {', '.join(PROPERTIES)}")
    return PROPERTIES[name](x)


def quartile_masks(values: Tensor, quantile: float = 0.25) -> tuple[Tensor, Tensor]:
    """(with, without): the top and the bottom `quantile` of the values."""
    low, high = torch.quantile(values.double(), torch.tensor([quantile, 1 - quantile], dtype=torch.float64))
    return values.double() >= high, values.double() <= low


def attribute_vector(mu: Tensor, with_attribute: Tensor, without_attribute: Tensor) -> Tensor:
    """(N, L) codes and two boolean masks -> (L,): the difference of the two groups' mean codes."""
    if not with_attribute.any() or not without_attribute.any():
        raise InputError(f"an attribute vector needs examples with and without the attribute "
                         f"(got {int(with_attribute.sum())} with, {int(without_attribute.sum())} without)")
    return mu[with_attribute].mean(0) - mu[without_attribute].mean(0)


@torch.no_grad()
def apply_vector(model, z: Tensor, v: Tensor, alphas: list[float], y: Tensor | None = None) -> Tensor:
    """Decode z + alpha v for each code and alpha: (len(z), len(alphas), *shape)."""
    a = torch.tensor(alphas, dtype=z.dtype, device=z.device)
    shifted = z[:, None, :] + a[None, :, None] * v.to(z.device)  # (N, A, L)
    if y is not None:
        y = torch.as_tensor(y).reshape(-1, 1).expand(-1, len(alphas)).reshape(-1)
    images = model.decode(shifted.reshape(-1, z.shape[-1]), y)
    return images.reshape(len(z), len(alphas), *images.shape[1:])


def is_monotonic(values: list[float], increasing: bool = True) -> bool:
    pairs = zip(values, values[1:])
    return all(b > a for a, b in pairs) if increasing else all(b < a for a, b in pairs)
