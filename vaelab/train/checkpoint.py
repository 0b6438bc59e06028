"""Atomic files, weights in safetensors, and the resumable training checkpoint (no pickle anywhere).

The checkpoint is one safetensors file: model weights, optimiser moments and the RNG state as
tensors, and the trainer's counters as JSON in the file's metadata. One file means one atomic
rename, so a killed run never leaves a model from one epoch beside an optimiser from another.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import VaelabError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp makes 0600 files, but run folders should be as readable as any file


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only if the block succeeds."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def save_weights(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise VaelabError(f"{path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise VaelabError(f"{path} is corrupt or not a safetensors file ({e})") from None


def load_weights(model: nn.Module, path: str | Path) -> None:
    load_weights_from(model, read_safetensors(path), path)


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, trainer_state: dict[str, Any]) -> None:
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).detach().contiguous().cpu()
    tensors["rng"] = generator.get_state().cpu()
    meta = {"trainer": json.dumps(trainer_state), "param_groups": json.dumps(opt["param_groups"])}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> dict[str, Any]:
    """Restore model, optimiser and RNG in place; return the trainer's counters."""
    path = Path(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        trainer_state = json.loads(meta["trainer"])
        param_groups = json.loads(meta["param_groups"])
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise VaelabError(f"cannot resume: checkpoint {path} is missing or corrupt ({e})") from None
    device = next(model.parameters()).device
    load_weights_from(model, {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, path)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            slot = value if name == "step" else value.to(device)
            state.setdefault(int(index), {})[name] = slot
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except ValueError as e:  # e.g. written by a vaelab that grouped the parameters differently
        raise VaelabError(f"cannot resume from {path}: its optimiser state does not fit this model ({e})") from None
    generator.set_state(tensors["rng"])
    return trainer_state


def load_weights_from(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise VaelabError(f"{path} does not fit this run's config.json: {str(e).splitlines()[0]}") from None
