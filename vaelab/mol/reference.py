"""What the MOSES metrics need to know of a set of molecules, computed once and cached without pickle.

`SetStatistics` are MOSES's "intermediate statistics" of a set: ChemNet's mean and covariance
(FCD), Morgan fingerprints (SNN), BRICS fragment and scaffold counts (Frag, Scaf) and the property
values (logP, SA, QED, weight). `statistics` computes them for any list of SMILES, in chunks, with a
progress display; `cached_statistics` keeps a reference set's under vaelab's cache folder
($VAELAB_CACHE, default ~/.cache/vaelab), in `mol-metrics/`, as an .npz of plain arrays (read with
allow_pickle=False) and a JSON file of the counts. The file name carries a hash of the SMILES and of
the RDKit and fcd_torch versions, so a new set or a new RDKit computes afresh. MOSES's test sets
(176,074 and 176,226 molecules) take about 25 minutes each on one CPU core, ChemNet most of it.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.smiles import rdkit_mol
from ..errors import InputError, ResourceError
from ..io import atomic_path, atomic_write_text
from ..progress import progress_bar
from . import fcd
from .moses_metrics import PROPERTY_NAMES, count_fragments, count_scaffolds, property_values
from .similarity import fingerprint_matrix, pack, unpack

FORMAT = 1  # of the cached files; a change of layout bumps it
CHUNK = 1024  # molecules parsed and measured at a time


@dataclass
class SetStatistics:
    """The intermediate statistics of `n` valid molecules. `fingerprints`: (n, 1024) 0/1 uint8."""
    n: int
    fcd_mu: np.ndarray | None
    fcd_sigma: np.ndarray | None
    fingerprints: np.ndarray
    fragments: Counter = field(default_factory=Counter)
    scaffolds: Counter = field(default_factory=Counter)
    properties: dict[str, np.ndarray] = field(default_factory=dict)


def statistics(smiles: Sequence[str], progress: bool = False, desc: str = "statistics") -> SetStatistics:
    """The statistics of the valid molecules among `smiles` (invalid ones are left out)."""
    smiles = list(smiles)
    valid: list[str] = []
    fps, frags, scafs = [], Counter(), Counter()
    props: dict[str, list[float]] = {name: [] for name in PROPERTY_NAMES}
    with progress_bar(len(smiles), desc, enabled=progress, unit="mol", lines=True) as bar:
        for start in range(0, len(smiles), CHUNK):
            chunk = smiles[start:start + CHUNK]
            pairs = [(s, m) for s, m in ((s, rdkit_mol(s)) for s in chunk) if m is not None]
            mols = [m for _, m in pairs]
            valid += [s for s, _ in pairs]
            fps.append(fingerprint_matrix(mols))
            frags.update(count_fragments(mols))
            scafs.update(count_scaffolds(mols))
            for name, values in property_values(mols).items():
                props[name] += values
            bar.update(len(chunk))
    acts = fcd.activations(valid, progress=progress, desc=f"{desc}: ChemNet")
    moments = fcd.gaussian(acts)
    return SetStatistics(n=len(valid), fcd_mu=None if moments is None else moments[0],
                         fcd_sigma=None if moments is None else moments[1],
                         fingerprints=np.concatenate(fps) if fps else fingerprint_matrix([]), fragments=frags,
                         scaffolds=scafs, properties={k: np.asarray(v, dtype=np.float64) for k, v in props.items()})


def cache_folder() -> Path:
    from ..data.mnist import cache_dir

    return cache_dir() / "mol-metrics"


def cache_key(smiles: Sequence[str]) -> str:
    """A hash of the SMILES, the cache format and the versions of RDKit and fcd_torch."""
    import importlib.metadata

    from rdkit import __version__ as rdkit_version

    digest = hashlib.sha256(f"{FORMAT}|{rdkit_version}|{importlib.metadata.version('fcd_torch')}".encode())
    for s in smiles:
        digest.update(s.encode() + b"\n")
    return digest.hexdigest()[:16]


def cached_statistics(name: str, smiles: Sequence[str], progress: bool = False) -> SetStatistics:
    """`statistics` of a reference set, read from the cache when there, else computed and written."""
    if not smiles:
        raise InputError(f"the reference set {name} holds no molecules")
    folder = cache_folder()
    base = folder / f"{name}-{len(smiles)}-{cache_key(smiles)}"
    found = read_statistics(base)
    if found is not None:
        return found
    if progress:
        print(f"computing the statistics of {name} ({len(smiles):,} molecules), once; cached in {folder}",
              file=sys.stderr)
    stats = statistics(smiles, progress=progress, desc=name)
    write_statistics(base, stats)
    return stats


def write_statistics(base: Path, stats: SetStatistics) -> None:
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResourceError(f"cannot create the cache folder {base.parent}: {e.strerror or e}") from None
    arrays = {"fingerprints": pack(stats.fingerprints), **{f"property_{k}": v for k, v in stats.properties.items()}}
    if stats.fcd_mu is not None:
        arrays.update(fcd_mu=stats.fcd_mu, fcd_sigma=stats.fcd_sigma)
    with atomic_path(base.with_suffix(".npz")) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    counts = {"format": FORMAT, "molecules": stats.n, "fragments": dict(stats.fragments),
              "scaffolds": dict(stats.scaffolds)}
    atomic_write_text(base.with_suffix(".json"), json.dumps(counts))


def read_statistics(base: Path) -> SetStatistics | None:
    """The cached statistics at `base` (.npz and .json), or None when absent or unreadable."""
    try:
        counts = json.loads(base.with_suffix(".json").read_text())
        with np.load(base.with_suffix(".npz"), allow_pickle=False) as arrays:
            loaded = {k: arrays[k] for k in arrays.files}
        if counts.get("format") != FORMAT:
            return None
        props = {k: loaded[f"property_{k}"] for k in PROPERTY_NAMES}
        return SetStatistics(n=int(counts["molecules"]), fcd_mu=loaded.get("fcd_mu"), fcd_sigma=loaded.get("fcd_sigma"),
                             fingerprints=unpack(loaded["fingerprints"]), fragments=Counter(counts["fragments"]),
                             scaffolds=Counter(counts["scaffolds"]), properties=props)
    except (OSError, ValueError, KeyError, TypeError):  # absent, truncated or of another layout: recompute
        return None
