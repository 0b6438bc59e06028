"""Matplotlib figures written as PNG: a headless backend, and an atomic save that frees the figure."""
from __future__ import annotations

from pathlib import Path

from ..io import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path) -> Path:
    """Write `fig` to `path` atomically (never a half-written PNG) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)
    return path
