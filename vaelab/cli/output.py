"""What commands write: one way to print a result (a table, or --json), to write it atomically to
--out, and to check an output path before any work is done.

The one policy for existing outputs: a path the user names (`--out`, `--manifold`) that exists is
refused unless `--force` is given; a command's default output inside the run folder (samples.png,
...) is its own file and is replaced. Run folders and export folders are never overwritten by
accident either (`vaelab train --out` refuses a folder in use; export needs `--force`)."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError, ResourceError
from ..io import write_json


FORCE_HELP = "replace --out if it exists (without it, an existing --out is refused)"


def add_out(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    """--out and the --force that lets it replace an existing file."""
    parser.add_argument("--out", required=required, help=help)
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)


def out_path(args: argparse.Namespace, default: str | Path | None = None) -> Path | None:
    """Where a command writes: --out (an existing one only with --force), else `default` (the
    command's own file in the run folder, replaced), else None. Checked before any work."""
    if getattr(args, "out", None):
        return writable(args.out, replace=args.force)
    return None if default is None else writable(default, replace=True)


def writable(path: str | Path, parameter: str = "out", replace: bool = False) -> Path:
    """An output file's path, refused before any work if it cannot be a new (or, with `replace`, a
    replaced) file: the folder must exist and take a file (tried with a temporary one, which is what
    the atomic write will make there: permissions alone do not tell, e.g. under /proc or on a
    read-only mount)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name", parameter)
    if path.exists() and not replace:
        raise InputError(f"{path} already exists; add {{force}} to replace it", parameter)
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
        write_json(out_path(args), result)
    print(json.dumps(result, indent=2) if args.json else table(result))


def rows(pairs: list[tuple[str, str]]) -> str:
    """Two aligned columns."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in pairs)
