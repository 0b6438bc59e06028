"""Exceptions a user can act on. The CLI turns them into one line and an exit code."""


class VaelabError(Exception):
    """Bad input: a value, file or option the user can fix. CLI exit code 2."""

    exit_code = 2


class TrainingDiverged(VaelabError):
    """The loss became NaN or infinite; the last good checkpoint is kept. CLI exit code 1."""

    exit_code = 1


class InputError(VaelabError, ValueError):
    """A bad argument to the Python API (a label for an unconditional model, a latent of the wrong size):
    a ValueError to Python callers, and a one-line error to CLI users."""
