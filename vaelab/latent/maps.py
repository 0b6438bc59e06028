"""Latent maps: the decoded manifold of a 2-D latent, and a scatter of test codes coloured by label."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..viz.figures import pyplot, save_png

MAX_GRID = 100  # images per side: 10,000 decodes, a picture up to 2,800 pixels wide for MNIST


@torch.no_grad()
def manifold(model, n: int = 20, y: Tensor | int | None = None) -> Tensor:
    """A 2-D latent's decoded grid at evenly spaced Gaussian quantiles (Kingma & Welling 2014, fig. 4):
    (n * n, *shape), row by row from the top (z2 high) to the bottom, z1 left to right."""
    if model.latent_dim != 2:
        raise InputError(f"the manifold grid needs a 2-D latent; this model has {model.latent_dim} dimensions "
                         "(draw its codes with the PCA scatter instead)")
    if not 2 <= n <= MAX_GRID:
        raise InputError(f"a manifold grid has 2 to {MAX_GRID} images per side, got {n}", "n")
    q = torch.special.ndtri(torch.linspace(0.5 / n, 1 - 0.5 / n, n, dtype=torch.float64)).float()
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")
    return model.decode(torch.stack([z1.reshape(-1), z2.reshape(-1)], -1), y)


def project_2d(mu: np.ndarray) -> tuple[np.ndarray, str, tuple[str, str]]:
    """The codes themselves when 2-D, else their first two principal components (scikit-learn PCA)."""
    if mu.shape[1] == 2:
        return mu, "posterior means", ("z1", "z2")
    if mu.shape[1] == 1:
        return np.concatenate([mu, np.zeros_like(mu)], 1), "posterior means (1-D latent)", ("z1", "")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(mu)
    share = pca.explained_variance_ratio_
    return (pca.transform(mu), f"PCA of {mu.shape[1]}-D posterior means (first two components)",
            (f"PC1 ({share[0]:.0%} of variance)", f"PC2 ({share[1]:.0%} of variance)"))


def scatter_codes(mu: np.ndarray, labels: np.ndarray | None, path: str | Path, title: str = "",
                  label_names: dict[int, str] | None = None) -> Path:
    """Write a PNG scatter of the codes (projected to 2-D, method named on the plot), coloured by label."""
    plt = pyplot()
    points, method, (xlabel, ylabel) = project_2d(mu)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, color="tab:blue", linewidths=0)
    else:
        classes = np.unique(labels)
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            sel = labels == c
            name = (label_names or {}).get(int(c), str(c))
            ax.scatter(points[sel, 0], points[sel, 1], s=3, alpha=0.6, color=cmap(i % cmap.N), label=name,
                       linewidths=0)
        ax.legend(markerscale=4, fontsize=8, loc="best", frameon=False, ncol=2 if len(classes) > 5 else 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\n{method}" if title else method, fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)
