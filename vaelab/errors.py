"""vaelab's one error rule: every failure a user can act on is one of three kinds.

* `InputError` -- a bad value: an argument, option, config field or request field that is out
  of range, of the wrong type or inconsistent with another. The caller fixes the value. It is a
  `ValueError`, so Python code that catches those keeps working.
* `ResourceError` -- a file, folder, package or device that cannot be used as it is: missing,
  unreadable, corrupt, of the wrong kind, or an optional package not installed. The caller
  fixes the environment, not the arguments.
* `TrainingDiverged` -- the loss or the weights became non-finite; the last good checkpoint is
  kept. Not the caller's input: a run that went wrong.

All three derive from `VaelabError`, which is never raised itself. A message names options as
`{lr}`, `{grad_clip}`: Python shows the parameter ("lr"), the command line the flag ("--lr"). An
`InputError` also says which value it is about (`parameter`): named where the message says
`{name}` (or the parameter itself), else put in front ("latent_dim: latent size must be at least
1, got 0"). The command line prints any of them as one line; bad values and resources exit with
2, a diverged run with 1. The web explorer maps them to HTTP statuses in one handler
(vaelab.serve.app).
"""
from __future__ import annotations

import re
from typing import Callable

_OPTION = re.compile(r"\{([a-z][a-z0-9_]*)\}")  # {lr}, {grad_clip}: an option named in a message


class VaelabError(Exception):
    """Base of vaelab's errors: a one-line message a user can act on. Catch this to catch them all."""

    exit_code = 2

    def __init__(self, message: str = ""):
        self.template = message
        super().__init__(self.render(lambda option: option))

    def render(self, namer: Callable[[str], str]) -> str:
        """The message with each option named by `namer` (the command line passes its flags)."""
        return _OPTION.sub(lambda m: namer(m.group(1)), self.template)


class InputError(VaelabError, ValueError):
    """A bad value. `parameter`, when given, is the name of the argument or option it came from."""

    def __init__(self, message: str, parameter: str | None = None):
        self.parameter = parameter
        super().__init__(message)

    def render(self, namer: Callable[[str], str]) -> str:
        text = _OPTION.sub(lambda m: namer(self.parameter if m.group(1) == "name" and self.parameter
                                           else m.group(1)), self.template)
        if self.parameter and "{name}" not in self.template and f"{{{self.parameter}}}" not in self.template:
            return f"{namer(self.parameter)}: {text}"
        return text


class ResourceError(VaelabError):
    """A file, folder, package or device that cannot be used as it is."""


class TrainingDiverged(VaelabError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 1


def excerpt(value: object, limit: int = 80) -> str:
    """A user's value as a message shows it: its repr, cut to `limit` characters (a 1 MB string stays a line)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(str(value)):,} characters)"
