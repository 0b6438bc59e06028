"""A benchmark's run folders: train a new one, resume a killed one, reuse a finished one.

A benchmark that is killed or run again should not retrain what it already has, and must never
measure a folder trained with other settings: a folder whose config differs is refused by name.
"""
from __future__ import annotations

import json
from pathlib import Path

import vaelab
from vaelab.config import RunConfig
from vaelab.data.datasets import Splits
from vaelab.train.run import CHECKPOINT, CONFIG, WEIGHTS, read_config
from vaelab.train.trainer import fit


def flat(d: dict, prefix: str = "") -> dict:
    """A nested config dict as {'model.latent_dim': 16, ...}, tuples as lists, for comparing."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def config_differences(run_dir: Path, config: RunConfig) -> list[str]:
    """Every setting in which the run folder's config.json differs from `config`."""
    theirs, ours = flat(read_config(run_dir).to_dict()), flat(config.to_dict())
    return [f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in sorted(set(theirs) | set(ours))
            if theirs.get(k) != ours.get(k)]


def checkpoint_epoch(run_dir: Path) -> int:
    """Epochs the run's checkpoint holds (0 without one)."""
    from safetensors import safe_open

    if not (run_dir / CHECKPOINT).is_file():
        return 0
    with safe_open(str(run_dir / CHECKPOINT), framework="pt") as f:
        return int(json.loads((f.metadata() or {})["trainer"])["epoch"])


def is_finished(run_dir: Path, config: RunConfig) -> bool:
    return checkpoint_epoch(run_dir) >= config.train.epochs and (run_dir / WEIGHTS).is_file()


def check_reusable(run_dir: Path, config: RunConfig) -> None:
    """Raise SystemExit unless run_dir is absent or holds (part of) this very training."""
    if not run_dir.exists():
        return
    if not (run_dir / CONFIG).is_file():
        raise SystemExit(f"{run_dir} exists but is not a run folder (no {CONFIG}); remove it or choose another --out")
    differ = config_differences(run_dir, config)
    if differ:
        raise SystemExit(f"{run_dir} holds a different training ({'; '.join(differ)}); "
                         "remove it or choose another --out")
    if not is_finished(run_dir, config) and checkpoint_epoch(run_dir) == 0:
        raise SystemExit(f"{run_dir} has no finished epoch to resume from; remove it and start again")


def train_or_reuse(config: RunConfig, splits: Splits, run_dir: Path, progress: bool):
    """The model with the weights run_dir keeps, training or resuming only what is missing."""
    check_reusable(run_dir, config)
    if not (run_dir.exists() and is_finished(run_dir, config)):
        fit(config, splits, run_dir, resume=run_dir.exists(), progress=progress)
    return vaelab.load(run_dir)
