"""Judging molecules with RDKit: properties, fingerprints, internal diversity and the generation metrics.

Reading them (canonical SMILES, validity) is vaelab.data.smiles; `canonical` and `is_valid` are
offered here too, as the functions a user of these metrics needs beside them. RDKit is imported on
first use, so `import vaelab` works without it.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..data.smiles import canonical, canonical_many, is_valid, rdkit_chem, rdkit_mol  # noqa: F401
from ..errors import InputError

INT_DIV_MAX_MOLECULES = 10_000  # generation_metrics: IntDiv is O(n^2), and 10,000 molecules are 5e7 similarities


def _qed(mol: Any) -> float:
    from rdkit.Chem import QED

    return float(QED.qed(mol))


def _logp(mol: Any) -> float:
    from rdkit.Chem import Crippen

    return float(Crippen.MolLogP(mol))


# Properties a latent space is probed with (Gomez-Bombarelli et al. 2018 use both).
PROPERTIES: dict[str, Callable[[Any], float]] = {"qed": _qed, "logp": _logp}


def property_values(smiles: Sequence[str], name: str) -> np.ndarray:
    """float64 values of one property of PROPERTIES, NaN where the SMILES is invalid (so rows stay aligned)."""
    if name not in PROPERTIES:
        raise InputError(f"unknown property {name!r}; choose one of {', '.join(sorted(PROPERTIES))}")
    fn = PROPERTIES[name]
    out = np.full(len(smiles), np.nan, dtype=np.float64)
    for i, s in enumerate(smiles):
        mol = rdkit_mol(s)
        if mol is not None:
            out[i] = fn(mol)
    return out


@functools.lru_cache(maxsize=8)
def _morgan_generator(radius: int, n_bits: int) -> Any:
    rdkit_chem()
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def morgan_fingerprints(smiles: Iterable[str], radius: int = 2, n_bits: int = 1024) -> list[Any]:
    """Morgan (ECFP-like) bit vectors (RDKit ExplicitBitVect) of the valid SMILES; invalid ones are skipped."""
    if int(radius) != radius or radius < 0:
        raise InputError(f"Morgan radius must be a non-negative integer, got {radius}")
    if int(n_bits) != n_bits or n_bits < 1:
        raise InputError(f"Morgan fingerprint size must be a positive integer, got {n_bits}")
    gen = _morgan_generator(int(radius), int(n_bits))
    fps = []
    for s in smiles:
        mol = rdkit_mol(s)
        if mol is not None:
            fps.append(gen.GetFingerprint(mol))
    return fps


def internal_diversity(smiles: Sequence[str], p: int = 1) -> float:
    """MOSES internal diversity IntDiv_p (Polykovskiy et al. 2020), how unlike each other the molecules are.

    IntDiv_p = 1 - (1/|G|^2 * sum over all ordered pairs (a, b) of G, a == b included, of T(a, b)^p)^(1/p),
    T the Tanimoto similarity of Morgan fingerprints (radius 2, 1024 bits). Invalid SMILES are left out.
    0 for a set of one molecule repeated; it grows towards 1 as the set spreads out. This is the paper's
    formula; the MOSES code takes the 1/p-th power per molecule before averaging, which agrees for p = 1.
    O(n^2) similarities, one vectorised row at a time (the upper triangle only: T is symmetric).
    """
    from rdkit import DataStructs

    if int(p) != p or p < 1:
        raise InputError(f"IntDiv power p must be a positive integer, got {p}")
    fps = morgan_fingerprints(smiles)
    n = len(fps)
    if n == 0:
        raise InputError("internal diversity needs at least one valid molecule")
    total = 0.0
    for i in range(n):
        sims = np.asarray(DataStructs.BulkTanimotoSimilarity(fps[i], fps[i:]), dtype=np.float64)
        powered = sims ** p
        total += 2.0 * powered.sum() - powered[0]  # pairs (i, j) and (j, i) for j > i, and (i, i) once
    return float(1.0 - (total / (n * n)) ** (1.0 / p))


def generation_metrics(generated: Sequence[str], training: set[str] | None,
                       ks: Sequence[int] = (1000, 10000)) -> dict[str, Any]:
    """MOSES-style scores of sampled SMILES: is the model producing molecules, different ones, new ones?

    validity: share of `generated` that is a valid molecule.
    unique@k: among the first k valid molecules, the share of distinct canonical forms; when fewer than k are
        valid it is computed on all of them and `unique@{k}_n` records how many that was.
    novelty: share of the distinct valid molecules not in `training` (canonical SMILES, as `canonical` writes
        them: a set canonicalised by another RDKit version can differ); None when training is None.
    int_div: IntDiv_1 over the distinct valid molecules (the first INT_DIV_MAX_MOLECULES of them).
    n: number of generated strings.
    With no valid molecule at all, the unique@k, novelty and int_div values are None (undefined).
    """
    ks = tuple(ks)
    for k in ks:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise InputError(f"unique@k needs positive integers k, got {k!r}")
    n = len(generated)
    if n == 0:
        raise InputError("no generated molecules to score")
    valid = [c for c in canonical_many(generated) if c is not None]
    distinct = list(dict.fromkeys(valid))  # first-appearance order, so the IntDiv subset is deterministic
    out: dict[str, Any] = {"validity": len(valid) / n}
    for k in ks:
        first = valid[: int(k)]
        out[f"unique@{k}"] = len(set(first)) / len(first) if first else None
        if len(valid) < k:
            out[f"unique@{k}_n"] = len(first)
    if training is None or not distinct:
        out["novelty"] = None
    else:
        out["novelty"] = sum(1 for c in distinct if c not in training) / len(distinct)
    out["int_div"] = internal_diversity(distinct[:INT_DIV_MAX_MOLECULES]) if distinct else None
    out["n"] = n
    return out
