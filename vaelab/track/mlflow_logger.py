"""`MLflowLogger`: a run's curves, pictures and config as an MLflow run, in a local SQLite store
under a folder you name (no server needed) or at any tracking URI."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ..errors import ResourceError
from ..extras import module, require
from ..train.callbacks import Callback, TrainingView
from .snapshot import IMAGES_EVERY, final_evaluation, hyperparameters, kept_record, pictures, scalars, wants_pictures

EXPERIMENT = "vaelab"
STORE = "mlflow.db"  # in the folder given, beside artifacts/
URI_SCHEMES = ("sqlite:", "postgresql:", "mysql:", "mssql:", "http:", "https:", "databricks")


def tracking_uri(where: str) -> tuple[str, str | None]:
    """(tracking URI, artifact location): a URI as given, or a folder as a SQLite store in it."""
    if where.startswith(URI_SCHEMES):
        return where, None
    folder = Path(where).expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResourceError(f"cannot make the MLflow folder {folder}: {e.strerror or e}") from None
    return f"sqlite:///{folder / STORE}", (folder / "artifacts").as_uri()


class MLflowLogger(Callback):
    """Logs to the MLflow experiment "vaelab": params (the config), metrics at step = epoch, picture
    grids as artifacts, and tags for the run folder and any course change. A resumed run folder goes
    on in the MLflow run it started (its id is kept in the run folder)."""

    def __init__(self, where: str, images_every: int = IMAGES_EVERY, experiment: str = EXPERIMENT):
        require("track", "mlflow")
        self.uri, artifacts = tracking_uri(where)
        if self.uri.startswith("sqlite:"):
            require("track", "sqlalchemy", "alembic")  # MLflow's SQL store
        # a server that does not answer is one line in seconds, not minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        self.images_every, self.run_id, self.best = images_every, None, None
        for name in ("mlflow", "alembic"):  # their INFO lines (creating tables, ...) would crowd the training log
            logging.getLogger(name).setLevel(logging.WARNING)
        tracking = module("track", "mlflow.tracking")
        try:
            self.client = tracking.MlflowClient(self.uri)
            found = self.client.get_experiment_by_name(experiment)
            self.experiment = found.experiment_id if found else \
                self.client.create_experiment(experiment, artifact_location=artifacts)
        except Exception as e:  # noqa: BLE001  MLflow raises many kinds; all mean "this store cannot be used"
            raise ResourceError(f"cannot use the MLflow tracking store {self.uri}: "
                                f"{(str(e).strip().splitlines() or [type(e).__name__])[0]}") from None

    def on_train_start(self, view: TrainingView) -> None:
        self.run_id = self._resumed_run(view)
        if self.run_id is None:
            name = view.run.path.name if view.run is not None else "in-memory"
            tags = {"vaelab.run_folder": str(view.run.path.resolve())} if view.run is not None else {}
            self.run_id = self.client.create_run(self.experiment, run_name=name, tags=tags).info.run_id
            params = module("track", "mlflow.entities").Param
            self.client.log_batch(self.run_id, params=[params(k, str(v)[:6000])
                                                       for k, v in hyperparameters(view.config).items()])
            if view.run is not None:
                view.run.write_artifact("tracking", {"mlflow": {"uri": self.uri, "run_id": self.run_id}})
        else:
            self.client.update_run(self.run_id, status="RUNNING")

    def _resumed_run(self, view: TrainingView) -> str | None:
        """The MLflow run this run folder logged to, when resuming into the same store."""
        saved = (view.run.read_artifact("tracking") or {}).get("mlflow") if view.run is not None else None
        if view.first_epoch == 1 or not saved or saved.get("uri") != self.uri:
            return None
        try:
            return self.client.get_run(saved["run_id"]).info.run_id
        except Exception:  # noqa: BLE001  deleted from the store meanwhile: start a new one
            return None

    def on_epoch_end(self, view: TrainingView, record: dict[str, Any]) -> None:
        entities = module("track", "mlflow.entities")
        epoch, now = record["epoch"], int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[entities.Metric(k, v, now, epoch)
                                                    for k, v in scalars(record).items()])
        if "course_change" in record:
            self.client.set_tag(self.run_id, f"course_change.epoch_{epoch}", str(record["course_change"]))
        if record.get("best"):
            self.best = record
        if wants_pictures(view, epoch, self.images_every):
            for name, image in pictures(view).items():
                self.client.log_image(self.run_id, image, artifact_file=f"{name}/epoch_{epoch:04d}.png")

    def on_train_end(self, view: TrainingView, error: BaseException | None) -> None:
        if self.run_id is None:
            return
        kept = kept_record(view, self.best)
        if error is None and kept is not None and "val_loss" in kept:
            self.client.log_metric(self.run_id, "best_val_loss", kept["val_loss"], step=kept["epoch"])
        if error is None:
            for name, value in final_evaluation(view).items():
                self.client.log_metric(self.run_id, name, value, step=view.config.train.epochs)
        status = "FINISHED" if error is None else "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        self.client.set_terminated(self.run_id, status)
