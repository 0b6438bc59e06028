"""The run folder: what a training run leaves behind, and how tools load it back.

    config.json         the full RunConfig, enough to rebuild the model and reload its data
    model.safetensors   the weights with the best validation loss
    checkpoint.safetensors  last weights + optimiser + RNG + counters, for --resume
    metrics.jsonl       one JSON line per epoch
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..config import RunConfig
from ..errors import VaelabError
from .checkpoint import atomic_write_text, load_weights

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
STANDARDIZATION = "standardization.json"  # tables only: the training columns' means and stds
VOCABULARY = "vocab.json"  # molecules only: the tokens behind the model's ids, and their representation


def prepare_run_dir(out: str | Path, config: RunConfig, resume: bool) -> Path:
    out = Path(out)
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise VaelabError(f"cannot resume: {out / CHECKPOINT} not found")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VaelabError(f"run folder {out} already exists and is not empty; "
                          "use --resume to continue it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / CONFIG, config.to_json())
    return out


def discard_unfinished_run(out: str | Path) -> None:
    """Remove a run folder that failed before its first checkpoint: it holds nothing worth keeping."""
    out = Path(out)
    if out.is_dir() and not (out / CHECKPOINT).exists() and not (out / WEIGHTS).exists():
        shutil.rmtree(out)


def read_config(run_dir: str | Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise VaelabError(f"run folder not found: {run_dir}")
    if not (run_dir / CONFIG).is_file():
        raise VaelabError(f"{run_dir} is not a vaelab run folder (no {CONFIG})")
    return RunConfig.from_json((run_dir / CONFIG).read_text())


def load(run_dir: str | Path, device: str = "cpu"):
    """Load a trained model from a run folder, ready for `encode`, `decode`, `sample`, `reconstruct`.

    >>> model = vaelab.load("runs/demo")
    >>> images = model.sample(16)            # (16, 1, 28, 28)
    """
    from ..models import VAE

    config = read_config(run_dir)
    model = VAE(config.model)
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise VaelabError(f"{run_dir} has no {WEIGHTS}: the run has not finished an epoch")
    load_weights(model, path)
    model.run_config = config
    return model.to(device).eval()
