"""The command-line reference as Markdown, generated from the parser itself (the docs site's
reference/cli.md is this text), so the reference and `--help` cannot disagree."""
from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

WIDTH = 100  # the columns argparse wraps the help to


Command = tuple[tuple[str, ...], argparse.ArgumentParser]


def commands(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Command]:
    """(command path, parser) for every command and subcommand, in `--help`'s order."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from commands(sub, (*path, name))


def markdown() -> str:
    """One section per command: its one-line summary and its whole `--help`."""
    from . import parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)  # argparse reads the width from here
    try:
        root = parser()
        parts = ["Every command of `vaelab`, with the text its `--help` prints.", "",
                 "```text", root.format_help().rstrip(), "```", ""]
        for path, sub in commands(root):
            parts += [f"## vaelab {' '.join(path)}", "", sub.description or "", "", "```text",
                      sub.format_help().rstrip(), "```", ""]
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)
