"""Attribute vectors: mean(z | with attribute) - mean(z | without), added to codes as z + alpha v.

The attribute can come from labels ("label:7" vs every other digit), from a CelebA-style attribute
file for an image folder, or from a measured property of the images such as ink (mean pixel value,
a proxy for stroke thickness): the top quartile has it, the bottom quartile lacks it.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError, excerpt

PROPERTIES = {
    "ink": lambda x: x.flatten(1).mean(-1),  # mean intensity: thicker strokes carry more ink
}


def measure(name: str, x: Tensor) -> Tensor:
    if name not in PROPERTIES:
        raise InputError(f"unknown property {excerpt(name)}; choose one of: {', '.join(PROPERTIES)}")
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


def attribute_masks(name: str, x: Tensor, y: Tensor | None = None, files: list[str] | None = None,
                    attributes_file: str | None = None) -> tuple[Tensor, Tensor]:
    """(with, without) masks over examples x for an attribute named as `vaelab attribute` takes it:
    "label:C" (class C against every other), a column of a CelebA-style `attributes_file` (matched
    by the examples' `files`), or a measured property (its top quartile against its bottom one)."""
    if name.startswith("label:"):
        if y is None:
            raise InputError("this data has no labels, so label:C is not an attribute here", "attribute")
        try:
            c = int(name[len("label:"):])
        except ValueError:
            raise InputError(f"expected label:N with an integer N, got {excerpt(name)}", "attribute") from None
        if not (y == c).any():
            raise InputError(f"no training example has label {c} (labels are {int(y.min())}..{int(y.max())})",
                             "attribute")
        return y == c, y != c
    if attributes_file:
        from ..data.folder import attribute_mask, read_attribute_file

        if not files:
            raise InputError("an attributes file needs a run trained on an image folder (folder:DIR)",
                             "attributes_file")
        has = attribute_mask(*read_attribute_file(attributes_file), name, files)
        return has, ~has
    if name in PROPERTIES:
        return quartile_masks(measure(name, x))
    raise InputError(f"unknown attribute {excerpt(name)}: use label:C, one of the properties "
                     f"({', '.join(PROPERTIES)}), or a column of {{attributes_file}}", "attribute")


@torch.no_grad()
def attribute_effect(model, x: Tensor, y: Tensor | None, v: Tensor, alphas: list[float], prop: str = "ink",
                     judge=None) -> list[dict]:
    """How decoded images change along z + alpha v, over examples x: per alpha, the mean of a measured
    property and, with a classifier `judge` and labels y, the share still read as their own class."""
    y_cond = y if model.conditional else None
    z, _ = model.encode_all(x, y_cond)
    decoded = apply_vector(model, z, v, alphas, y_cond)  # (N, A, *shape)
    out = []
    for j, alpha in enumerate(alphas):
        images = decoded[:, j]
        row = {"alpha": alpha, prop: float(measure(prop, images).mean())}
        if judge is not None and y is not None:
            row["class_kept"] = float((judge.predict(images) == y).float().mean())
        out.append(row)
    return out


def attribute_walk(model, splits, attribute: str, examples: list[int], alphas: list[float],
                   attributes_file: str | None = None, train_examples: int = 10_000, progress: bool = False) -> dict:
    """The attribute vector v from (up to `train_examples`) training codes, and test examples walked
    along it: {"vector", "with", "without" (how many codes had it or not), "rows": (len(examples),
    len(alphas), *shape) decoded z + alpha v}. `attribute` as `attribute_masks` takes it. `progress`:
    of encoding the training examples, the long part."""
    x_train, y_train = (t[:train_examples] if t is not None else None for t in splits.split("train"))
    files = splits.files["train"][:train_examples] if splits.files else None
    with_a, without_a = attribute_masks(attribute, x_train, y_train, files, attributes_file)
    mu, _ = model.encode_all(x_train, y_train, progress=progress, desc=f"encode {len(x_train)} train examples")
    v = attribute_vector(mu, with_a, without_a)
    x_test, y_test = splits.split("test")
    for i in examples:
        if not 0 <= i < len(x_test):
            raise InputError(f"example {i} is outside the test split (0..{len(x_test) - 1})", "examples")
    y_picked = y_test[list(examples)] if model.conditional else None
    z, _ = model.encode_all(x_test[list(examples)], y_picked)
    return {"vector": v, "with": int(with_a.sum()), "without": int(without_a.sum()),
            "rows": apply_vector(model, z, v, alphas, y_picked)}
