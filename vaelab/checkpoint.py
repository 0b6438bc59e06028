"""The resumable training checkpoint: one safetensors file, no pickle.

Model weights, optimiser moments and the RNG state are tensors; the trainer's counters and the
optimiser's parameter groups are JSON in the file's metadata. One file means one atomic rename,
so a killed run never leaves a model from one epoch beside an optimiser from another.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ResourceError
from .io import load_state, read_metadata, read_tensors, save_tensors


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, trainer_state: dict[str, Any]) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value)
    tensors["rng"] = generator.get_state()
    meta = {"trainer": json.dumps(trainer_state), "param_groups": json.dumps(opt["param_groups"])}
    save_tensors(tensors, path, metadata=meta)


def checkpoint_counters(path: str | Path) -> dict[str, Any]:
    """The trainer's counters (epoch, step, best validation loss and epoch) without loading any tensor."""
    try:
        return json.loads(read_metadata(path)["trainer"])
    except (KeyError, ValueError) as e:
        raise ResourceError(f"checkpoint {path} is corrupt ({e})") from None


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> dict[str, Any]:
    """Restore model, optimiser and RNG in place; return the trainer's counters."""
    try:
        meta, tensors = read_metadata(path), read_tensors(path)
    except ResourceError as e:
        raise ResourceError(f"cannot resume: {e}") from None
    try:
        trainer_state, param_groups = json.loads(meta["trainer"]), json.loads(meta["param_groups"])
    except (ValueError, KeyError) as e:
        raise ResourceError(f"cannot resume: checkpoint {path} is corrupt ({e})") from None
    device = next(model.parameters()).device
    load_state(model, {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, path)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            slot = value if name == "step" else value.to(device)
            state.setdefault(int(index), {})[name] = slot
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except ValueError as e:  # e.g. written by a vaelab that grouped the parameters differently
        raise ResourceError(f"cannot resume from {path}: its optimiser state does not fit this model ({e})") from None
    generator.set_state(tensors["rng"])
    return trainer_state
