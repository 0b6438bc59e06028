"""Interpolation between two examples' latent codes, and how smooth the decoded path is.

A VAE's KL term packs codes into a region the decoder has learnt everywhere, so a straight path
between two codes decodes to a gradual morph; a plain autoencoder's codes may sit on islands with
undecodable gaps between them, which shows up as a few large jumps between neighbouring frames.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError


def lerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """(L,), (L,) -> (steps, L): (1 - a) z0 + a z1 for a = 0 .. 1."""
    a = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - a) * z0 + a * z1


def slerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models): it keeps the norm
    of typical Gaussian draws instead of cutting through the low-density centre. Falls back to lerp
    for (anti)parallel codes, where the arc is undefined."""
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return lerp(z0, z1, steps)
    a = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (torch.sin((1 - a) * omega) * z0 + torch.sin(a * omega) * z1) / torch.sin(omega)


MAX_STEPS = 1000  # frames of a path or a traversal row: far more than a picture can show


def interpolate(model, x_a: Tensor, x_b: Tensor, steps: int = 10, spherical: bool = False,
                y_a: Tensor | None = None, y_b: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Decode the path between the posterior means of two examples: (frames (steps, *shape), z (steps, L)).

    For a conditional model the label is held at y_a for the whole path unless y_b is given (then
    the one-hot label is interpolated as well).
    """
    if not 2 <= steps <= MAX_STEPS:
        raise InputError(f"an interpolation takes 2..{MAX_STEPS} steps, got {steps}", "steps")
    mu_a, _ = model.encode(x_a, y_a)
    mu_b, _ = model.encode(x_b, y_b if y_b is not None else y_a)
    z = (slerp if spherical else lerp)(mu_a[0], mu_b[0], steps)
    if not model.conditional:
        return model.decode(z), z
    onehot_a = model.condition(y_a, 1)
    onehot_b = model.condition(y_b, 1) if y_b is not None else onehot_a
    a = torch.linspace(0, 1, steps, device=z.device)[:, None]
    with torch.no_grad():
        return model.network.px(z, (1 - a) * onehot_a + a * onehot_b).mean, z


def step_distances(frames: Tensor) -> Tensor:
    """(steps, ...) -> (steps - 1,): mean absolute pixel difference between neighbouring frames."""
    return (frames[1:] - frames[:-1]).abs().flatten(1).mean(-1)


def path_smoothness(model, x: Tensor, pairs: Tensor, steps: int = 16, spherical: bool = False,
                    y: Tensor | None = None) -> dict[str, float]:
    """Over many (i, j) pairs of examples: the mean and the largest neighbouring-frame distance per path.

    `mean_step` and `max_step` are averaged over the paths; `max_over_mean` (>= 1; 1 = perfectly even
    steps) says how much of each path happens in its largest jump.
    """
    means, maxes = [], []
    for i, j in pairs.tolist():
        yi = y[i:i + 1] if y is not None else None
        frames, _ = interpolate(model, x[i:i + 1], x[j:j + 1], steps, spherical, yi)
        d = step_distances(frames)
        means.append(d.mean())
        maxes.append(d.max())
    mean, largest = torch.stack(means), torch.stack(maxes)
    return {"pairs": len(pairs), "steps": steps, "mean_step": mean.mean().item(),
            "max_step": largest.mean().item(), "max_over_mean": (largest / mean.clamp_min(1e-12)).mean().item()}
