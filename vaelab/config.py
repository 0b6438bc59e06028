"""Frozen, typed configs; JSON in and out; validated when built.

One `RunConfig` (data + model + train) is saved as `config.json` in every run folder and is
enough to rebuild the model and reload its data.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import VaelabError
from .objectives import TC_ESTIMATORS
from .registry import REGULARIZERS, SEQUENCE_ARCHITECTURES, SEQUENCE_LIKELIHOODS

BINARIZATIONS = ("dynamic", "none")
CONTRASTS = ("none", "gcn")  # vaelab.data.contrast
PRECISIONS = ("auto", "fp32", "bf16")
MOLECULE_DATASETS = ("moses", "smiles")  # the MOSES sets from the molsets wheel; a user's SMILES file


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise VaelabError(message)


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are presented to the likelihood."""

    name: str = "mnist"  # "mnist"; "idx" with `path` (MNIST / Fashion-MNIST / KMNIST files); "folder" with `path`
    path: str | None = None
    val_size: int = 10_000  # taken from the end of the training pool, in file order
    binarize: str = "dynamic"  # "dynamic": a fresh Bernoulli draw of the grey levels each time an image is seen
    allow_grey_bernoulli: bool = False  # train a Bernoulli likelihood on grey levels anyway (not a likelihood then)
    image_size: int | None = None  # folder dataset: resize every image to this square size (else all must match)
    classes: tuple[int, ...] | None = None  # keep only the examples with these labels (e.g. digits 1 and 8)
    label_column: str | None = None  # csv dataset: the column that holds labels, not features
    ignore: tuple[str, ...] | None = None  # csv dataset: columns to drop (e.g. non-numeric ones)
    limit: int | None = None  # dsprites: images drawn at random from the 737,280 (default 100,000); molecules: first N
    representation: str | None = None  # molecules: "smiles" or "selfies"
    skip_invalid: bool = False  # molecules: drop lines RDKit cannot parse (else the first one is an error)
    contrast: str = "none"  # images: "gcn" = global contrast normalisation of each image (vaelab.data.contrast)

    def __post_init__(self) -> None:
        _check(self.binarize in BINARIZATIONS, f"binarize must be one of {BINARIZATIONS}, got {self.binarize!r}")
        _check(self.val_size >= 0, f"val_size must be >= 0, got {self.val_size}")
        _check(self.name != "idx" or bool(self.path), "the idx dataset needs a path: --data idx:DIR")
        _check(self.name != "folder" or bool(self.path), "the folder dataset needs a path: --data folder:DIR")
        _check(self.image_size is None or (type(self.image_size) is int and self.image_size >= 1),
               f"image size must be an integer >= 1, got {self.image_size!r}")
        _check(self.image_size is None or self.name == "folder",
               f"image size applies only to the folder dataset, not {self.name!r}")
        _check(self.name != "csv" or bool(self.path), "the csv dataset needs a path: --data csv:FILE")
        _check((self.label_column is None and not self.ignore) or self.name == "csv",
               f"--label-column and --ignore apply only to csv data, not {self.name!r}")
        _check(self.limit is None or (type(self.limit) is int and self.limit >= 3),
               f"--limit must be an integer >= 3 (train, validation and test need one each), got {self.limit!r}")
        molecules = self.name in MOLECULE_DATASETS
        _check(self.limit is None or self.name == "dsprites" or molecules,
               f"--limit applies only to dsprites and molecules, not {self.name!r}")
        _check((self.representation is None and not self.skip_invalid) or molecules,
               f"--repr and --skip-invalid apply only to molecules, not {self.name!r}")
        _check(not molecules or self.representation in ("smiles", "selfies"),
               f"molecules need --repr smiles or selfies, got {self.representation!r}")
        _check(not molecules or self.binarize == "none", "molecules are token sequences: binarize must be none")
        _check(self.name != "smiles" or bool(self.path), "the smiles dataset needs a path: --data FILE.smi|FILE.csv")
        _check(self.contrast in CONTRASTS, f"contrast must be one of {CONTRASTS}, got {self.contrast!r}")
        _check(self.contrast == "none" or (self.name != "csv" and not molecules),
               f"--contrast applies to images, not to {self.name!r} data")
        _check(self.contrast == "none" or self.binarize == "none",
               "--contrast gcn takes grey levels out of [0, 1], so it cannot be binarized: add --binarize none "
               "and a Gaussian likelihood")
        if self.ignore is not None:
            object.__setattr__(self, "ignore", tuple(str(c) for c in self.ignore))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
            _check(len(self.classes) > 0, "--classes needs at least one label")


@dataclass(frozen=True)
class ModelConfig:
    """One VAE family: the regulariser and beta make it an AE, a regularised AE, a VAE or a beta-VAE."""

    arch: str = "conv"  # "mlp" or "conv"
    shape: tuple[int, ...] = (1, 28, 28)  # event shape of one example
    latent_dim: int = 16
    hidden: tuple[int, ...] = (400,)  # mlp widths; () makes encoder and decoder linear
    channels: tuple[int, ...] = (32, 64)  # conv widths, one stride-2 stage each
    dense: tuple[int, ...] = ()  # conv: fully connected widths between conv features and latent (mirrored)
    res_blocks: int = 0  # conv: residual blocks (two 3x3 convs) at every stage of encoder and decoder
    likelihood: str = "bernoulli"
    sigma: float = 0.1  # only for the fixed-sigma Gaussian likelihood
    regularizer: str = "kl"  # "kl" (VAE, beta-VAE), "tc" (beta-TCVAE), "l2" (lambda*|z|^2, regularised AE), "none" (AE)
    beta: float = 1.0
    lam: float = 1e-3  # weight of |z|^2 for the "l2" regulariser
    tc_estimator: str = "mws"  # the "tc" regulariser's estimate of q(z): "mws" or "mss" (see objectives.total_correlation)
    classes: int = 0  # > 0: a conditional VAE; the one-hot label joins the encoder's and decoder's inputs
    free_bits: float = 0.0  # KL per latent dimension (batch mean) below this many nats is not penalised
    vocab_size: int = 0  # sequence models ("gru"): tokens, specials included; shape is (max_len,)
    embed_dim: int = 64  # gru: token embedding width
    word_dropout: float = 0.0  # gru: share of the decoder's teacher-forced inputs blanked while training

    def __post_init__(self) -> None:
        from .registry import architectures, likelihoods

        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "dense", tuple(int(d) for d in self.dense))
        _check(self.latent_dim >= 1, f"latent size must be at least 1, got {self.latent_dim}")
        _check(all(s >= 1 for s in self.shape) and len(self.shape) >= 1, f"bad example shape {self.shape}")
        _check(all(h >= 1 for h in self.hidden), f"hidden widths must be positive, got {self.hidden}")
        _check(len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
               f"conv channels must be positive, got {self.channels}")
        architectures.get(self.arch)
        likelihoods.get(self.likelihood)
        _check(self.regularizer in REGULARIZERS,
               f"unknown regularizer {self.regularizer!r}; choose one of: {', '.join(REGULARIZERS)}")
        _check(self.beta >= 0 and math.isfinite(self.beta), f"beta must be finite and >= 0, got {self.beta}")
        _check(self.lam >= 0 and math.isfinite(self.lam), f"lambda must be finite and >= 0, got {self.lam}")
        _check(self.tc_estimator in TC_ESTIMATORS,
               f"unknown TC estimator {self.tc_estimator!r}; choose one of: {', '.join(TC_ESTIMATORS)}")
        _check(self.tc_estimator == "mws" or self.regularizer == "tc",
               f"a TC estimator ({self.tc_estimator}) applies to --regularizer tc only, not {self.regularizer!r}")
        _check(self.sigma > 0 and math.isfinite(self.sigma), f"sigma must be finite and > 0, got {self.sigma}")
        _check(self.classes >= 0, f"classes must be >= 0, got {self.classes}")
        _check(all(d >= 1 for d in self.dense), f"dense widths must be positive, got {self.dense}")
        _check(self.res_blocks >= 0, f"res_blocks must be >= 0, got {self.res_blocks}")
        _check(self.free_bits >= 0 and math.isfinite(self.free_bits), f"free bits must be >= 0, got {self.free_bits}")
        _check(0 <= self.word_dropout < 1, f"word dropout must lie in [0, 1), got {self.word_dropout}")
        _check(self.sequence == (self.likelihood in SEQUENCE_LIKELIHOODS),
               "the gru architecture and the categorical likelihood go together (token sequences)")
        _check(not self.sequence or (self.vocab_size >= 4 and len(self.shape) == 1 and len(self.hidden) == 1
                                and self.embed_dim >= 1 and self.classes == 0),
               "a gru model needs vocab_size >= 4, shape (max_len,), one hidden width and no classes")

    @property
    def sequence(self) -> bool:
        """Token sequences (molecules) rather than real-valued examples."""
        return self.arch in SEQUENCE_ARCHITECTURES

    @property
    def stochastic(self) -> bool:
        """Only the VAEs sample z; the (regularised) autoencoders use z = mu."""
        return self.regularizer in ("kl", "tc")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    kl_warmup: float = 0.0  # epochs over which beta rises linearly from 0
    grad_clip: float = 0.0  # max global gradient norm; 0 turns clipping off
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda"
    # How the step runs, not what it computes: both may change on --resume.
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32", "bf16"
    compile: bool = False  # torch.compile the model for the training step

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}")
        _check(self.lr > 0 and math.isfinite(self.lr), f"learning rate must be > 0, got {self.lr}")
        _check(self.kl_warmup >= 0, f"kl warm-up must be >= 0 epochs, got {self.kl_warmup}")
        _check(self.grad_clip >= 0, f"grad clip must be >= 0, got {self.grad_clip}")
        _check(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}")
        _check(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        try:
            return cls(
                data=_build(DataConfig, d.get("data", {})),
                model=_build(ModelConfig, d.get("model", {})),
                train=_build(TrainConfig, d.get("train", {})),
                version=int(d.get("version", 1)),
            )
        except (TypeError, AttributeError) as e:
            raise VaelabError(f"config is not a vaelab run config: {e}") from None

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise VaelabError(f"config is not valid JSON: {e}") from None


def _build(kind: type, values: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - known
    if unknown:
        raise VaelabError(f"unknown {kind.__name__} field(s): {', '.join(sorted(unknown))}")
    return kind(**values)
