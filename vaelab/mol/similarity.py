"""Tanimoto similarities of many Morgan fingerprints at once, as MOSES computes them.

A set of fingerprints is a (n, bits) matrix of 0/1 (`fingerprint_matrix`); the Tanimoto similarity
of rows a and b is |a & b| / (|a| + |b| - |a & b|), the intersections one matrix product. Two empty
fingerprints (a molecule without heavy atoms) have similarity 1, as in MOSES's `average_agg_tanimoto`.
The products run in float32 blocks (counts up to 1024 are exact), so 10,000 molecules against
MOSES's 176,074 test molecules take about a minute on one CPU core, and internal diversity of 10,000
molecules about 4 seconds. Storage packs the bits (`np.packbits`, 128 bytes per molecule).
"""
from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from ..data.smiles import rdkit_chem
from ..errors import InputError
from ..progress import progress_bar

MORGAN_RADIUS, MORGAN_BITS = 2, 1024  # MOSES: GetMorganFingerprintAsBitVect(mol, 2, nBits=1024)
BLOCK = 2048  # rows per side of one product block: 2048 x 2048 float32 similarities are 16 MB


@functools.lru_cache(maxsize=8)
def morgan_generator(radius: int = MORGAN_RADIUS, n_bits: int = MORGAN_BITS) -> Any:
    """RDKit's Morgan generator; its bits equal the legacy GetMorganFingerprintAsBitVect MOSES calls."""
    rdkit_chem()
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def fingerprint_matrix(mols: Iterable[Any]) -> np.ndarray:
    """(n, 1024) uint8 0/1 Morgan fingerprints (radius 2) of RDKit molecules, one row per molecule."""
    gen = morgan_generator()
    rows = [gen.GetFingerprintAsNumPy(mol) for mol in mols]
    if not rows:
        return np.zeros((0, MORGAN_BITS), dtype=np.uint8)
    return np.asarray(np.stack(rows) != 0, dtype=np.uint8)


def pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits, axis=1)


def unpack(packed: np.ndarray) -> np.ndarray:
    return np.unpackbits(packed, axis=1, count=MORGAN_BITS)


def _block(bits: np.ndarray, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.from_numpy(np.ascontiguousarray(bits[start:start + BLOCK])).to(torch.float32)
    return rows, rows.sum(1)


def tanimoto_aggregate(reference: np.ndarray, generated: np.ndarray, agg: str = "max", p: int = 1,
                       progress: bool = False, desc: str = "similarities") -> np.ndarray:
    """For each row of `generated`, the max (agg="max") or the mean of T^p (agg="mean") of its Tanimoto
    similarities T to every row of `reference` (both 0/1 matrices as `fingerprint_matrix` gives)."""
    if agg not in ("max", "mean"):
        raise InputError(f"agg is max or mean, got {agg!r}")
    if len(reference) == 0 or len(generated) == 0:
        raise InputError("Tanimoto similarities need at least one fingerprint on each side")
    out = np.zeros(len(generated), dtype=np.float64)
    blocks = range(0, len(reference), BLOCK)
    with progress_bar(len(reference), desc, enabled=progress, unit="mol", lines=True) as bar:
        for r in blocks:
            ref, ref_n = _block(reference, r)
            for g in range(0, len(generated), BLOCK):
                gen, gen_n = _block(generated, g)
                both = gen @ ref.T
                sims = both / (gen_n[:, None] + ref_n[None, :] - both)
                sims = torch.nan_to_num(sims, nan=1.0).double()  # 0/0: two empty fingerprints
                view = out[g:g + len(gen)]
                if agg == "max":
                    np.maximum(view, sims.max(1).values.numpy(), out=view)
                else:
                    view += (sims ** p).sum(1).numpy()
            bar.update(len(ref))
    return out if agg == "max" else out / len(reference)
