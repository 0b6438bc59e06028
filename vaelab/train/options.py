"""What a training is asked for: options by their flag names -> a validated RunConfig and its data.

`vaelab train --latent-dim 8` and `vaelab.fit(x, latent_dim=8)` both end here, so a flag and a
keyword argument mean the same thing. Later layers win:

    the config dataclasses' defaults
    < the defaults of the data's kind (molecules; tables and contrast-normalised images)
    < a preset (`preset=NAME`) < a saved config.json (`config=FILE`) < the options given.

Options are the config fields a user sets (`vaelab.config.option_table`, named as the flags
are: `model` for the architecture, `repr` for the molecule representation), plus `data` (a spec
such as "mnist" or "folder:DIR") and `conditional`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .. import presets
from ..config import (IN_MEMORY, MOLECULE_DATASETS, DataConfig, ModelConfig, RunConfig, TrainConfig, option_table,
                      taking, uses)
from ..data import Splits, finish, load_splits, parse_data_spec
from ..data.values import Values, summarize
from ..errors import InputError
from ..io import read_json
from ..registry import architectures, likelihoods

EXTRA_OPTIONS = {
    "data": "the data: mnist (default), idx:DIR (MNIST-format IDX files), folder:DIR (image files; one subfolder "
            "per class gives labels), csv:FILE (a table of numbers), dsprites[:FILE.npz] (64x64 sprites with known "
            "factors), moses (the MOSES molecules) or FILE.smi|FILE.csv (SMILES)",
    "conditional": "conditional VAE: the label goes into encoder and decoder (sample with --label)",
}
# The defaults of molecules (token sequences), where they differ from those of images.
MOLECULE_DEFAULTS = {"model": "gru", "likelihood": "categorical", "binarize": "none", "repr": "selfies",
                     "latent_dim": 32, "hidden": (256,), "word_dropout": 0.1, "kl_warmup": 1.0, "grad_clip": 50.0}
RESUMABLE = ("epochs", "device", "precision", "compile")  # how to go on, not what is computed
COURSE = ("lr", "grad_clip", "kl_warmup")  # may change on resume too; metrics.jsonl then notes the change
REGULARIZER_SETTINGS = ("beta", "lam", "free_bits", "tc_estimator")  # each read by some regularisers only


def option_names() -> list[str]:
    return [*EXTRA_OPTIONS, *option_table()]


def check_names(options: dict[str, Any], where: str) -> None:
    unknown = sorted(set(options) - set(option_names()))
    if unknown:
        raise InputError(f"unknown option(s) in {where}: {', '.join(unknown)}; the options are "
                         f"{', '.join(option_names())}")


def normalize(name: str, value: Any) -> Any:
    """A value as the config holds it: one int for a list of widths becomes a one-element tuple."""
    field = option_table().get(name)
    if field is not None and str(field.field.type).startswith("tuple") and isinstance(value, int):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


def layered(given: dict[str, Any], preset: str | None = None, config: RunConfig | str | Path | None = None) -> dict:
    """The options of a training: a preset's, under a saved config's (a RunConfig or a config.json
    file), under those given."""
    options: dict[str, Any] = {}
    if preset is not None:
        options.update(presets.options(preset))
    if config is not None:
        options.update(options_of(config if isinstance(config, RunConfig) else read_config_file(config)))
    check_names(given, "the options given")
    options.update(given)
    regularizer = options.get("regularizer", ModelConfig.regularizer)
    _refuse_ignored_weights(given, regularizer)
    for name in REGULARIZER_SETTINGS:  # carried from a preset or file for another regulariser: not ours
        if name in options and name not in given and not uses(regularizer, name):
            del options[name]
    return {k: normalize(k, v) for k, v in options.items()}


def read_config_file(path: str | Path) -> RunConfig:
    """A saved config.json (any version) as the settings of a new training."""
    try:
        return RunConfig.from_dict(read_json(path, "config file"))
    except InputError as e:
        raise InputError(f"{path}: {e}", "config") from None


def options_of(config: RunConfig) -> dict[str, Any]:
    """A RunConfig as the options that make it (the fields derived from the data left out)."""
    sections = {"data": config.data, "model": config.model, "train": config.train}
    options: dict[str, Any] = {name: getattr(sections[o.section], o.field.name) for name, o in option_table().items()}
    options["data"] = config.data.spec
    if config.model.num_classes:
        options["conditional"] = True
    return options


def build(options: dict[str, Any], splits: Splits | None = None) -> tuple[RunConfig, Splits]:
    """The RunConfig of a new run and its data. The "data" option names the data (default mnist);
    `splits`, when given, are that data already in memory (perhaps a part of it), or with no "data"
    option, arrays from Python, recorded as such."""
    check_names(options, "the options given")
    table = option_table()
    if splits is None or "data" in options:
        name, path = parse_data_spec(options.get("data") or "mnist")
    else:
        name, path = IN_MEMORY, None
    options = {**_kind_defaults(name, options), **options}
    values = {"data": {}, "model": {}, "train": {}}
    for key, value in options.items():
        if key in table:
            values[table[key].section][table[key].field.name] = normalize(key, value)
    data_config = DataConfig(name=name, path=path, **values["data"])
    ModelConfig(**values["model"])  # a bad model option is refused before the data are loaded
    architectures.get(values["model"].get("arch", ModelConfig.arch), "model")
    if splits is None:
        splits = load_splits(data_config)
    elif name == IN_MEMORY:
        splits = finish(splits, data_config)  # arrays go through what every source's data does
    if options.get("conditional"):
        if splits.train_labels is None:
            raise InputError(f"a conditional VAE needs labelled data; {data_config.spec} has no labels", "conditional")
        values["model"]["num_classes"] = int(splits.train_labels.max()) + 1
    if "batch_size" not in options and 0 < len(splits.train) < TrainConfig.batch_size:
        values["train"]["batch_size"] = len(splits.train)  # the default batch, on a small data set: all of it
    if splits.vocab_size is not None:
        values["model"]["vocab_size"] = splits.vocab_size
    else:
        chosen = fitting_likelihood(summarize(splits), options)
        values["model"].update({k: v for k, v in chosen.items() if k == "likelihood"})
        data_config = dataclasses.replace(data_config, **{k: v for k, v in chosen.items() if k == "binarize"})
    config = RunConfig(data=data_config, model=ModelConfig(shape=splits.shape, **values["model"]),
                       train=TrainConfig(**values["train"]))
    return config, splits


def fitting_likelihood(values: Values, options: dict[str, Any]) -> dict[str, str]:
    """The likelihood and binarization that the data call for, for those of the two the options leave open.

    Near-binary grey images (MNIST) are binarized afresh each epoch and modelled by Bernoulli pixels;
    8-bit grey-level or colour images by a discretized logistic over their 256 levels (a probability,
    so their bits per dimension are honest); anything else, tables included, by a Gaussian with one
    learned variance per dimension. docs/guide/likelihoods.md compares the choices on colour images."""
    chosen: dict[str, str] = {}
    if "binarize" not in options:
        bernoulli = "likelihood" in options and likelihoods.get(options["likelihood"], "likelihood").needs_binary_data
        chosen["binarize"] = "dynamic" if values.near_binary or (bernoulli and not values.binary) else "none"
    binarize = options.get("binarize", chosen.get("binarize"))
    if "likelihood" not in options:
        if binarize == "dynamic" or values.binary:
            chosen["likelihood"] = "bernoulli"
        elif values.on_byte_grid:
            chosen["likelihood"] = "discretized-logistic"
        else:
            chosen["likelihood"] = "gaussian-learned-pixel"
    return chosen


def describe_likelihood(config: RunConfig, values: Values) -> str:
    """One line for the start of training: the model of p(x|z), and the data it was chosen for."""
    binarized = ", binarized afresh each epoch" if config.data.binarize == "dynamic" else ""
    return f"p(x|z): {config.model.likelihood}{binarized}  (data: {values.describe()})"


def _kind_defaults(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Defaults that depend on the kind of data: molecules are token sequences; a table's numbers, or
    contrast-normalised pixels, are not probabilities of ink, so there is nothing to binarize."""
    if name in MOLECULE_DATASETS:
        return dict(MOLECULE_DEFAULTS)
    if name == "csv" or options.get("contrast", "none") != "none":
        return {"binarize": "none"}
    return {}


def _refuse_ignored_weights(given: dict[str, Any], regularizer: str) -> None:
    """A weight given for a regulariser that would silently ignore it: a user who gives one means
    something by it. (A preset's or a config file's weights are settings carried along, not asks.)"""
    for weight in ("lam", "beta"):
        if weight in given and not uses(regularizer, weight):
            raise InputError(f"{{name}} applies to {{regularizer}} {taking(weight)} only, not {regularizer}", weight)


def resumed(saved: RunConfig, given: dict[str, Any], where: str) -> RunConfig:
    """The saved config with the resumable options given applied: how to go on (epochs, device,
    precision, compile) and the course (lr, grad_clip, kl_warmup, which the trainer notes as a change).

    Any other option given must equal the saved one (re-running the training command with --resume
    added is how runs are continued); those that differ are refused, each named."""
    check_names(given, "the options given")
    current = options_of(saved)
    differ = []
    for name, value in given.items():
        if name in RESUMABLE + COURSE:
            continue
        value = normalize(name, value)
        if name == "data":
            same = parse_data_spec(value) == (saved.data.name, saved.data.path)
        else:
            same = value == current.get(name, _default(name))
        if not same:
            saved_value = saved.data.spec if name == "data" else current.get(name, _default(name))
            differ.append(f"{{{name}}} {_show(value)} (the run has {_show(saved_value)})")
    if differ:
        raise InputError(f"{{resume}} continues {where} as its saved config says; only "
                         f"{', '.join('{' + k + '}' for k in RESUMABLE + COURSE)} may change; these differ: "
                         f"{'; '.join(differ)}")
    changes = {k: given[k] for k in RESUMABLE + COURSE if k in given}
    return dataclasses.replace(saved, train=dataclasses.replace(saved.train, **changes))


def _default(name: str) -> Any:
    return False if name == "conditional" else option_table()[name].default


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
