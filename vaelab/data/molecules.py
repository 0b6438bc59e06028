"""Molecules as token sequences: the MOSES sets (`--data moses`) or a user's SMILES file (`--data FILE`).

Every molecule is canonicalised with RDKit, written as SMILES or SELFIES (`--repr`), cut into
tokens, and stored as a row of token ids (tokens, EOS, PAD...; see vaelab.nets.gru). The
vocabulary is built from all three splits, so the test split never holds an unknown token, and
travels with the splits as JSON (`Splits.vocabulary`) for the run folder to keep. `Splits.texts`
keeps each row's canonical SMILES: novelty and reconstruction accuracy are measured on them.

Split rules (fixed, so the same data always splits the same way):
* moses: training pool = the first --limit molecules of MOSES's train.csv (all 1,584,663 by
  default), its last min(--val-size, 10%) held out for validation; test = the first 10,000 of
  MOSES's test.csv (its test_scaffolds set is read by `load_moses_file`).
* a SMILES file (.smi: the first field of each line; .csv: the `smiles` column, else the first):
  the first --limit lines, then the last 10% (at most 10,000) are the test split, min(--val-size,
  10% of the rest) before them validation, the rest training.

A line RDKit cannot read stops the load with an error naming the first such line and counting
them all, unless --skip-invalid drops them (the count is still reported).
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import sys
from pathlib import Path

import torch

from ..config import DataConfig
from ..errors import InputError, ResourceError, excerpt
from ..registry import datasets
from .smiles import canonical_many
from .splits import SPLITS, Splits
from .tokens import Vocabulary, longest, tokenize

MOSES_FILES = ("train", "test", "test_scaffolds")
MOSES_TEST_SIZE = 10_000
FILE_TEST_SHARE, FILE_TEST_MAX = 0.1, 10_000


def moses_path(name: str) -> Path:
    """A MOSES csv.gz inside the installed `molsets` wheel (found without importing it: its
    dependencies are not installed)."""
    if name not in MOSES_FILES:
        raise InputError(f"unknown MOSES set {name!r}; choose one of: {', '.join(MOSES_FILES)}")
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError("the MOSES data ship in the `molsets` wheel: pip install --no-deps molsets==0.3.1")
    path = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "data" / f"{name}.csv.gz"
    if not path.is_file():
        raise ResourceError(f"the molsets package has no {path.name}; reinstall it with pip install --no-deps molsets")
    return path


def read_smiles_lines(path: str | Path, limit: int | None = None) -> list[tuple[int, str]]:
    """(line number, SMILES) for each non-empty line of a .smi/.csv file (optionally gzipped), in file order."""
    path = Path(path)
    if not path.is_file():
        raise ResourceError(f"no such SMILES file: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    is_csv = ".csv" in path.suffixes
    out: list[tuple[int, str]] = []
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            rows = csv.reader(f) if is_csv else ((ln.split()[:1] or [""]) for ln in f)
            column = 0
            for number, row in enumerate(rows, start=1):
                if not row or not row[0].strip() and len(row) == 1:
                    continue
                if number == 1 and _is_header(row):
                    lowered = [c.strip().lower() for c in row]
                    column = next(i for i, name in enumerate(lowered) if name in SMILES_HEADERS)
                    continue
                if column >= len(row):
                    raise ResourceError(f"{path}: line {number} has no column {column + 1}")
                out.append((number, row[column].strip()))
                if limit is not None and len(out) >= limit:
                    break
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as e:
        raise ResourceError(f"cannot read {path} as a SMILES file: {e}") from None
    if not out:
        raise ResourceError(f"{path} holds no SMILES")
    return out


SMILES_HEADERS = ("smiles", "smi", "canonical_smiles")


def _is_header(row: list[str]) -> bool:
    return any(c.strip().lower() in SMILES_HEADERS for c in row)


def canonical_lines(lines: list[tuple[int, str]], source: str, skip_invalid: bool) -> list[str]:
    """Canonical SMILES of each line; invalid lines are an error naming the first, or dropped."""
    canon = canonical_many(s for _, s in lines)
    bad = [(number, text) for (number, text), c in zip(lines, canon) if c is None]
    if bad and len(bad) == len(lines):
        raise ResourceError(f"{source}: none of the {len(lines)} SMILES is a valid molecule "
                            f"(line {bad[0][0]}: {excerpt(bad[0][1])})")
    if bad and not skip_invalid:
        raise ResourceError(f"{source}: {len(bad)} of {len(lines)} SMILES are not valid molecules, the first on line "
                         f"{bad[0][0]}: {excerpt(bad[0][1])}; fix them or pass {{skip_invalid}}")
    if bad:
        print(f"{source}: skipped {len(bad)} invalid SMILES of {len(lines)} (first on line {bad[0][0]})",
              file=sys.stderr)
    return [c for c in canon if c is not None]


def load_moses_file(name: str, limit: int | None = None) -> list[str]:
    """Canonical SMILES of one MOSES set, the first `limit` of them."""
    path = moses_path(name)
    return canonical_lines(read_smiles_lines(path, limit), f"MOSES {name}", skip_invalid=True)


def molecule_splits(texts: dict[str, list[str]], representation: str, name: str) -> Splits:
    """Token-id rows for canonical SMILES per split, with the vocabulary built from all of them."""
    tokens = {split: [tokenize(s, representation) for s in smiles] for split, smiles in texts.items()}
    everything = [t for split in SPLITS for t in tokens[split]]
    vocabulary = Vocabulary.build(everything, representation)
    max_len = longest(everything)
    rows = {split: vocabulary.encode(tokens[split], max_len) if tokens[split]
            else torch.zeros(0, max_len, dtype=torch.long) for split in SPLITS}
    return Splits(rows["train"], rows["val"], rows["test"], name=name, texts=texts,
                  vocabulary=vocabulary.to_json(), vocab_size=len(vocabulary))


@datasets.register("moses")
def moses_splits(config: DataConfig) -> Splits:
    pool = load_moses_file("train", config.limit)
    n_val = min(config.val_size, len(pool) // 10)
    texts = {"train": pool[:len(pool) - n_val], "val": pool[len(pool) - n_val:],
             "test": load_moses_file("test", MOSES_TEST_SIZE)}
    return molecule_splits(texts, config.representation, "moses")


@datasets.register("smiles")
def smiles_file_splits(config: DataConfig) -> Splits:
    smiles = canonical_lines(read_smiles_lines(config.path, config.limit), str(config.path), config.skip_invalid)
    if len(smiles) < 3:
        raise ResourceError(f"{config.path}: {len(smiles)} valid molecules; training, validation and test "
                            "need one each")
    n_test = max(1, min(FILE_TEST_MAX, int(len(smiles) * FILE_TEST_SHARE)))
    pool = smiles[:len(smiles) - n_test]
    n_val = max(1, min(config.val_size, len(pool) // 10)) if config.val_size else 0
    texts = {"train": pool[:len(pool) - n_val], "val": pool[len(pool) - n_val:], "test": smiles[len(smiles) - n_test:]}
    return molecule_splits(texts, config.representation, "smiles")

