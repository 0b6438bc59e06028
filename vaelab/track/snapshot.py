"""What the loggers log, computed once for all of them: scalars of a metrics line, the config as flat
hyperparameters, and sample and reconstruction grids of the model as it is at the end of an epoch."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from ..train.callbacks import TrainingView
from ..viz.grid import grid_image

IMAGES_EVERY = 5  # epochs between picture grids (the last epoch always gets them)
SAMPLES = 16
SAMPLE_SEED = 0  # the same draws every epoch, so the grids show the model change, not the noise


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """Every number of a metrics.jsonl line but the epoch (the step it is logged at)."""
    return {k: float(v) for k, v in record.items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def hyperparameters(config) -> dict[str, Any]:
    """The run's config as flat `section.field` values a tracker takes (ints, floats, strings, booleans)."""
    flat = {}
    for section in ("data", "model", "train"):
        for key, value in dataclasses.asdict(getattr(config, section)).items():
            if value is None or isinstance(value, (list, tuple, dict)):
                value = str(value)
            flat[f"{section}.{key}"] = value
    return flat


FINAL_EXAMPLES, FINAL_IWAE_K = 2000, 10  # the final evaluation: a bounded look, `vaelab evaluate` is the full one


@torch.no_grad()
def final_evaluation(view: TrainingView) -> dict[str, float]:
    """The trained model (the kept weights) on up to FINAL_EXAMPLES test examples, as `vaelab evaluate
    --iwae-k FINAL_IWAE_K -n FINAL_EXAMPLES` reports it: test_elbo, test_recon, test_kl, test_nll_iwae,
    test_bits_per_dim, test_active_units. Empty for molecules (`vaelab mol evaluate`) or no test split."""
    from ..metrics.likelihood import evaluate

    data = view.data
    if data is None or view.config.model.reads_tokens or not len(data.test):
        return {}
    network, was_training = view.network, view.network.training
    try:
        result = evaluate(view.model(), data, "test", iwae_k=FINAL_IWAE_K, n=min(FINAL_EXAMPLES, len(data.test)))
    finally:
        network.train(was_training)
    return {f"test_{k}": float(result[k]) for k in ("elbo", "recon", "kl", "nll_iwae", "bits_per_dim", "active_units")
            if isinstance(result.get(k), (int, float)) and not isinstance(result.get(k), bool)}


def kept_record(view: TrainingView, seen: dict[str, Any] | None) -> dict[str, Any] | None:
    """The metrics line of the kept (best) epoch: from the run folder, which also knows the epochs
    before a resume, else the last best one this logger saw."""
    if view.run is not None:
        kept = [r for r in view.run.metrics() if r.get("best")]
        return kept[-1] if kept else None
    return seen


def wants_pictures(view: TrainingView, epoch: int, every: int) -> bool:
    shape = view.config.model.shape
    images = len(shape) == 3 and shape[0] in (1, 3) and not view.config.model.reads_tokens
    return images and (epoch % every == 0 or epoch == view.config.train.epochs)


@torch.no_grad()
def pictures(view: TrainingView) -> dict[str, np.ndarray]:
    """(H, W, 3) uint8 grids: prior samples, and validation examples above their reconstructions."""
    network, was_training = view.network, view.network.training
    network.eval()  # batch statistics must not move, and dropout must not act, while we look
    try:
        model = view.model()
        labels = torch.arange(SAMPLES) % model.num_classes if model.conditional else None
        grids = {"samples": grid_image(model.sample(SAMPLES, generator=SAMPLE_SEED, y=labels), nrow=8)}
        if view.examples is not None:
            recon = model.reconstruct(view.examples, view.labels)
            grids["reconstructions"] = grid_image(torch.cat([view.examples.cpu(), recon.cpu()]),
                                                  nrow=len(view.examples))
    finally:
        network.train(was_training)
    return {name: np.asarray(image.convert("RGB")) for name, image in grids.items()}
