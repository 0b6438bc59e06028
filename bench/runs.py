"""A benchmark's run folders: train a new one, resume a killed one, reuse a finished one.

A benchmark that is killed or run again should not retrain what it already has, and must never
measure a folder trained with other settings: a folder whose config differs is refused by name.
"""
from __future__ import annotations

from pathlib import Path

from vaelab import Run
from vaelab.config import RunConfig
from vaelab.data import Splits
from vaelab.errors import ResourceError
from vaelab.train.options import build, layered
from vaelab.train.trainer import train


def flat(d: dict, prefix: str = "") -> dict:
    """A nested config dict as {'model.latent_dim': 16, ...}, tuples as lists, for comparing."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def config_differences(run: Run, config: RunConfig) -> list[str]:
    """Every setting in which the run folder's config.json differs from `config`."""
    theirs, ours = flat(run.config.to_dict()), flat(config.to_dict())
    return [f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in sorted(set(theirs) | set(ours))
            if theirs.get(k) != ours.get(k)]


def is_finished(run_dir: Path, config: RunConfig) -> bool:
    run = Run.open(run_dir)
    return run.checkpoint_epoch() >= config.train.epochs and run.has_weights


def check_reusable(run_dir: Path, config: RunConfig) -> None:
    """Raise SystemExit unless run_dir is absent or holds (part of) this very training."""
    if not run_dir.exists():
        return
    try:
        run = Run.open(run_dir)
    except ResourceError as e:
        raise SystemExit(f"{run_dir} exists but is not a run folder ({e}); remove it or choose another --out")
    differ = config_differences(run, config)
    if differ:
        raise SystemExit(f"{run_dir} holds a different training ({'; '.join(differ)}); "
                         "remove it or choose another --out")
    if run.checkpoint_epoch() == 0:  # nothing to resume (and so not finished either)
        raise SystemExit(f"{run_dir} has no finished epoch to resume from; remove it and start again")


def train_or_reuse(config: RunConfig, splits: Splits, run_dir: Path, progress: bool):
    """The model with the weights run_dir keeps, training or resuming only what is missing."""
    check_reusable(run_dir, config)
    if not (run_dir.exists() and is_finished(run_dir, config)):
        train(config, splits, run_dir, resume=run_dir.exists(), progress=progress)
    return Run.open(run_dir).model()


def preset_config(preset: str, splits: Splits | None = None, **options) -> tuple[RunConfig, Splits]:
    """A preset's RunConfig (and its data) with `options` on top: the settings a benchmark trains with."""
    return build(layered(options, preset), splits)
