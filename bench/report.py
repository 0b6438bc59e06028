"""What every benchmark does with its results: print the command that reproduces them, save them as JSON."""
from __future__ import annotations

import json
import shlex
import sys


def command_line(module: str, argv: list[str] | None) -> str:
    """`python -m MODULE ARGS...`, as the user typed it (or as `main(argv)` was called)."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def write_json(path: str | None, results: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
