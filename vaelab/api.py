"""`vaelab.fit` and `vaelab.load`: train a model, or open a trained one, in one call.

    model = vaelab.fit(images, latent_dim=8, epochs=5, out="runs/mine")   # numpy (N, C, H, W) or (N, D)
    model = vaelab.fit("mnist", preset="demo")                           # a data spec, as --data takes it
    model = vaelab.load("runs/mine")

The options are those of `vaelab train`, named as its flags are (`model="conv"`, `latent_dim=8`,
`keep_labels=(1, 8)`, `repr="selfies"`...); `vaelab train --help` lists them all.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import IN_MEMORY, RunConfig, option_table
from .data import finish
from .data.arrays import from_dataset, splits_from_arrays
from .errors import InputError
from .model import Model
from .mol.model import MoleculeModel
from .data.tokens import Vocabulary
from .run import Run, is_run_folder, unfinished
from .train.options import build, layered, resumed
from .train.callbacks import Callback
from .train.trainer import train


def fit(data: Any = None, out: str | Path | None = None, *, labels: Any = None, preset: str | None = None,
        config: RunConfig | str | Path | None = None, resume: bool = False, progress: bool = True,
        callbacks: list[Callback] | tuple[Callback, ...] = (), **options: Any) -> Model | MoleculeModel:
    """Train a VAE and return it, ready to encode, decode and sample.

    data: a numpy array or tensor of examples, (N, C, H, W) images or (N, D) rows; a torch Dataset
      of examples or (example, label) pairs; or a data spec as `vaelab train --data` takes it
      ("mnist", "folder:DIR", "csv:FILE", "FILE.smi", ...). Arrays are split into training and
      validation examples (the last tenth, at most `val_size`, held out).
    out: a run folder to write (config, weights, metrics), or None to keep everything in memory.
    labels: (N,) integer labels of array data (a conditional model needs them: conditional=True).
    preset, config: start from a named preset or a saved config.json (a path or a RunConfig).
    resume: continue the run in `out` (give the same arrays again when it was trained on arrays).
    callbacks: `vaelab.Callback`s called at the start, after each epoch and at the end, e.g.
      `vaelab.track.TensorBoardLogger("tb")` (vaelab/train/callbacks.py says what they are given).
    options: any option of `vaelab train` by its flag's name, e.g. model="mlp", latent_dim=8, epochs=5.

    >>> model = vaelab.fit(np.random.rand(1000, 1, 28, 28), latent_dim=4, epochs=2, progress=False)
    >>> model.sample(8).shape
    torch.Size([8, 1, 28, 28])
    """
    data = str(data) if isinstance(data, os.PathLike) else data  # a path is a spec, as on the command line
    in_memory = data is not None and not isinstance(data, str)
    if labels is not None and not in_memory:
        raise InputError("labels go with array data; a data spec brings its own", "labels")
    if in_memory and not hasattr(data, "shape"):
        data, labels = from_dataset(data) if labels is None else (data, labels)
    given = {**options, **({"data": data} if isinstance(data, str) else {})}
    merged = layered(given, preset, config)
    if in_memory:
        merged.pop("data", None)  # the arrays are the data, whatever a preset or config file names
    if resume and out is not None and unfinished(out) and not is_run_folder(out):
        resume = False  # killed before it wrote its config: the same command starts it afresh
    if resume:
        if out is None:
            raise InputError("resuming needs the run folder to continue", "out")
        saved = Run.open(out).config
        if in_memory != (saved.data.name == IN_MEMORY):
            raise InputError(f"{out} was trained on {saved.data.spec}: resume it with the same data", "data")
        run_config = resumed(saved, merged, str(out))
        if in_memory:
            splits = finish(splits_from_arrays(data, labels, saved.data.val_size), saved.data)
        else:
            splits = Run(out, saved).data()
    else:
        splits = None
        if in_memory:
            splits = splits_from_arrays(data, labels, merged.get("val_size", option_table()["val_size"].default))
        run_config, splits = build(merged, splits)
    model = train(run_config, splits, out, resume=resume, progress=progress, callbacks=callbacks)
    if run_config.model.reads_tokens:  # molecules speak SMILES, through the vocabulary of their data
        return MoleculeModel(model.network, model.config, Vocabulary.from_json(splits.vocabulary), model.run)
    return model


def load(run_dir: str | Path, device: str = "cpu") -> Model | MoleculeModel:
    """The trained model of a run folder, ready for `encode`, `decode`, `sample`, `reconstruct`.

    >>> model = vaelab.load("runs/demo")
    >>> images = model.sample(16)            # (16, 1, 28, 28)
    """
    run = Run.open(run_dir)
    return MoleculeModel.from_run(run, device) if run.config.model.reads_tokens else run.model(device)
