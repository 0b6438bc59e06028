"""What commands write: one way to print a result (a table, or --json), to write it atomically to
--out, and to check an output path before any work is done."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError, ResourceError
from ..io import write_json


def writable(path: str | Path, parameter: str = "out") -> Path:
    """An output file's path, refused before any work if it cannot be a new or replaced file: the
    folder must exist and take a file (tried with a temporary one, which is what the atomic write
    will make there: permissions alone do not tell, e.g. under /proc or on a read-only mount)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name", parameter)
    if not path.parent.is_dir():
        raise ResourceError(f"output folder does not exist: {path.parent}")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"):
            pass
    except OSError as e:
        raise ResourceError(f"cannot write into {path.parent}: {e.strerror or e}") from None
    return path


def report(result: dict[str, Any], args: argparse.Namespace, table: Callable[[dict], str]) -> None:
    """Print `result` as a table (or one JSON object with --json); with --out, also write the JSON there."""
    if getattr(args, "out", None):
        write_json(writable(args.out), result)
    print(json.dumps(result, indent=2) if args.json else table(result))


def rows(pairs: list[tuple[str, str]]) -> str:
    """Two aligned columns."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in pairs)
