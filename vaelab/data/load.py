"""Data by name: `--data NAME[:PATH]` -> the source registered under NAME -> in-memory `Splits`.

Every source module registers itself in `vaelab.registry.datasets` when imported; this module
imports them all, so a name is looked up only once every source is known, and applies what every
source shares: contrast normalisation, keeping some labels.
"""
from __future__ import annotations

from pathlib import Path

from ..config import DataConfig
from ..registry import datasets
from . import arrays, factors, folder, idx, mnist, molecules, table  # noqa: F401  (they register the sources)
from .splits import Splits, finish


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """'mnist' -> ('mnist', None); 'idx:~/DIR' -> ('idx', '/home/.../DIR'); 'mols.smi' -> ('smiles', 'mols.smi')."""
    name, sep, path = spec.partition(":")
    if name not in datasets and not sep and _is_smiles_file(spec):
        name, path = "smiles", spec  # a SMILES file is named by its path alone
    datasets.get(name, "data")
    return name, (str(Path(path).expanduser()) if path else None)


def _is_smiles_file(spec: str) -> bool:
    return any(suffix in (".smi", ".csv", ".txt") for suffix in Path(spec).suffixes)


# Sources that read or draw only `limit` examples themselves: the generic limit of `finish` must not
# cut them again (MOSES's test set, for one, is not part of its limited training pool).
LIMITED_BY_SOURCE = frozenset({"dsprites", "moses", "smiles"})


def load_splits(config: DataConfig) -> Splits:
    return finish(datasets.get(config.name)(config), config, limit=config.name not in LIMITED_BY_SOURCE)
