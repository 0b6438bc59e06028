"""`Run`: the one owner of a run folder. No other module spells the name of a file in it.

    config.json             the full RunConfig, enough to rebuild the model and reload its data
    model.safetensors       the weights with the best validation loss
    checkpoint.safetensors  last weights, optimiser, RNG and counters, for --resume
    metrics.jsonl           one JSON line per epoch
    standardization.json    tables: the training columns' means and stds, applied to new rows
    labels.json             text labels or class folders: the name of each label number
    vocab.json              molecules: the tokens behind the model's ids
    anomaly.json            `vaelab anomaly fit`: the score and its threshold
    evaluation.json         `vaelab evaluate --save`: the test-set evaluation
    tracking.json           `--log mlflow:...`: the MLflow run it logs to, which a resume goes on in
    property-NAME.*         `vaelab mol optimize`: a property head (weights and facts)
    samples.png, ...        the default outputs of the commands that draw (`OUTPUTS`)
    .lock                   locked by the one process training into the folder (`Run.claim`)
    .NAME.*.tmp             a file being written (`io.atomic_path`); one a killed process left goes at the next claim

    run = Run.open("runs/demo")
    run.config.model.latent_dim; model = run.model(); splits = run.data(); run.metrics()
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .artifacts import ARTIFACT_CHECKS
from .checkpoint import checkpoint_counters, checkpoint_record, load_checkpoint, save_checkpoint
from .config import IN_MEMORY, MOLECULE_DATASETS, DataConfig, RunConfig
from .data import Splits, load_splits, parse_data_spec, relabel, restandardize
from .errors import InputError, ResourceError, excerpt
from .io import append_line, atomic_write_text, load_weights, read_json, save_weights, write_json

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
LOCK = ".lock"  # flock-ed while a process trains into the folder; the kernel drops the lock when it ends
ARTIFACTS = {  # named JSON files a run may hold beside its weights
    "standardization": "standardization.json",
    "labels": "labels.json",
    "vocabulary": "vocab.json",
    "anomaly": "anomaly.json",
    "evaluation": "evaluation.json",
    "tracking": "tracking.json",
}
OUTPUTS = {  # where a command writes when not told otherwise
    "samples": "samples.png", "reconstructions": "reconstructions.png", "interpolation": "interpolation.png",
    "traversal": "traversal.png", "attribute": "attribute.png", "neighbors": "neighbors.png",
    "map": "latent_map.png", "denoise": "denoise.png", "inpaint": "inpaint.png", "scores": "scores.csv",
    "optimized": "optimized.csv", "export": "onnx", "report": "report.html",
}


def _own_files() -> set[str]:
    return {CONFIG, WEIGHTS, CHECKPOINT, METRICS, LOCK, *ARTIFACTS.values()}


def _is_temporary(name: str) -> bool:
    """A file `io.atomic_path` was writing for one of the run's own files."""
    return name.endswith(".tmp") and any(name.startswith(f".{own}.") for own in _own_files())


def unfinished(path: str | Path) -> bool:
    """Whether `path` holds a run that stopped before its first checkpoint (killed, or failed while
    setting up): nothing in it is worth keeping, so training into it again starts it afresh."""
    path = Path(path)
    if not path.is_dir() or (path / CHECKPOINT).exists():
        return False
    names = [p.name for p in path.iterdir()]  # LOCK: made by a vaelab training, not a folder of like names
    return LOCK in names and all(name in _own_files() or _is_temporary(name) for name in names)


def is_run_folder(path: str | Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def _refuse_if_taken(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(p.name != LOCK for p in path.iterdir())) and \
            not unfinished(path):
        raise InputError(f"run folder {path} already exists and is not empty; "
                         "use {resume} to continue it, or choose another {out}", "out")


class Run:
    """A run folder and its config. `Run.open` an existing one; the trainer makes new ones with `Run.create`."""

    def __init__(self, path: str | Path, config: RunConfig):
        self.path, self.config = Path(path), config

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- opening and creating -----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "Run":
        path = Path(path)
        if not path.is_dir():
            raise ResourceError(f"run folder not found: {path}")
        if not (path / CONFIG).is_file():
            raise ResourceError(f"{path} is not a vaelab run folder (no {CONFIG})")
        try:
            config = RunConfig.from_dict(read_json(path / CONFIG, "run config"))
        except InputError as e:
            raise ResourceError(f"{path / CONFIG} is not a usable run config: {e}") from None
        return cls(path, config)

    @classmethod
    def create(cls, path: str | Path, config: RunConfig, data: Splits | None = None) -> "Run":
        """A new run folder holding config.json and what `data` needs saved beside the weights."""
        path = Path(path)
        _refuse_if_taken(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ResourceError(f"cannot create the run folder {path}: {e.strerror or e}") from None
        run = cls(path, config)
        run.claim()
        try:
            _refuse_if_taken(path)  # another process may have written it between the first look and the lock
            run.save_config()
            if data is not None:
                run._save_data_facts(data)
        except BaseException:  # a full disk, say: the folder is not left locked by this (living) process
            run.release()
            raise
        return run

    def _save_data_facts(self, data: Splits) -> None:
        if data.standardization is not None:  # a table's column statistics: what new rows are scaled by
            self.write_artifact("standardization", data.standardization)
        if data.label_names is not None:  # how other files' named labels are numbered
            self.write_artifact("labels", list(data.label_names))
        if data.vocabulary is not None:  # token ids mean nothing without it
            atomic_write_text(self.artifact("vocabulary"), data.vocabulary)

    def claim(self) -> None:
        """Lock the folder for this process until `release` (or its end): a second training or resume
        into the same folder is refused instead of interleaving its writes with this one's."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock (Windows users must not start two trainings into one folder)
            return
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ResourceError(f"cannot write into the run folder {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise ResourceError(f"another vaelab process (PID {holder or '?'}) is training into {self.path}; "
                                "wait until it ends, or choose another {out}") from None
        self._lock = fd
        try:
            os.ftruncate(fd, 0)  # who holds it, for the message above; the kernel's lock is what counts
            os.write(fd, f"{os.getpid()}\n".encode())
            for leftover in self.path.iterdir():  # ours now: what a killed writer left half-written goes
                if _is_temporary(leftover.name):
                    leftover.unlink(missing_ok=True)
        except OSError as e:
            self.release()
            raise ResourceError(f"cannot write into the run folder {self.path}: {e.strerror or e}") from None

    def release(self) -> None:
        fd = getattr(self, "_lock", None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock
            self._lock = None

    def files(self) -> list[str]:
        """The names of the run's own files that exist, in the order the module docstring lists them."""
        names = [CONFIG, WEIGHTS, CHECKPOINT, METRICS, *ARTIFACTS.values()]
        return [name for name in names if (self.path / name).is_file()]

    def save_config(self) -> None:
        atomic_write_text(self.path / CONFIG, self.config.to_json())

    def discard_if_unfinished(self) -> None:
        """Remove the folder if it holds no finished epoch: a run that failed first leaves nothing behind."""
        if unfinished(self.path):
            shutil.rmtree(self.path)

    # --- the model ----------------------------------------------------------------------------------
    def network(self, device: str | torch.device = "cpu"):
        """The network with the kept weights (the best validation epoch's), in eval mode."""
        from .model import check_weights
        from .models import build_network

        path = self.path / WEIGHTS
        if not path.is_file():
            raise ResourceError(f"{self.path} has no {WEIGHTS}: the run has not finished an epoch")
        try:
            network = build_network(self.config.model)
        except InputError as e:  # the config on disk describes a network this vaelab will not build
            raise ResourceError(f"{self.path / CONFIG} is not a usable run config: {e.render(str)}") from None
        load_weights(network, path)
        check_weights(network, self)  # NaN or huge values: a damaged file, refused for every reader
        return network.to(device).eval()

    def model(self, device: str | torch.device = "cpu"):
        """The user-facing `vaelab.Model` over the kept weights."""
        from .model import Model

        return Model(self.network(device), self.config, run=self)

    def weights_file(self) -> Path:
        """The kept weights' file (e.g. to fingerprint the model)."""
        return self.path / WEIGHTS

    @property
    def has_weights(self) -> bool:
        return (self.path / WEIGHTS).is_file()

    def save_weights(self, network: torch.nn.Module, epoch: int) -> None:
        save_weights(network, self.path / WEIGHTS, metadata={"epoch": str(epoch)})

    def load_weights(self, network: torch.nn.Module) -> None:
        load_weights(network, self.path / WEIGHTS)

    # --- the checkpoint -----------------------------------------------------------------------------
    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).is_file()

    def checkpoint_epoch(self) -> int:
        """Epochs the checkpoint holds (0 without one)."""
        return int(checkpoint_counters(self.path / CHECKPOINT)["epoch"]) if self.has_checkpoint else 0

    def save_checkpoint(self, network, optimizer, generator, trainer_state: dict[str, Any],
                        record: dict[str, Any] | None = None) -> None:
        """Everything --resume needs, and the epoch's metrics line (`restore_metrics` writes it again
        if the process is killed before `append_metrics`)."""
        save_checkpoint(self.path / CHECKPOINT, network, optimizer, generator, trainer_state, record)

    def load_checkpoint(self, network, optimizer, generator) -> dict[str, Any]:
        """Restore the network, optimiser and generator in place; return the trainer's counters."""
        return load_checkpoint(self.path / CHECKPOINT, network, optimizer, generator)

    # --- the data -----------------------------------------------------------------------------------
    def data(self, spec: str | None = None, *, every_label: bool = False):
        """The run's splits as it was trained on them: a table scaled by its saved statistics, named
        labels numbered as it numbered them, molecules checked against its saved vocabulary.

        `spec`: other data instead (`--data SPEC`), presented as the run's own (binarization,
        contrast, validation size; a source of the same kind keeps its other settings too).
        `every_label`: the run's data without its `keep_labels` filter, e.g. to score the classes an
        anomaly run never saw."""
        own = self.config.data
        if spec is not None:
            name, path = parse_data_spec(spec)
            if (name in MOLECULE_DATASETS) != own.molecules:
                kinds = ("images or table rows", "molecules")
                raise InputError(f"{spec} holds {kinds[name in MOLECULE_DATASETS]}, and {self.path} was trained on "
                                 f"{kinds[own.molecules]}", "data")
            if name == own.name:
                config = dataclasses.replace(own, name=name, path=path, keep_labels=None)
            elif own.molecules and name in MOLECULE_DATASETS:  # MOSES and a SMILES file: tokenised alike
                config = DataConfig(name=name, path=path, val_size=own.val_size, binarize=own.binarize,
                                    representation=own.representation, skip_invalid=own.skip_invalid)
            else:
                config = DataConfig(name=name, path=path, val_size=own.val_size, binarize=own.binarize,
                                    contrast=own.contrast)
        elif own.name == IN_MEMORY:
            raise InputError(f"{self.path} was trained on in-memory arrays, so it has no data of its own to "
                             "reload: give the data", "data")
        else:
            config = dataclasses.replace(own, keep_labels=None) if every_label else own
        splits = load_splits(config)
        if tuple(splits.shape) != tuple(self.config.model.shape) and not own.molecules:
            where = (f"{self.config.data.spec} (the run's data) now holds" if spec is None else f"{spec} has")
            problem = f"{where} examples of shape {tuple(splits.shape)}, but the run was trained on " \
                      f"{tuple(self.config.model.shape)}"
            raise ResourceError(problem) if spec is None else InputError(problem, "data")
        return self._as_trained(splits, spec)

    def _as_trained(self, splits, spec: str | None):
        """Splits scaled by the run's saved column statistics, labels numbered by its saved names, and
        only with the run's own token ids."""
        stats = self.read_artifact("standardization")
        if splits.standardization is not None and stats is not None and splits.standardization != stats:
            if splits.standardization["columns"] != stats["columns"]:
                if spec is None:  # the run's own table: its saved statistics are what no longer fit
                    raise ResourceError(f"{self.artifact('standardization')} names columns "
                                        f"{excerpt(stats['columns'])}; the run's data have "
                                        f"{excerpt(splits.standardization['columns'])}")
                raise InputError(f"{spec} has columns {excerpt(splits.standardization['columns'])}; "
                                 f"the run was trained on {excerpt(stats['columns'])}", "data")
            splits = restandardize(splits, stats)
        names = self.read_artifact("labels")
        if names is not None:
            splits = relabel(splits, names)
        vocabulary = self.artifact("vocabulary")
        if splits.vocabulary is not None and vocabulary.is_file() and \
                json.loads(splits.vocabulary) != read_json(vocabulary, "vocabulary"):
            raise (InputError(f"{spec} has another vocabulary than the run: give other molecules to its "
                              "MoleculeModel (vaelab.load(RUN).encode(smiles))", "data") if spec else
                   ResourceError(f"the data of {self.path} no longer give the vocabulary it was trained with"))
        return splits

    # --- metrics ------------------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        """The metrics.jsonl records, one per epoch, in order."""
        path = self.path / METRICS
        if not path.is_file():
            return []
        try:
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise ResourceError(f"{path} is not readable ({excerpt(str(e))})") from None
        for record in records:
            epoch = record.get("epoch") if isinstance(record, dict) else None
            if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1):
                raise ResourceError(f"{path} is not what vaelab writes: a line without an epoch number "
                                    f"({excerpt(record)})")
        return records

    def append_metrics(self, record: dict[str, Any]) -> None:
        append_line(self.path / METRICS, json.dumps(record))

    def restore_metrics(self) -> None:
        """Make metrics.jsonl end at the checkpoint's epoch: drop lines of later epochs (written by an
        older vaelab before its checkpoint), and write the checkpoint's own line again if a kill
        between the checkpoint and the log lost it."""
        epoch, written = self.checkpoint_epoch(), self.metrics()
        records = [r for r in written if r["epoch"] <= epoch]
        saved = checkpoint_record(self.path / CHECKPOINT, epoch) if self.has_checkpoint else None
        if saved is not None and (not records or records[-1].get("epoch") != epoch):
            records.append(saved)
        if records != written:
            atomic_write_text(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in records))

    # --- artefacts ----------------------------------------------------------------------------------
    def artifact(self, name: str) -> Path:
        return self.path / ARTIFACTS[name]

    def read_artifact(self, name: str) -> Any:
        """A named JSON artefact's content, or None when the run has none; one that is not what vaelab
        writes there (hand-edited, truncated, from elsewhere) is refused, naming the file."""
        path = self.artifact(name)
        if not path.is_file():
            return None
        value = read_json(path, f"{name} file")
        problem = ARTIFACT_CHECKS.get(name, lambda v: None)(value)
        if problem:
            raise ResourceError(f"{path} is not a usable {name} file: {problem}")
        return value

    def write_artifact(self, name: str, value: Any) -> Path:
        path = self.artifact(name)
        write_json(path, value)
        return path

    def property_head(self, prop: str) -> tuple[Path, Path]:
        """(weights, facts) files of the property head fitted for `prop`."""
        return self.path / f"property-{prop}.safetensors", self.path / f"property-{prop}.json"

    def output(self, kind: str, suffix: str = "") -> Path:
        """Where a command writes its `kind` of output when given no --out."""
        name = OUTPUTS[kind]
        return self.path / (f"{Path(name).stem}-{suffix}{Path(name).suffix}" if suffix else name)
