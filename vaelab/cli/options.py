"""How commands declare their arguments: the command table, the training options generated from the
config fields (help text and defaults live in `vaelab.config`), and the arguments every run-reading
command shares."""
from __future__ import annotations

import argparse
import inspect
from typing import Any, Callable

from ..config import option_name, option_table
from ..train.options import EXTRA_OPTIONS, MOLECULE_DEFAULTS, option_names
from .output import add_out


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Examples keep their layout; every option with a default says it (help strings never repeat one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        default = action.default
        if "(default" in help or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return help
        return f"{help} (default {_show(default)})"


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "none"
    return str(value).replace("%", "%%")


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line, like every other refusal: what was wrong and
    where to read more (argparse would print the whole usage block first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Library parameters whose command-line option has another name.
PARAMETER_DESTS = {"y": "label", "images_every": "log_images_every"}


class FlagMap:
    """Which flag of a command set a library parameter, so an error names what the user typed."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def flag(self, parameter: str) -> str:
        """The flag of this command that sets `parameter` (a config field or an option); else, for a
        training option, its flag of `vaelab train`; else the parameter's own name."""
        names = {parameter, option_name(parameter), PARAMETER_DESTS.get(parameter, parameter)}
        for action in self.parser._actions:
            if action.dest in names and action.option_strings and action.help != argparse.SUPPRESS:
                return action.option_strings[0]
        name = option_name(parameter)
        return "--" + name.replace("_", "-") if name in option_names() else parameter


class Commands:
    """The table of subcommands. `add` makes a command's parser; `group` a command with subcommands."""

    def __init__(self, subparsers, path: tuple[str, ...] = ()):
        self._subparsers, self.path = subparsers, path

    def add(self, name: str, help: str, examples: str, run: Callable[[argparse.Namespace], int],
            description: str | None = None) -> argparse.ArgumentParser:
        p = self._subparsers.add_parser(name, help=help, description=description or help, epilog=examples,
                                        formatter_class=Formatter)
        p.set_defaults(handler=run, command_path=(*self.path, name), parser_of=FlagMap(p))
        return p

    def group(self, name: str, help: str, examples: str) -> "Commands":
        p = self._subparsers.add_parser(name, help=help, description=help, epilog=examples, formatter_class=Formatter)
        return Commands(p.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND",
                                         parser_class=Parser),
                        (*self.path, name))


# --- values ----------------------------------------------------------------------------------------------
def ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip()) if text.strip() else ()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


NUMBER_LIST_OPTIONS = ("--alpha",)  # they take lists such as -2,-1,0,1,2


def join_negative_lists(argv: list[str]) -> list[str]:
    """`--alpha -2,-1,0` -> `--alpha=-2,-1,0`: argparse would read "-2,-1,0" as an unknown option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in NUMBER_LIST_OPTIONS and token[:1] == "-" and token[1:2].isdigit():
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def default_of(function: Callable, parameter: str) -> Any:
    """A library function's default for a parameter: the command line offers the same one."""
    return inspect.signature(function).parameters[parameter].default


# --- the training options -------------------------------------------------------------------------------
_PARSERS = {"int": int, "float": float, "str": str}
_GROUPS = {"data": "data", "model": "model", "train": "optimisation"}


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Every option of `vaelab train`, generated from the config fields (also taken by `anomaly fit`).

    Defaults are None, so that a resumed or preset run can tell what the user said; the help text
    shows the real defaults, and those of molecules where they differ."""
    groups = {title: p.add_argument_group(title) for title in _GROUPS.values()}
    groups["data"].add_argument("--data", help=EXTRA_OPTIONS["data"] + " (default mnist)")
    for name, option in option_table().items():
        meta, kind = option.field.metadata, str(option.field.type).split("|")[0].strip()
        extra = {}
        if kind == "bool":
            extra = dict(action="store_true", default=None)
        elif kind.startswith("tuple"):
            extra = dict(type=ints if "int" in kind else names, metavar=meta.get("metavar") or "LIST")
        else:
            extra = dict(type=_PARSERS[kind], metavar=meta.get("metavar"))
        choices = meta.get("choices")
        if choices:
            extra["choices"] = _registry_names(choices) if isinstance(choices, str) else choices
            extra.pop("metavar", None)
        group = groups[_GROUPS[option.section]]
        group.add_argument(option.flag, dest=name, help=_help(name, option), **extra)
    groups["model"].add_argument("--conditional", action="store_true", default=None, help=EXTRA_OPTIONS["conditional"])
    groups["data"].add_argument("--classes", dest="keep_labels", type=ints, help=argparse.SUPPRESS)  # version-1 name


def _help(name: str, option) -> str:
    default, help = option.default, option.field.metadata["help"]
    if isinstance(default, bool) or "(default" in help:
        return help
    text = f"{help} (default {'none' if default in (None, ()) else _show(default)}"
    if name in MOLECULE_DEFAULTS and MOLECULE_DEFAULTS[name] != default:
        text += f"; molecules {_show(MOLECULE_DEFAULTS[name])}"
    return text + ")"


def _registry_names(kind: str) -> list[str]:
    from .. import registry

    return {"architecture": registry.architectures, "likelihood": registry.likelihoods,
            "regularizer": registry.regularizers}[kind].names()


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The training options the user gave on the command line (not those left at None)."""
    return {name: getattr(args, name) for name in ["data", "conditional", *option_table()]
            if getattr(args, name, None) is not None}


# --- what every command that reads a run shares ----------------------------------------------------------
def add_run_argument(p: argparse.ArgumentParser, data: bool = True) -> None:
    p.add_argument("run", help="run folder")
    if data:
        p.add_argument("--data", help="data to use instead of the run's own, of the same kind (needed for runs "
                                      "trained on in-memory arrays): mnist, idx:DIR, folder:DIR, ...")


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_out(p, "also write the JSON to this file")
