"""What training refuses before it writes anything: a device that is not there, data that does not fit the model."""
from __future__ import annotations

import torch

from ..config import RunConfig
from ..data import Splits
from ..errors import InputError, ResourceError
from ..registry import likelihoods


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ResourceError("{device} cuda was asked for, but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def check_data_fits(config: RunConfig, data: Splits) -> None:
    """Refuse what would train on nonsense, before anything is written."""
    n = len(data.train)
    if config.train.batch_size > n:
        raise InputError(f"batch size {config.train.batch_size} is larger than the training set ({n} examples)",
                         "batch_size")
    if tuple(config.model.shape) != data.shape:
        raise InputError(f"the model expects examples of shape {config.model.shape}, the data has {data.shape}")
    if config.data.binarize == "dynamic" and len(data.train) and data.levels is None and \
            (data.train.min() < 0 or data.train.max() > 1):
        raise InputError("dynamic binarization draws pixels from probabilities in [0, 1], and this data has "
                         f"values in {float(data.train.min()):.3g}..{float(data.train.max()):.3g}; "
                         "use {binarize} none (tables: with {likelihood} gaussian-learned)", "binarize")
    if likelihoods.get(config.model.likelihood).needs_binary_data and config.data.binarize != "dynamic":
        if not config.data.allow_grey_bernoulli and not data.is_binary():
            raise InputError(
                "a Bernoulli likelihood on grey-level pixels is not a likelihood; use {binarize} dynamic, "
                "{likelihood} cbernoulli or gaussian, or {allow_grey_bernoulli} if you mean it", "likelihood")
    if config.data.contrast != "none" and not likelihoods.get(config.model.likelihood).any_real_value:
        raise InputError(f"{{contrast}} {config.data.contrast} takes pixels out of [0, 1], which a "
                         f"{config.model.likelihood} likelihood cannot model: use a Gaussian likelihood", "likelihood")
    classes = config.model.num_classes
    if classes:
        for split in ("train", "val"):
            x, y = data.split(split)
            if y is None and len(x):
                raise InputError(f"a conditional VAE needs labels, and this data's {split} split has none")
            if y is not None and len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
                raise InputError(f"a conditional VAE with {classes} classes needs labels 0..{classes - 1}; "
                                 f"the {split} split has {int(y.min())}..{int(y.max())}")
