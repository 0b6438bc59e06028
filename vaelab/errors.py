"""vaelab's one error rule: every failure a user can act on is one of three kinds.

* `InputError` -- a bad value: an argument, option, config field or request field that is out
  of range, of the wrong type or inconsistent with another. The caller fixes the value. It is a
  `ValueError`, so Python code that catches those keeps working. `parameter`, when given, names
  the value: Python shows "latent_dim: latent size must be at least 1, got 0", the command line
  the flag instead ("--latent-dim: ...").
* `ResourceError` -- a file, folder, package or device that cannot be used as it is: missing,
  unreadable, corrupt, of the wrong kind, or an optional package not installed. The caller
  fixes the environment, not the arguments.
* `TrainingDiverged` -- the loss or the weights became non-finite; the last good checkpoint is
  kept. Not the caller's input: a run that went wrong.

All three derive from `VaelabError`, which is never raised itself. The command line prints any
of them as one line; bad values and resources exit with 2, a diverged run with 1. The web
explorer maps them to HTTP statuses in one handler (vaelab.serve.app).
"""
from __future__ import annotations


class VaelabError(Exception):
    """Base of vaelab's errors: a one-line message a user can act on. Catch this to catch them all."""

    exit_code = 2


class InputError(VaelabError, ValueError):
    """A bad value. `parameter`, when given, is the name of the argument or option it came from: the
    message names it where it says "{name}", else it is put in front ("latent_dim: ...")."""

    def __init__(self, message: str, parameter: str | None = None):
        self.detail, self.parameter = message, parameter
        super().__init__(self.naming(parameter) if parameter else message)

    def naming(self, name: str) -> str:
        """The message with the value called `name` (e.g. a command-line flag) instead of its parameter."""
        if not self.parameter:
            return self.detail
        return self.detail.replace("{name}", name) if "{name}" in self.detail else f"{name}: {self.detail}"


class ResourceError(VaelabError):
    """A file, folder, package or device that cannot be used as it is."""


class TrainingDiverged(VaelabError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 1
