"""The resumable training checkpoint: one safetensors file, no pickle.

Model weights, optimiser moments and the RNG state are tensors; the trainer's counters and the
optimiser's parameter groups are JSON in the file's metadata, and so is the epoch's metrics.jsonl
line, written again from here when a run was killed between the two files. One file means one
atomic rename, so a killed run never leaves a model from one epoch beside an optimiser from another.
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
                    generator: torch.Generator, trainer_state: dict[str, Any],
                    record: dict[str, Any] | None = None) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value)
    tensors["rng"] = generator.get_state()
    meta = {"trainer": json.dumps(trainer_state), "param_groups": json.dumps(opt["param_groups"])}
    if record is not None:
        meta["metrics"] = json.dumps(record)
    save_tensors(tensors, path, metadata=meta)


def checkpoint_counters(path: str | Path) -> dict[str, Any]:
    """The trainer's counters (epoch, step, best validation loss and epoch) without loading any tensor."""
    try:
        return _counters(json.loads(read_metadata(path)["trainer"]), path)
    except (KeyError, ValueError, RecursionError) as e:
        raise ResourceError(f"checkpoint {path} is corrupt ({e})") from None


def _counters(state: Any, path: str | Path) -> dict[str, Any]:
    """The counters as the trainer wrote them: integer epoch and step >= 0, a best loss and epoch or None."""
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
    if not (isinstance(state, dict) and whole(state.get("epoch")) and whole(state.get("step"))
            and (state.get("best_epoch") is None or whole(state["best_epoch"]))
            and (state.get("best_val") is None or isinstance(state["best_val"], (int, float)))):
        raise ResourceError(f"checkpoint {path} is corrupt (its counters are not what vaelab writes)")
    return state


def _check_tensors(tensors: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, generator: torch.Generator,
                   path: str | Path) -> None:
    """Refuse a checkpoint a resume would crash on, or train from into NaN: every tensor finite, an
    optimiser slot for each parameter with its shape, the generator's state of its size."""
    for key, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ResourceError(f"checkpoint {path} is damaged: NaN or infinite values in {key}")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, param in enumerate(params):
        slots = {name: tensors.get(f"optim.{index}.{name}") for name in ("step", "exp_avg", "exp_avg_sq")}
        if any(v is not None for v in slots.values()) and any(v is None for v in slots.values()):
            raise ResourceError(f"checkpoint {path} is damaged: the optimiser state of parameter {index} is incomplete")
        for name in ("exp_avg", "exp_avg_sq"):
            if slots[name] is not None and tuple(slots[name].shape) != tuple(param.shape):
                raise ResourceError(f"checkpoint {path} does not fit this model: optim.{index}.{name} has shape "
                                    f"{tuple(slots[name].shape)}, its parameter {tuple(param.shape)}")
    rng, expected = tensors.get("rng"), generator.get_state()
    if rng is None or rng.dtype != expected.dtype or rng.shape != expected.shape:
        raise ResourceError(f"checkpoint {path} has another random generator state than this device's: it "
                            "was written on another kind of device, or is damaged")


def checkpoint_record(path: str | Path, epoch: int) -> dict[str, Any] | None:
    """The metrics.jsonl line of the checkpoint's `epoch` (None in checkpoints of older vaelab)."""
    try:
        text = read_metadata(path).get("metrics")
        record = None if text is None else json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ResourceError(f"checkpoint {path} is corrupt ({e})") from None
    if record is not None and not (isinstance(record, dict) and record.get("epoch") == epoch):
        raise ResourceError(f"checkpoint {path} is corrupt (its metrics line is not of its epoch {epoch})")
    return record


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> dict[str, Any]:
    """Restore model, optimiser and RNG in place; return the trainer's counters."""
    try:
        meta, tensors = read_metadata(path), read_tensors(path)
    except ResourceError as e:
        raise ResourceError(f"cannot resume: {e}") from None
    try:
        trainer_state, param_groups = _counters(json.loads(meta["trainer"]), path), json.loads(meta["param_groups"])
    except (ValueError, KeyError, RecursionError) as e:
        raise ResourceError(f"cannot resume: checkpoint {path} is corrupt ({e})") from None
    _check_tensors(tensors, optimizer, generator, path)
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
    except (ValueError, KeyError, TypeError) as e:  # e.g. written by a vaelab that grouped the parameters differently
        raise ResourceError(f"cannot resume from {path}: its optimiser state does not fit this model ({e})") from None
    generator.set_state(tensors["rng"])
    return trainer_state
