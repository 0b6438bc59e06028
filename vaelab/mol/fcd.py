"""Fréchet ChemNet Distance (Preuer et al. 2018) with the `fcd_torch` package, as MOSES computes it.

`fcd_torch` (the `mol-metrics` extra) ships ChemNet's weights. A set of SMILES becomes ChemNet's
512 penultimate activations per molecule (`activations`, fcd_torch's own model and input encoding,
in batches of 512 with a progress display), summarised by their mean and covariance (`gaussian`);
the FCD of two sets is the Fréchet distance of the two Gaussians (`frechet_distance`, the formula of
fcd_torch's `calculate_frechet_distance`, written here so that scipy's deprecations in that function
do not reach vaelab). ChemNet is slow on a CPU: about 100-150 molecules a second on one core.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..extras import module
from ..progress import progress_bar

BATCH = 512  # fcd_torch's default batch size
CHEMNET_DIM = 512
SQRTM_EPS = 1e-6  # fcd_torch's offset when the product of the covariances is too singular for sqrtm


@functools.cache
def chemnet() -> Any:
    """fcd_torch's FCD object (ChemNet loaded on the CPU), built once."""
    fcd_torch = module("mol-metrics", "fcd_torch")
    return fcd_torch.FCD(device="cpu", n_jobs=1, batch_size=BATCH)


def activations(smiles: Sequence[str], progress: bool = False, desc: str = "ChemNet") -> np.ndarray:
    """(n, 512) float32 ChemNet activations of valid SMILES (fcd_torch canonicalises them itself)."""
    from fcd_torch.utils import SmilesDataset

    net = chemnet().model
    data = SmilesDataset(list(smiles), canonize=True)
    out = np.empty((len(data), CHEMNET_DIM), dtype=np.float32)
    with torch.no_grad(), progress_bar(len(data), desc, enabled=progress, unit="mol", lines=True) as bar:
        for start in range(0, len(data), BATCH):
            stop = min(start + BATCH, len(data))
            batch = torch.from_numpy(np.stack([data[i] for i in range(start, stop)])).float()
            out[start:stop] = net(batch.transpose(1, 2)).numpy()
            bar.update(stop - start)
    return out


def gaussian(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean and covariance (n - 1 in the denominator, as np.cov) of activations; None under 2 rows."""
    n = len(acts)
    if n < 2:
        return None
    mu = acts.mean(0, dtype=np.float64)
    sigma = np.zeros((acts.shape[1], acts.shape[1]), dtype=np.float64)
    for start in range(0, n, 8192):  # centred blocks in float64: no 2x-sized copy of a large set
        block = acts[start:start + 8192].astype(np.float64) - mu
        sigma += block.T @ block
    return mu, sigma / (n - 1)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2)), fcd_torch's formula and safeguards."""
    from scipy import linalg

    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * SQRTM_EPS
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real  # fcd_torch refuses an imaginary part over 1e-3 on the diagonal; rare
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
