"""Progress bars for long work, on stderr so stdout stays clean for results (e.g. --json)."""
from __future__ import annotations

import sys


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "it"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False, dynamic_ncols=True,
                mininterval=0.5, file=sys.stderr)
