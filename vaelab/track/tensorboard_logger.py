"""`TensorBoardLogger`: a run's curves, pictures and config in a TensorBoard event folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ResourceError
from ..extras import module, require
from ..train.callbacks import Callback, TrainingView
from .snapshot import IMAGES_EVERY, final_evaluation, hyperparameters, kept_record, pictures, scalars, wants_pictures


class TensorBoardLogger(Callback):
    """Writes event files into `folder` (made if missing): `tensorboard --logdir folder` shows them.

    Scalars are tagged with their metrics.jsonl names at step = epoch. A resumed run appends to the
    same folder; events a killed run wrote after its last checkpoint are purged."""

    def __init__(self, folder: str | Path, images_every: int = IMAGES_EVERY):
        require("track", "tensorboard")
        self.folder, self.images_every, self.writer, self.best = Path(folder).expanduser(), images_every, None, None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ResourceError(f"cannot make the TensorBoard folder {self.folder}: {e.strerror or e}") from None

    def on_train_start(self, view: TrainingView) -> None:
        summary = module("track", "torch.utils.tensorboard")
        # purge_step: a resumed run drops what it logged after its checkpoint before it was killed
        self.writer = summary.SummaryWriter(str(self.folder), purge_step=view.first_epoch)
        if view.first_epoch == 1:
            from torch.utils.tensorboard.summary import hparams

            for event in hparams(hyperparameters(view.config), {"best_val_loss": 0.0}):
                self.writer.file_writer.add_summary(event)

    def on_epoch_end(self, view: TrainingView, record: dict[str, Any]) -> None:
        epoch = record["epoch"]
        if record.get("best"):
            self.best = record
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, epoch)
        if wants_pictures(view, epoch, self.images_every):
            for name, image in pictures(view).items():
                self.writer.add_image(name, image, epoch, dataformats="HWC")
        self.writer.flush()

    def on_train_end(self, view: TrainingView, error: BaseException | None) -> None:
        if self.writer is None:
            return
        try:
            kept = kept_record(view, self.best)
            if error is None and kept is not None and "val_loss" in kept:  # the hyperparameter table's metric
                self.writer.add_scalar("best_val_loss", kept["val_loss"], kept["epoch"])
            if error is None:  # the network holds the kept weights by now (the trainer restores them first)
                for name, value in final_evaluation(view).items():
                    self.writer.add_scalar(name, value, view.config.train.epochs)
        finally:
            self.writer.close()
