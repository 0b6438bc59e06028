"""The whole MOSES table of a sample of SMILES (MOSES's `get_all_metrics`, with its key names).

`moses_table(generated, references, training)`: "valid", "unique@1000", "unique@10000", then for each
reference set (suffix "Test", "TestSF") "FCD/…", "SNN/…", "Frag/…", "Scaf/…", then "IntDiv",
"IntDiv2", "Filters", the Wasserstein distances "logP", "SA", "QED", "weight" (against the first
reference set, as MOSES: its test set) and "Novelty". Everything after validity is over the valid
molecules, repeats included (novelty over the distinct ones). A metric that is undefined (no valid
molecule, fewer than two for FCD, no scaffold of two rings) is None.

`moses_references` are MOSES's test and scaffold test sets (the `molsets` wheel); `moses_training_set`
the whole MOSES training set, for novelty.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.smiles import canonical, rdkit_mol
from ..errors import InputError
from ..extras import install_command, missing
from ..io import atomic_write_text
from ..progress import progress_bar
from . import fcd
from .chem import generation_metrics, internal_diversity
from .moses_metrics import PROPERTY_NAMES, cosine_similarity, nearest_neighbour_similarity, passes_filters, wasserstein
from .reference import SetStatistics, cache_folder, cached_statistics, statistics

EXTRA = "mol-metrics"
BASE_NAMES = {"validity": "valid", "int_div": "IntDiv", "novelty": "Novelty"}  # generation_metrics -> MOSES
MOSES_SETS = {"Test": "test", "TestSF": "test_scaffolds"}  # MOSES's suffixes -> its files


def missing_line() -> str | None:
    """The one line saying what the full table needs, or None when the extra is installed."""
    absent = missing(EXTRA)
    if not absent:
        return None
    return (f"FCD, SNN, Frag, Scaf, IntDiv2, Filters and the logP/SA/QED/weight distances need "
            f"{' and '.join(absent)} (the '{EXTRA}' extra): {install_command(EXTRA)}")


def moses_names(base: dict[str, Any]) -> dict[str, Any]:
    """generation_metrics' result under MOSES's key names (valid, IntDiv, Novelty; unique@k unchanged)."""
    return {BASE_NAMES.get(k, k): v for k, v in base.items()}


def compare(ref: SetStatistics, gen: SetStatistics, suffix: str, progress: bool = False) -> dict[str, Any]:
    """FCD, SNN, Frag and Scaf of the generated set against one reference set."""
    fcd_value = None
    if ref.fcd_mu is not None and gen.fcd_mu is not None:
        fcd_value = fcd.frechet_distance(gen.fcd_mu, gen.fcd_sigma, ref.fcd_mu, ref.fcd_sigma)
    return {f"FCD/{suffix}": fcd_value,
            f"SNN/{suffix}": nearest_neighbour_similarity(ref.fingerprints, gen.fingerprints, progress=progress,
                                                          desc=f"SNN/{suffix}"),
            f"Frag/{suffix}": cosine_similarity(ref.fragments, gen.fragments),
            f"Scaf/{suffix}": cosine_similarity(ref.scaffolds, gen.scaffolds)}


def moses_table(generated: Sequence[str], references: dict[str, SetStatistics], training: set[str] | None,
                ks: Sequence[int] = (1000, 10000), base: dict[str, Any] | None = None,
                progress: bool = False) -> dict[str, Any]:
    """MOSES's metrics of `generated` (SMILES) against `references` ({suffix: statistics}, the first one
    also for the property distances). `base`: generation_metrics(generated, training, ks), when known."""
    if not references:
        raise InputError("the MOSES table needs at least one reference set")
    base = generation_metrics(generated, training, ks) if base is None else base
    out = moses_names(base)
    tail = {k: out.pop(k) for k in ("IntDiv", "Novelty", "n") if k in out}  # placed where MOSES lists them
    valid = [c for c in (canonical(s) for s in generated) if c is not None]
    if not valid:
        for suffix in references:
            out.update(dict.fromkeys((f"{m}/{suffix}" for m in ("FCD", "SNN", "Frag", "Scaf")), None))
        out.update(IntDiv=tail.pop("IntDiv", None), IntDiv2=None, Filters=None, **dict.fromkeys(PROPERTY_NAMES, None))
        return {**out, **tail}
    gen = statistics(valid, progress=progress, desc="generated molecules")
    for suffix, ref in references.items():
        out.update(compare(ref, gen, suffix, progress=progress))
    out["IntDiv"] = tail.pop("IntDiv", None)
    out["IntDiv2"] = internal_diversity(valid, p=2, progress=progress)
    out["Filters"] = fraction_passing(valid, progress=progress)
    first = next(iter(references.values()))
    out.update({name: wasserstein(first.properties[name], gen.properties[name]) for name in PROPERTY_NAMES})
    return {**out, **tail}


def fraction_passing(smiles: Sequence[str], progress: bool = False) -> float:
    passed = 0
    with progress_bar(len(smiles), "Filters", enabled=progress, unit="mol", lines=True) as bar:
        for s in smiles:
            passed += passes_filters(rdkit_mol(s))
            bar.update()
    return passed / len(smiles)


def moses_references(limit: int | None = None, progress: bool = False) -> dict[str, SetStatistics]:
    """The statistics of MOSES's test and scaffold test sets (all of each, or the first `limit`)."""
    from ..data.molecules import moses_path, read_smiles_lines

    out = {}
    for suffix, name in MOSES_SETS.items():
        smiles = [s for _, s in read_smiles_lines(moses_path(name), limit)]
        out[suffix] = cached_statistics(f"moses-{name}", smiles, progress=progress)
    return out


def moses_training_set(progress: bool = False) -> set[str]:
    """Every molecule of MOSES's training set as MOSES compares against it (its SMILES as written) and
    as this RDKit writes it canonically: the canonical forms that differ from the file's are computed
    once (minutes) and cached, so a generated molecule is never called novel for a spelling."""
    from rdkit import __version__ as rdkit_version

    from ..data.molecules import moses_path, read_smiles_lines

    path = moses_path("train")
    raw = [s for _, s in read_smiles_lines(path)]
    key = hashlib.sha256(path.read_bytes() + rdkit_version.encode()).hexdigest()[:16]
    cached = cache_folder() / f"moses-train-respelled-{key}.json"
    try:
        respelled = json.loads(cached.read_text())["respelled"]
    except (OSError, ValueError, KeyError, TypeError):
        respelled = _respell(raw, progress)
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cached, json.dumps({"rdkit": rdkit_version, "respelled": respelled}))
    return set(raw) | set(respelled)


def _respell(smiles: list[str], progress: bool) -> list[str]:
    if progress:
        print(f"canonicalising MOSES's {len(smiles):,} training molecules with this RDKit, once", file=sys.stderr)
    out = []
    with progress_bar(len(smiles), "MOSES train", enabled=progress, unit="mol", lines=True) as bar:
        for start in range(0, len(smiles), 10_000):
            for s in smiles[start:start + 10_000]:
                c = canonical(s)
                if c is not None and c != s:
                    out.append(c)
            bar.update(min(10_000, len(smiles) - start))
    return out


def as_row(table: dict[str, Any]) -> dict[str, float | None]:
    """The table's metrics only (no unique@k_n counts), as floats: a row for a benchmark."""
    return {k: (None if v is None else float(v)) for k, v in table.items()
            if not k.endswith("_n") and k != "n" and (v is None or isinstance(v, (int, float, np.floating)))}


def with_moses_table(result: dict[str, Any], test: Sequence[str], moses: bool, training: set[str] | None,
                     reference_size: int | None = None, progress: bool = False) -> dict[str, Any]:
    """`result` (generation_metrics' keys among others, and "samples") with its generation metrics under
    MOSES's names and, when the extra is installed, the whole table: against MOSES's test and scaffold
    test sets for a MOSES run, else against the run's test split `test`. Without the extra, "missing"
    holds the line that says what to install."""
    if reference_size is not None and reference_size < 1:
        raise InputError(f"must be at least 1, got {reference_size}", "reference_size")
    result = dict(result)
    base = {k: result.pop(k) for k in list(result) if k in BASE_NAMES or k == "n" or k.startswith("unique@")}
    line = missing_line()
    if line is not None:
        names = moses_names(base)
        return {**names, **result, "missing": line}
    if moses:
        references = moses_references(reference_size, progress=progress)
    else:
        references = {"Test": cached_statistics("run-test", list(test)[:reference_size], progress=progress)}
    return {**moses_table(result["samples"], references, training, base=base, progress=progress), **result}
