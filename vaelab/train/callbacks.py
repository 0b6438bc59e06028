"""Hooks into a training run: `fit(..., callbacks=[...])` calls each at the start, after every epoch
(with exactly the record written to metrics.jsonl) and at the end.

A callback sees the run through a `TrainingView`: the config, the run folder (None in memory), the
network with this epoch's weights, and a few validation examples to reconstruct. Under several
processes only the first calls callbacks, as only it writes. A callback must leave the training
as it found it: the trainer's random generator is not shared, and the network goes back into
training mode by itself at the next epoch.

    class PrintLoss(vaelab.Callback):
        def on_epoch_end(self, view, record):
            print(record["epoch"], record["train_loss"])

    vaelab.fit("mnist", "runs/x", callbacks=[PrintLoss()])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import RunConfig
from ..data import Splits
from ..model import Model
from ..run import Run


@dataclass
class TrainingView:
    """What a callback may read of the training. `first_epoch` is 1, or N + 1 when resumed after epoch N."""

    config: RunConfig
    run: Run | None
    network: torch.nn.Module
    examples: torch.Tensor | None  # up to 8 validation examples, as the network sees them
    labels: torch.Tensor | None  # their labels, for a conditional model
    first_epoch: int
    data: Splits | None = None  # the splits it trains on (the test split: for a final evaluation)

    def model(self) -> Model:
        """The network as a `vaelab.Model` (sample, reconstruct, encode), with the weights of this moment."""
        return Model(self.network, self.config, self.run)


class Callback:
    """Override the hooks you need; each is called in the training's only (or first) process."""

    def on_train_start(self, view: TrainingView) -> None:
        """Before the first epoch of this call (also when resuming)."""

    def on_epoch_end(self, view: TrainingView, record: dict[str, Any]) -> None:
        """After an epoch is saved; `record` is the line metrics.jsonl got."""

    def on_train_end(self, view: TrainingView, error: BaseException | None) -> None:
        """After the last epoch, with the kept (best) weights in the network; or when training stopped
        with `error` (which is raised again after)."""
