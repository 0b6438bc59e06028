"""Judging molecules with RDKit: properties, fingerprints, internal diversity and the generation metrics.

Reading them (canonical SMILES, validity) is vaelab.data.smiles; `canonical` and `is_valid` are
offered here too, as the functions a user of these metrics needs beside them. RDKit is imported on
first use, so `import vaelab` works without it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..data.smiles import canonical, canonical_many, is_valid, rdkit_chem, rdkit_mol  # noqa: F401
from ..errors import InputError
from .similarity import fingerprint_matrix, morgan_generator, tanimoto_aggregate


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


def morgan_fingerprints(smiles: Iterable[str], radius: int = 2, n_bits: int = 1024) -> list[Any]:
    """Morgan (ECFP-like) bit vectors (RDKit ExplicitBitVect) of the valid SMILES; invalid ones are skipped."""
    if int(radius) != radius or radius < 0:
        raise InputError(f"Morgan radius must be a non-negative integer, got {radius}")
    if int(n_bits) != n_bits or n_bits < 1:
        raise InputError(f"Morgan fingerprint size must be a positive integer, got {n_bits}")
    gen = morgan_generator(int(radius), int(n_bits))
    fps = []
    for s in smiles:
        mol = rdkit_mol(s)
        if mol is not None:
            fps.append(gen.GetFingerprint(mol))
    return fps


def internal_diversity(smiles: Sequence[str], p: int = 1, progress: bool = False) -> float:
    """MOSES internal diversity IntDiv_p (Polykovskiy et al. 2020), how unlike each other the molecules are.

    Every valid molecule counts, repeats included (as MOSES does: a model that repeats itself is less
    diverse); invalid SMILES are left out. T(a, b) is the Tanimoto similarity of Morgan fingerprints
    (radius 2, 1024 bits) and, as MOSES's code computes it (the code that produced its published tables),
    IntDiv_p = 1 - mean over a of (mean over b of T(a, b)^p)^(1/p), pairs a == b included. The paper
    writes 1 - (mean over all pairs of T^p)^(1/p); the two agree for p = 1 and differ slightly for p = 2.
    0 for a set of one molecule repeated; it grows towards 1 as the set spreads out. O(n^2) similarities,
    as float32 matrix products in blocks (vaelab.mol.similarity): 10,000 molecules take 4 s on a core.
    """
    if int(p) != p or p < 1:
        raise InputError(f"IntDiv power p must be a positive integer, got {p}")
    mols = [m for m in (rdkit_mol(s) for s in smiles) if m is not None]
    if not mols:
        raise InputError("internal diversity needs at least one valid molecule")
    fps = fingerprint_matrix(mols)
    mean_power = tanimoto_aggregate(fps, fps, agg="mean", p=int(p), progress=progress, desc=f"IntDiv{p}")
    return float(1.0 - np.mean(mean_power ** (1.0 / p)))


def generation_metrics(generated: Sequence[str], training: set[str] | None,
                       ks: Sequence[int] = (1000, 10000)) -> dict[str, Any]:
    """MOSES-style scores of sampled SMILES: is the model producing molecules, different ones, new ones?

    validity: share of `generated` that is a valid molecule.
    unique@k: among the first k valid molecules, the share of distinct canonical forms; when fewer than k are
        valid it is computed on all of them and `unique@{k}_n` records how many that was.
    novelty: share of the distinct valid molecules not in `training` (canonical SMILES, as `canonical` writes
        them: a set canonicalised by another RDKit version can differ); None when training is None.
    int_div: IntDiv_1 over every valid molecule, repeats included (as MOSES computes it).
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
    distinct = set(valid)
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
    out["int_div"] = internal_diversity(valid) if valid else None
    out["n"] = n
    return out
