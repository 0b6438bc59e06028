"""Progress of long work, on stderr so stdout stays clean for results (e.g. --json).

On a terminal: a tqdm bar that redraws itself in place. Elsewhere (a log file, a captured pipe) a bar's
carriage-return redraws would be noise, so a caller that asks for it (`lines=True`) gets a plain line
every LOG_EVERY_S seconds instead, and a last one when the work ends; work shorter than that writes
nothing at all.
"""
from __future__ import annotations

import sys
import time

LOG_EVERY_S = 10.0  # seconds of wall time between two progress lines in a log


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "it", lines: bool = False):
    """A progress display of `total` units with tqdm's interface (update, set_postfix, close, `with`).

    A tqdm bar where stderr is a terminal. Where it is not: with `lines`, a `ProgressLines` that writes a
    line now and then; without (training, which logs a line per epoch itself), nothing."""
    if enabled and lines and not _is_terminal(sys.stderr):
        return ProgressLines(total, desc, unit)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None if enabled else True, leave=False,
                dynamic_ncols=True, mininterval=0.5, file=sys.stderr)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream: not a terminal
        return False


class ProgressLines:
    """Progress as whole lines, for logs: "desc: 1200/10000 img (12%), 118 img/s, 75s left", at most one
    every LOG_EVERY_S seconds; never a carriage return. If any line was written, `close` adds
    "desc: done N/N in Xs", so a log says when the work ended; short work stays silent."""

    def __init__(self, total: int, desc: str, unit: str = "it", stream=None):
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.n, self.postfix, self.written, self.closed = 0, "", 0, False
        self.began = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        finished = self.total and self.n >= self.total  # the closing line says it
        if now - self.last >= LOG_EVERY_S and not self.closed and not finished:
            self.last = now
            rate = self.n / max(now - self.began, 1e-9)
            speed = f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}"
            share = f" ({self.n / self.total:.0%})" if self.total else ""
            left = f", {_duration((self.total - self.n) / rate)} left" if self.total and rate > 0 else ""
            postfix = f", {self.postfix}" if self.postfix else ""
            self._write(f"{self.desc}: {self._count()} {self.unit}{share}, {speed} {self.unit}/s{left}{postfix}")

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        """Figures shown after the count (tqdm's signature); they appear in the next line written."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in {**(ordered_dict or {}), **kwargs}.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.written:
            ended = "done" if not self.total or self.n >= self.total else "stopped at"
            self._write(f"{self.desc}: {ended} {self._count()} in {_duration(time.monotonic() - self.began)}")

    def _count(self) -> str:
        return f"{self.n}/{self.total}" if self.total else str(self.n)

    def _write(self, line: str) -> None:
        self.written += 1
        print(line, file=self.stream, flush=True)  # flushed: a log is read while the work goes on

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _duration(seconds: float) -> str:
    """12s, 7.5min, 2.3h: a log reader wants the order of magnitude at a glance."""
    if seconds < 90:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.1f}min" if seconds < 90 * 60 else f"{seconds / 3600:.1f}h"
