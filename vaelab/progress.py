"""Progress bars for long work, on stderr so stdout stays clean for results (e.g. --json)."""
from __future__ import annotations

import sys


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "it"):
    """A tqdm bar on stderr, shown only where stderr is a terminal (`disable=None`): a log file or a
    captured pipe gets the one-line messages, not carriage-return animations."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None if enabled else True, leave=False,
                dynamic_ncols=True, mininterval=0.5, file=sys.stderr)
