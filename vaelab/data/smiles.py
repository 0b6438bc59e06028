"""Reading SMILES with RDKit: canonical SMILES, validity. (Judging molecules -- properties, fingerprints,
the generation metrics -- is vaelab.mol.chem.)

RDKit is imported on first use (`rdkit_chem`), so `import vaelab` works without it. Everything that
takes SMILES treats a string RDKit cannot parse, an empty one, or one with inner whitespace as invalid
(RDKit would read the text after a space as the molecule's name, so "CC O" would pass as ethane).
"""
from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from ..errors import InputError
from ..extras import require


@functools.cache
def rdkit_chem() -> Any:
    """rdkit.Chem, imported once with RDKit's stderr logging silenced (every bad SMILES would print)."""
    require("mol", "rdkit")
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return Chem


MAX_SMILES_LENGTH = 1000  # characters: MOSES's longest is under 100; RDKit crashes on some far longer strings


def rdkit_mol(smiles: str) -> Any | None:
    """The RDKit molecule of a SMILES string, or None when it is not a molecule with at least one atom
    (or longer than `MAX_SMILES_LENGTH`: RDKit is never handed such a string, which can take it
    minutes, or crash the process, to parse)."""
    if not isinstance(smiles, str):
        raise InputError(f"expected a SMILES string, got {type(smiles).__name__}")
    text = smiles.strip()
    if not text or len(text) > MAX_SMILES_LENGTH or any(ch.isspace() for ch in text):
        return None
    mol = rdkit_chem().MolFromSmiles(text)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def canonical(smiles: str) -> str | None:
    """RDKit's canonical isomeric SMILES, so equal molecules compare equal as strings; None if invalid."""
    mol = rdkit_mol(smiles)
    return None if mol is None else rdkit_chem().MolToSmiles(mol, isomericSmiles=True)


def canonical_many(smiles: Iterable[str]) -> list[str | None]:
    """`canonical` of each string, in order."""
    return [canonical(s) for s in smiles]


def is_valid(smiles: str) -> bool:
    """Whether RDKit parses (and sanitizes) the string to a molecule with at least one atom."""
    return rdkit_mol(smiles) is not None
