"""The `vaelab` command: one module per group of commands, each registering its parsers and a `run`.

Commands turn arguments into calls of the library (`Run`, `Model`, `vaelab.fit`, the tools and
apps) and print what comes back; they hold no logic a Python user would need. This module is the
one error boundary: any `VaelabError` becomes one line on stderr and its exit code (2 for a bad
value or an unusable file, 1 for a diverged run), with a library parameter shown as its flag.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import VaelabError
from ..version import __version__
from . import apps, compress, draw, evaluate, export, factors, latent, mol, report, serve, train
from .options import Commands, Parser, join_negative_lists

GROUPS = (train, evaluate, draw, latent, apps, factors, mol, serve, export, report, compress)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="vaelab", description="Train, evaluate and explore variational autoencoders.",
                                epilog="Run `vaelab COMMAND --help` for each command's options and an example.")
    p.add_argument("--version", action="version", version=f"vaelab {__version__}")
    commands = Commands(p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser))
    for group in GROUPS:
        group.register(commands)
    return p


def command_names() -> list[str]:
    """The top-level commands, as `vaelab --help` lists them."""
    subparsers = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(subparsers.choices)


def main(argv: list[str] | None = None) -> int:
    argv = join_negative_lists(sys.argv[1:] if argv is None else list(argv))
    args = parser().parse_args(argv)
    args.argv = argv  # the command line as given, for `train --nproc` to pass on to its processes
    name = " ".join(args.command_path)  # as argparse names it: `vaelab mol optimize: error: ...`
    try:
        return args.handler(args)
    except VaelabError as e:
        print(f"vaelab {name}: error: {one_line(e.render(args.parser_of.flag))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"vaelab {name}: interrupted", file=sys.stderr)
        return 130


def one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":
    sys.exit(main())
