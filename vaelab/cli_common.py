"""Helpers every command shares: loading a run, checking an output path, refusing non-images."""
from __future__ import annotations

from pathlib import Path

from .errors import VaelabError


def load_run(run, device="cpu"):
    from .train.run import load

    return load(run, device=str(device))


def data_spec(spec: str) -> tuple[str, str | None]:
    """--data SPEC -> (dataset name, path with ~ expanded, or None)."""
    from .data import parse_data_spec

    name, path = parse_data_spec(spec)
    return name, (str(Path(path).expanduser()) if path else None)


def writable_path(path) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise VaelabError(f"output folder does not exist: {path.parent}")
    return path


def as_images(x):
    """Flat (tabular) examples cannot be drawn; images pass through."""
    if x.dim() != 4:
        raise VaelabError(f"this run's examples have shape {tuple(x.shape[1:])}, which is not an image")
    return x
