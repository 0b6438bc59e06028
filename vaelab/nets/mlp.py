"""Fully connected encoder/decoder. With no hidden layers both are linear maps (probabilistic PCA)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..registry import Architecture, architectures


def _stack(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """`cond_features` extra inputs (a conditional VAE's one-hot label) join the flattened pixels."""

    def __init__(self, shape: tuple[int, ...], hidden: tuple[int, ...], out_features: int, cond_features: int = 0):
        super().__init__()
        self.net = _stack([math.prod(shape) + cond_features, *hidden, out_features])

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:  # (B, *shape) -> (B, out_features)
        h = x.flatten(1)
        return self.net(h if cond is None else torch.cat([h, cond], -1))


class MLPDecoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], hidden: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.shape = shape
        self.net = _stack([latent_dim, *reversed(hidden), math.prod(shape)])

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:  # (..., L) -> (..., *shape)
        return self.net(z).unflatten(-1, self.shape)  # deterministic: no use for the generator


def build_mlp(config, out_features: int):
    return (
        MLPEncoder(config.shape, config.hidden, out_features, config.num_classes),
        MLPDecoder(config.shape, config.hidden, config.latent_dim + config.num_classes),
    )


architectures.register("mlp")(Architecture(build_mlp))
