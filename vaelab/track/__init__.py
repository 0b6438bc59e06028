"""Training logs for the tools people already watch: TensorBoard and MLflow (the `track` extra).

Each logger is a `vaelab.Callback`: every number of each metrics.jsonl line as a scalar at its
epoch, sample and reconstruction grids every few epochs, the run's config as hyperparameters and
the kept (best) epoch's figures at the end. A resumed run goes on logging into the same
TensorBoard folder and the same MLflow run.

    vaelab.fit("mnist", "runs/x", callbacks=[vaelab.track.logger("tensorboard:tb")])
    vaelab train --out runs/x --log tensorboard:tb --log mlflow:mlruns     # the same from the shell
"""
from __future__ import annotations

from ..errors import InputError
from ..train.callbacks import Callback

from .snapshot import IMAGES_EVERY

KINDS = ("tensorboard", "mlflow")


def logger(spec: str, images_every: int = IMAGES_EVERY) -> Callback:
    """A logger from its command-line form: `tensorboard:DIR` (an event folder), or `mlflow:DIR`
    (a SQLite tracking store, mlflow.db, and its artifacts, made in DIR) or `mlflow:URI` (any
    tracking URI MLflow takes, e.g. sqlite:///path/mlflow.db or http://host:5000). Checks that its
    packages are installed and its store is reachable, so a bad one stops before training starts."""
    kind, sep, where = str(spec).partition(":")
    if not sep or kind not in KINDS or not where:
        raise InputError(f"a log is tensorboard:DIR or mlflow:DIR|URI, got {spec!r}", "log")
    if images_every < 1:
        raise InputError(f"images must be logged every 1 or more epochs, got {images_every}", "images_every")
    if kind == "tensorboard":
        from .tensorboard_logger import TensorBoardLogger

        return TensorBoardLogger(where, images_every)
    from .mlflow_logger import MLflowLogger

    return MLflowLogger(where, images_every)


def __getattr__(name: str):
    if name == "TensorBoardLogger":
        from .tensorboard_logger import TensorBoardLogger

        return TensorBoardLogger
    if name == "MLflowLogger":
        from .mlflow_logger import MLflowLogger

        return MLflowLogger
    raise AttributeError(f"module 'vaelab.track' has no attribute {name!r}")
