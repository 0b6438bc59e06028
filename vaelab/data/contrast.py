"""Global contrast normalisation (`--contrast gcn`): each image's own offset and scale taken out.

x -> (x - mean(x)) / mean(|x - mean(x)|), per image, over all its pixels: the L1 form that Ruff et
al. 2018 use before one-class MNIST anomaly detection. A thin digit and a heavy one then carry the
same total contrast, so a reconstruction error no longer favours images with little ink (a model of
8s reconstructs a 1 with a small squared error simply because a 1 has few bright pixels). It needs
no statistics from the data, so new images are normalised the same way without anything saved.
The result is no longer in [0, 1]: use a Gaussian likelihood.
"""
from __future__ import annotations

import torch
from torch import Tensor

# An image whose mean absolute deviation is below this is flat (every pixel equal, up to float
# rounding, which would otherwise be blown up to +-1) and becomes all zeros.
_FLAT = 1e-6


def global_contrast_normalize(x: Tensor) -> Tensor:
    """(N, *shape) -> the same shape, each example centred and divided by its mean absolute deviation."""
    flat = x.flatten(1)
    centred = flat - flat.mean(1, keepdim=True)
    scale = centred.abs().mean(1, keepdim=True)
    return torch.where(scale > _FLAT, centred / scale.clamp_min(_FLAT), 0.0).view_as(x)


def with_contrast(x: Tensor, contrast: str) -> Tensor:
    return global_contrast_normalize(x) if contrast == "gcn" else x
