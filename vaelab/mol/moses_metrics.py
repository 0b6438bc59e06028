"""The MOSES metrics' definitions (Polykovskiy et al. 2020), one function each, as MOSES's code computes them.

MOSES's own package (molsets 0.3.1, moses/metrics/metrics.py and utils.py) imports RDKit modules
that no longer exist, so vaelab reimplements each definition from that code, which produced the
published tables:

* Filters: the share of molecules that pass MOSES's medicinal-chemistry filters: no ring of 8 or more
  atoms, no charged atom, only C, N, S, O, F, Cl, Br and H, and no match (on the molecule with explicit
  hydrogens) of any SMARTS in MOSES's `mcf.csv` (22 MCFs) and `wehi_pains.csv` (480 PAINS), read from
  the installed `molsets` wheel.
* Frag / Scaf: cosine similarity of the counts of BRICS fragments / Bemis-Murcko scaffolds (those with
  at least 2 rings, as MOSES's `compute_scaffolds`) of two sets of molecules.
* SNN: the mean, over generated molecules, of the Tanimoto similarity to the nearest reference molecule
  (Morgan fingerprints, radius 2, 1024 bits).
* logP, SA, QED, weight: the Wasserstein-1 distance between a property's values over two sets (Crippen
  logP, the synthetic accessibility score of RDKit's contributed `sascorer`, QED, average molecular weight).
* FCD: vaelab.mol.fcd; IntDiv: vaelab.mol.chem.internal_diversity.
"""
from __future__ import annotations

import csv
import functools
import importlib.util
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..data.smiles import rdkit_chem
from ..errors import ResourceError
from .similarity import tanimoto_aggregate

FILTER_FILES = ("mcf.csv", "wehi_pains.csv")
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
MAX_RING_SIZE = 7  # a ring of 8 atoms or more fails the filters
SCAFFOLD_MIN_RINGS = 2
PROPERTY_NAMES = ("logP", "SA", "QED", "weight")  # MOSES's keys, in its order


def moses_metrics_file(name: str) -> Path:
    """A file of MOSES's metrics folder inside the installed `molsets` wheel (found without importing
    it: its own imports fail with today's RDKit)."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError("the MOSES filter lists ship in the `molsets` wheel: "
                            "pip install --no-deps molsets==0.3.1")
    path = Path(next(iter(spec.submodule_search_locations))) / "metrics" / name
    if not path.is_file():
        raise ResourceError(f"the molsets package has no metrics/{name}; reinstall it with "
                            "pip install --no-deps molsets==0.3.1")
    return path


def filter_smarts() -> list[tuple[str, str]]:
    """(name, SMARTS) of MOSES's MCF and PAINS filters, in file order."""
    out = []
    with open(moses_metrics_file("mcf.csv"), newline="") as f:
        out += [(row["names"].strip(), row["smarts"].strip()) for row in csv.DictReader(f)]
    with open(moses_metrics_file("wehi_pains.csv"), newline="") as f:  # no header: SMARTS, name
        out += [(row[1].strip().removeprefix("<regId=").removesuffix(">"), row[0].strip())
                for row in csv.reader(f) if row]
    return out


@functools.cache
def filter_patterns() -> tuple[tuple[str, Any], ...]:
    chem = rdkit_chem()
    patterns = tuple((name, chem.MolFromSmarts(smarts)) for name, smarts in filter_smarts())
    bad = [name for name, pattern in patterns if pattern is None]
    if bad:
        raise ResourceError(f"RDKit cannot read {len(bad)} of MOSES's filter SMARTS (the first: {bad[0]})")
    return patterns


def filter_hits(mol: Any) -> list[str]:
    """Names of the MCF/PAINS patterns that match the molecule (with explicit hydrogens, as MOSES)."""
    with_h = rdkit_chem().AddHs(mol)
    return [name for name, pattern in filter_patterns() if with_h.HasSubstructMatch(pattern)]


def passes_filters(mol: Any) -> bool:
    """MOSES's `mol_passes_filters`: ring sizes, charges, allowed atoms, then the MCF and PAINS patterns."""
    chem = rdkit_chem()
    if any(len(ring) > MAX_RING_SIZE for ring in mol.GetRingInfo().AtomRings()):
        return False
    atoms = list(mol.GetAtoms())
    if any(atom.GetFormalCharge() != 0 for atom in atoms) or any(a.GetSymbol() not in ALLOWED_ATOMS for a in atoms):
        return False
    with_h = chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(pattern) for _, pattern in filter_patterns()):
        return False
    smiles = chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and chem.MolFromSmiles(smiles) is not None


def fragments(mol: Any) -> list[str]:
    """SMILES of the molecule's BRICS fragments (MOSES's `fragmenter`), dummy atoms included."""
    from rdkit.Chem import AllChem

    return rdkit_chem().MolToSmiles(AllChem.FragmentOnBRICSBonds(mol)).split(".")


def scaffold(mol: Any, min_rings: int = SCAFFOLD_MIN_RINGS) -> str | None:
    """The Bemis-Murcko scaffold's SMILES, or None when it has fewer than `min_rings` rings (MOSES)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    try:
        core = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = rdkit_chem().MolToSmiles(core)
    if not smiles or core.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


def count_fragments(mols: Iterable[Any]) -> Counter:
    counts: Counter = Counter()
    for mol in mols:
        counts.update(fragments(mol))
    return counts


def count_scaffolds(mols: Iterable[Any]) -> Counter:
    return Counter(s for s in (scaffold(m) for m in mols) if s is not None)


def cosine_similarity(reference: Mapping[str, float], generated: Mapping[str, float]) -> float | None:
    """Cosine similarity of two count vectors given as {key: count} (absent keys count 0); None if either
    is empty (MOSES: NaN)."""
    if not reference or not generated:
        return None
    keys = sorted(set(reference) | set(generated))
    r = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    g = np.array([generated.get(k, 0) for k in keys], dtype=np.float64)
    return float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g)))


def _logp(mol: Any) -> float:
    from rdkit.Chem import Crippen

    return float(Crippen.MolLogP(mol))


def _sa(mol: Any) -> float:
    from rdkit.Contrib.SA_Score import sascorer  # RDKit's contributed scorer (Ertl & Schuffenhauer 2009)

    return float(sascorer.calculateScore(mol))


def _qed(mol: Any) -> float:
    from rdkit.Chem import QED

    return float(QED.qed(mol))


def _weight(mol: Any) -> float:
    from rdkit.Chem import Descriptors

    return float(Descriptors.MolWt(mol))


PROPERTIES: dict[str, Callable[[Any], float]] = {"logP": _logp, "SA": _sa, "QED": _qed, "weight": _weight}


def property_values(mols: Iterable[Any]) -> dict[str, list[float]]:
    mols = list(mols)
    return {name: [fn(m) for m in mols] for name, fn in PROPERTIES.items()}


def wasserstein(reference: Iterable[float], generated: Iterable[float]) -> float | None:
    """Wasserstein-1 distance between two samples of a property (scipy's), None if either is empty."""
    from scipy.stats import wasserstein_distance

    r, g = np.asarray(list(reference), dtype=np.float64), np.asarray(list(generated), dtype=np.float64)
    if r.size == 0 or g.size == 0:
        return None
    return float(wasserstein_distance(r, g))


def nearest_neighbour_similarity(reference_fps: np.ndarray, generated_fps: np.ndarray, progress: bool = False,
                                 desc: str = "SNN") -> float | None:
    """SNN: mean over generated molecules of the max Tanimoto similarity to a reference molecule."""
    if len(reference_fps) == 0 or len(generated_fps) == 0:
        return None
    return float(np.mean(tanimoto_aggregate(reference_fps, generated_fps, agg="max", progress=progress, desc=desc)))
