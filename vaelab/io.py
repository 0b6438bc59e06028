"""Files, written atomically and read defensively; tensors in safetensors (no pickle anywhere).

Every file vaelab writes goes through `atomic_path`: the content is written to a temporary file
beside the target, synced, and renamed over it only when complete, so a killed process never
leaves a half-written file under the real name. The two exceptions are files that grow or that
only name something: a log appended a line at a time (`append_line`, cut back if a write
fails) and a run folder's lock file. Every file vaelab reads may have been damaged or written by
someone else: the readers turn any failure into one `ResourceError` naming the path.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import ResourceError, excerpt

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp makes 0600 files, but outputs should be as readable as any file


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only if the block succeeds."""
    target = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise ResourceError(f"cannot write {target}: {e.strerror or e}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        _sync(tmp)  # the bytes reach the disk before the name does: a power cut leaves old or new, not empty
        os.replace(tmp, target)
        _sync(target.parent)
    except (OSError, SafetensorError) as e:  # a full disk, a folder made read-only meanwhile: the target
        raise ResourceError(f"cannot write {target}: {_cause(e)}") from None  # keeps its old content
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sync(path: str | Path) -> None:
    """fsync a file, or a folder (which publishes a rename in it) where the system allows that."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not os.path.isdir(path):  # some file systems cannot sync a folder; a file must sync
            raise
    finally:
        os.close(fd)


def _cause(error: Exception) -> str:
    """An OS error's reason ("No space left on device"); safetensors wraps it in its own text."""
    text = getattr(error, "strerror", None) or str(error)
    return text.splitlines()[0] if text else type(error).__name__


def append_line(target: str | Path, line: str) -> None:
    """Append one line to a log file and sync it. A failed append (a full disk) is cut back off, so
    the file never ends in half a line; the failure is a ResourceError naming the file."""
    data = (line + "\n").encode()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise ResourceError(f"cannot write {target}: {e.strerror or e}") from None
    size = os.fstat(fd).st_size
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise ResourceError(f"cannot write {target}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def atomic_write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | Path, value: Any) -> None:
    """`value` as indented JSON with a final newline, atomically."""
    atomic_write_text(target, json.dumps(value, indent=2) + "\n")


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """The decoded content of a JSON file; a missing, unreadable or malformed file is a ResourceError."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResourceError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: JSONDecodeError, and
        # a number of more digits than Python converts; RecursionError: arrays nested thousands deep
        raise ResourceError(f"{path} is not a readable {what} ({excerpt(str(e))})") from None


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Tensors (moved to the CPU, made contiguous) as one safetensors file, atomically."""
    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ResourceError(f"{path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ResourceError(f"{path} is corrupt or not a safetensors file ({e})") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata stored in a safetensors file's header (empty when it has none)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ResourceError(f"{path} is missing or not a safetensors file ({e})") from None


def save_weights(module: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    save_tensors(module.state_dict(), path, metadata)


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a safetensors file into `module`, refusing one whose tensors do not fit it exactly."""
    load_state(module, read_tensors(path), path)


def load_state(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ResourceError(f"{path} does not fit the network it is loaded into (the run's config): "
                            f"{str(e).splitlines()[0]}") from None
