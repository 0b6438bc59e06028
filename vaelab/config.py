"""Frozen, typed configs; JSON in and out; validated when built.

One `RunConfig` (data + model + train) is saved as `config.json` in every run folder and is
enough to rebuild the model and reload its data. Each field's help text lives here, in its
metadata, and is what `vaelab train --help` shows: the command line and `vaelab.fit` take the
same options, named as the flags are (`option_table`).

Version 2 renamed two fields that collided: `DataConfig.classes` (labels to keep) is
`keep_labels`, `ModelConfig.classes` (a count) is `num_classes`. Version 3 added `DataConfig.resize`
(--image-size crops to the centre square; before, it squashed). Older files are read by renaming
and filling in what they meant (`migrate`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError, excerpt
from .objectives import TC_ESTIMATORS
from .registry import likelihoods, regularizers

VERSION = 3
RESIZES = ("crop", "squash")
MAX_IMAGE_SIZE = 4096  # pixels per side of a resized image: 16.8 megapixels  # vaelab.data.folder
MAX_EXAMPLE_VALUES = 3 * MAX_IMAGE_SIZE**2  # values in one example: a run's shape past this cannot be real
MAX_LAYERS = 100  # widths of a --hidden, --channels or --dense list, and --res-blocks: far past any VAE here
BINARIZATIONS = ("dynamic", "none")
CONTRASTS = ("none", "gcn")  # vaelab.data.contrast
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
REPRESENTATIONS = ("smiles", "selfies")
MOLECULE_DATASETS = ("moses", "smiles")  # the MOSES sets from the molsets wheel; a user's SMILES file
IN_MEMORY = "arrays"  # the data of a run trained from Python on arrays: nothing on disk to reload


def option(default: Any, help: str, *, flag: str | None = None, metavar: str | None = None,
           choices: tuple[str, ...] | str | None = None, cli: bool = True):
    """A config field with its command-line description. `flag` when the flag's name differs from
    the field's; `choices` a tuple or the name of a registry; `cli=False` for fields derived from the data."""
    return field(default=default, metadata={"help": help, "flag": flag, "metavar": metavar, "choices": choices,
                                            "cli": cli})


def _check(ok: bool, message: str, parameter: str | None = None) -> None:
    """Refuse a value, naming it by the option that sets it (`representation` is `repr`)."""
    if not ok:
        raise InputError(message, option_name(parameter) if parameter else None)


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are presented to the likelihood."""

    name: str = option(dataclasses.MISSING, "the data source (see --data)", cli=False)
    path: str | None = option(None, "the file or folder of path-based sources", cli=False)
    val_size: int = option(10_000, "examples held out for validation (at most a sixth of the training file "
                                   "for MNIST and IDX files, a tenth of the data for the others)")
    binarize: str = option("dynamic", "dynamic: a fresh Bernoulli draw of the grey levels each time an image is "
                                      "seen; none: the values as they are (default: dynamic for near-binary grey "
                                      "images such as MNIST, else none)", choices=BINARIZATIONS)
    allow_grey_bernoulli: bool = option(False, "allow a Bernoulli likelihood on grey pixels (then it is not a "
                                               "likelihood)")
    image_size: int | None = option(None, "folder:DIR only: resize every image to NxN (default: keep; then all "
                                          "sizes must match)", metavar="N")
    resize: str = option("crop", "with --image-size: crop: the centre square, resized (keeps proportions); "
                                 "squash: the whole image, resized (stretches non-square images)", choices=RESIZES)
    keep_labels: tuple[int, ...] | None = option(None, "keep only the examples with these labels, e.g. 1,8 "
                                                       "(default: all)", metavar="LABELS")
    label_column: str | None = option(None, "csv:FILE only: the column holding labels (not a feature)",
                                      metavar="NAME")
    ignore: tuple[str, ...] | None = option(None, "csv:FILE only: columns to drop, e.g. id,name", metavar="NAMES")
    limit: int | None = option(None, "use a fixed subset of N examples of the source, for a quick run: the "
                                     "first examples of each split, in proportion; dSprites draws them (fixed "
                                     "seed) from the 737,280 combinations (default 100000); molecules read the "
                                     "first N", metavar="N")
    representation: str | None = option(None, "molecules: the token representation (default selfies: every "
                                              "token string decodes to a molecule)", flag="repr",
                                        choices=REPRESENTATIONS)
    skip_invalid: bool = option(False, "molecules: drop lines RDKit cannot read (default: stop at the first, "
                                       "naming it)")
    contrast: str = option("none", "gcn: global contrast normalisation of each image (centred, divided by its "
                                   "mean absolute deviation; needs --binarize none and a Gaussian likelihood)",
                           choices=CONTRASTS)

    def __post_init__(self) -> None:
        _check(self.image_size is None or (type(self.image_size) is int and 1 <= self.image_size <= MAX_IMAGE_SIZE),
               f"image size must be an integer in 1..{MAX_IMAGE_SIZE}, got {self.image_size!r}", "image_size")
        _check(self.limit is None or (type(self.limit) is int and self.limit >= 3),
               f"a limit must be an integer >= 3 (train, validation and test need one each), got {self.limit!r}",
               "limit")
        check_types(self)
        name = self.name
        molecules = self.molecules
        _check(self.binarize in BINARIZATIONS, f"binarize must be one of {BINARIZATIONS}, got {self.binarize!r}",
               "binarize")
        _check(self.contrast in CONTRASTS, f"contrast must be one of {CONTRASTS}, got {self.contrast!r}", "contrast")
        _check(self.val_size >= 0, f"the validation size must be >= 0, got {self.val_size}", "val_size")
        for source, form in (("idx", "idx:DIR"), ("folder", "folder:DIR"), ("csv", "csv:FILE"),
                             ("smiles", "FILE.smi|FILE.csv")):
            _check(name != source or bool(self.path), f"the {source} dataset needs a path: {form}")
        _check(self.image_size is None or name == "folder",
               f"{{name}} applies only to the folder dataset, not {name!r}", "image_size")
        _check(self.label_column is None or name == "csv", f"{{name}} applies only to csv data, not {name!r}",
               "label_column")
        _check(not self.ignore or name == "csv", f"{{name}} applies only to csv data, not {name!r}", "ignore")
        _check(self.resize in RESIZES, f"resize must be one of {RESIZES}, got {self.resize!r}", "resize")
        _check(self.resize == RESIZES[0] or self.image_size is not None,
               "{name} applies only with {image_size}", "resize")
        _check(self.representation is None or molecules, f"{{name}} applies only to molecules, not {name!r}",
               "representation")
        _check(not self.skip_invalid or molecules, f"{{name}} applies only to molecules, not {name!r}",
               "skip_invalid")
        _check(not molecules or self.representation in REPRESENTATIONS,
               f"molecules need a representation, smiles or selfies, got {self.representation!r}", "representation")
        _check(not molecules or self.binarize == "none", "molecules are token sequences: binarize must be none")
        _check(self.contrast == "none" or (name != "csv" and not molecules),
               f"{{name}} applies to images, not to {name!r} data", "contrast")
        _check(self.contrast == "none" or self.binarize == "none",
               "{contrast} gcn takes grey levels out of [0, 1], so it cannot be binarized: set {binarize} none "
               "and a Gaussian {likelihood}")
        _check(self.keep_labels is None or len(self.keep_labels) > 0, "give at least one label to keep", "keep_labels")
        _check(self.keep_labels is None or all(-2**63 <= c < 2**63 for c in self.keep_labels),
               f"labels are 64-bit integers, got {excerpt(self.keep_labels)}", "keep_labels")

    @property
    def molecules(self) -> bool:
        return self.name in MOLECULE_DATASETS

    @property
    def spec(self) -> str:
        """The data as `--data` takes it: mnist, idx:DIR, a SMILES file..."""
        if self.name == "smiles":
            return str(self.path)
        return f"{self.name}:{self.path}" if self.path else self.name


@dataclass(frozen=True)
class ModelConfig:
    """One VAE family: the regulariser and beta make it an AE, a regularised AE, a VAE or a beta-VAE."""

    arch: str = option("conv", "encoder and decoder networks", flag="model", choices="architecture")
    shape: tuple[int, ...] = option((1, 28, 28), "event shape of one example", cli=False)
    latent_dim: int = option(16, "size of z")
    hidden: tuple[int, ...] = option((400,), "mlp widths, e.g. 400 or 512,256 ('' for linear); gru: its one "
                                             "width", metavar="WIDTHS")
    channels: tuple[int, ...] = option((32, 64), "conv widths, one stride-2 stage each", metavar="WIDTHS")
    dense: tuple[int, ...] = option((), "conv: fully connected widths between conv features and z, mirrored",
                                    metavar="WIDTHS")
    res_blocks: int = option(0, "conv: residual blocks (two 3x3 convs) at every stage of encoder and decoder")
    likelihood: str = option("bernoulli", "p(x|z) (default: chosen from the data: bernoulli for near-binary grey "
                                          "images, discretized-logistic for 8-bit grey-level or colour images, "
                                          "gaussian-learned-pixel for tables and other reals)", choices="likelihood")
    sigma: float = option(0.1, "sigma of the fixed Gaussian likelihood")
    regularizer: str = option("kl", "kl: VAE; tc: beta-TCVAE (beta weighs only the total correlation); l2: "
                                    "lambda*|z|^2 regularised AE; none: plain AE", choices="regularizer")
    beta: float = option(1.0, "weight of the KL term (>1 gives a beta-VAE), or of the TC term with "
                              "--regularizer tc")
    lam: float = option(1e-3, "lambda of the l2 regulariser")
    tc_estimator: str = option("mws", "with --regularizer tc: how a batch estimates q(z): mws "
                                      "(minibatch-weighted) or mss (minibatch-stratified)", choices=TC_ESTIMATORS)
    num_classes: int = option(0, "> 0: a conditional VAE over that many classes", cli=False)
    free_bits: float = option(0.0, "with --regularizer kl: KL per latent dimension (batch mean) below this "
                                   "many nats is not penalised")
    vocab_size: int = option(0, "gru: tokens, specials included", cli=False)
    embed_dim: int = option(64, "gru: token embedding width")
    word_dropout: float = option(0.0, "gru: share of the decoder's teacher-forced inputs blanked while training")

    def __post_init__(self) -> None:
        check_types(self)
        _check(self.latent_dim >= 1, f"latent size must be at least 1, got {self.latent_dim}", "latent_dim")
        _check(len(self.shape) >= 1 and all(s >= 1 for s in self.shape) and math.prod(self.shape) <= MAX_EXAMPLE_VALUES,
               f"bad example shape {excerpt(self.shape)} (at most {MAX_EXAMPLE_VALUES:,} values)", "shape")
        _check(all(h >= 1 for h in self.hidden), f"hidden widths must be positive, got {self.hidden}", "hidden")
        _check(len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
               f"conv channels must be positive, got {self.channels}", "channels")
        _check(all(d >= 1 for d in self.dense), f"dense widths must be positive, got {self.dense}", "dense")
        likelihoods.get(self.likelihood, "likelihood")
        regularizers.get(self.regularizer, "regularizer")
        _check(self.beta >= 0 and math.isfinite(self.beta), f"beta must be finite and >= 0, got {self.beta}",
               "beta")
        _check(self.lam >= 0 and math.isfinite(self.lam), f"lambda must be finite and >= 0, got {self.lam}", "lam")
        _check(self.tc_estimator in TC_ESTIMATORS,
               f"unknown TC estimator {self.tc_estimator!r}; choose one of: {', '.join(TC_ESTIMATORS)}", "tc_estimator")
        _check(self.tc_estimator == TC_ESTIMATORS[0] or uses(self.regularizer, "tc_estimator"),
               f"a TC estimator ({self.tc_estimator}) applies to {{regularizer}} {taking('tc_estimator')} only, not "
               f"{self.regularizer!r}", "tc_estimator")
        _check(self.sigma > 0 and math.isfinite(self.sigma), f"sigma must be finite and > 0, got {self.sigma}",
               "sigma")
        _check(self.num_classes >= 0, f"the number of classes must be >= 0, got {self.num_classes}", "num_classes")
        _check(0 <= self.res_blocks <= MAX_LAYERS, f"must lie in 0..{MAX_LAYERS}, got {self.res_blocks}", "res_blocks")
        for name, widths in (("hidden", self.hidden), ("channels", self.channels), ("dense", self.dense)):
            _check(len(widths) <= MAX_LAYERS, f"at most {MAX_LAYERS} widths, got {len(widths):,}", name)
        _check(self.free_bits >= 0 and math.isfinite(self.free_bits),
               f"free bits must be finite and >= 0, got {self.free_bits}", "free_bits")
        _check(self.free_bits == 0 or uses(self.regularizer, "free_bits"),
               f"{{name}} applies to {{regularizer}} {taking('free_bits')} only, not {self.regularizer!r}", "free_bits")
        _check(0 <= self.word_dropout < 1, f"word dropout must lie in [0, 1), got {self.word_dropout}", "word_dropout")

    @property
    def reads_tokens(self) -> bool:
        """Token sequences (molecules) rather than real-valued examples: what the likelihood models.
        (The architecture must read the same; the network checks that when it is built.)"""
        return likelihoods.get(self.likelihood).reads_tokens

    @property
    def stochastic(self) -> bool:
        """Only the VAEs sample z; the (regularised) autoencoders use z = mu."""
        return regularizers.get(self.regularizer).stochastic

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0


def uses(regularizer: str, field_name: str) -> bool:
    """Whether a regulariser reads a ModelConfig field (`beta`, `lam`, ...): set for another, it would be ignored."""
    return field_name in regularizers.get(regularizer, "regularizer").uses


def taking(field_name: str) -> str:
    """The regularisers that read a field, for messages: "kl or tc"."""
    return " or ".join(name for name in regularizers.names() if uses(name, field_name))


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = option(10, "epochs to train (with --resume: the new total)")
    batch_size: int = option(128, "examples per optimisation step (with --nproc: the global batch, shared out) "
                                  "(default 128, or the whole training set when it is smaller)")
    lr: float = option(1e-3, "Adam learning rate")
    seed: int = option(0, "seed for initialisation, order, binarization and noise")
    kl_warmup: float = option(0.0, "epochs over which beta rises linearly from 0")
    grad_clip: float = option(0.0, "max global gradient norm; 0 turns clipping off")
    device: str = option("auto", "auto: CUDA when present", choices=DEVICES)
    # How the step runs, not what it computes: both may change on --resume.
    precision: str = option("auto", "auto: bf16 autocast on CUDA, fp32 on CPU", choices=PRECISIONS)
    compile: bool = option(False, "torch.compile the model for training (slow first steps; pays off on long GPU "
                                  "runs)")

    def __post_init__(self) -> None:
        check_types(self)
        _check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}", "epochs")
        _check(self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}", "batch_size")
        _check(self.lr > 0 and math.isfinite(self.lr), f"learning rate must be finite and > 0, got {self.lr}", "lr")
        _check(self.kl_warmup >= 0 and math.isfinite(self.kl_warmup),
               f"kl warm-up must be finite and >= 0 epochs, got {self.kl_warmup}", "kl_warmup")
        _check(self.grad_clip >= 0 and math.isfinite(self.grad_clip),
               f"grad clip must be finite and >= 0, got {self.grad_clip}", "grad_clip")
        _check(0 <= self.seed < 2**63, f"seed must lie in 0..2^63-1, got {self.seed}", "seed")
        _check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}", "device")
        _check(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}",
               "precision")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: Any) -> "RunConfig":
        d = migrate(d)
        unknown = set(d) - {"data", "model", "train", "version"}
        _check(not unknown, f"unknown RunConfig field(s): {_listed(unknown)}")
        return cls(data=_build(DataConfig, d.get("data")), model=_build(ModelConfig, d.get("model", {})),
                   train=_build(TrainConfig, d.get("train", {})))

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise InputError(f"config is not valid JSON: {e}") from None


def migrate(d: Any) -> dict[str, Any]:
    """A config dict of any version as the current version (a copy; the argument is not changed)."""
    _check(isinstance(d, dict), f"a run config is a JSON object, got {type(d).__name__}")
    version = d.get("version", 1)
    _check(type(version) is int and 1 <= version <= VERSION,
           f"version {version!r} is not one this vaelab reads (1..{VERSION}); a newer vaelab wrote it?")
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    if version == 1:
        for section, old, new in (("data", "classes", "keep_labels"), ("model", "classes", "num_classes")):
            if isinstance(d.get(section), dict) and old in d[section]:
                d[section][new] = d[section].pop(old)
        if isinstance(d.get("data"), dict) and d["data"].get("name") == "tensors":
            d["data"]["name"] = IN_MEMORY
    if version < 3 and isinstance(d.get("data"), dict) and d["data"].get("image_size") is not None:
        d["data"].setdefault("resize", "squash")  # what --image-size did before version 3
    d["version"] = VERSION
    return d


def _build(kind: type, values: Any):
    _check(isinstance(values, dict), f"{kind.__name__} must be a JSON object, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - known
    _check(not unknown, f"unknown {kind.__name__} field(s): {_listed(unknown)}")
    missing = {f.name for f in dataclasses.fields(kind) if f.default is f.default_factory is dataclasses.MISSING}
    missing -= set(values)
    _check(not missing, f"{kind.__name__} needs the field(s): {_listed(missing)}")
    return kind(**values)


def _listed(names: set[str]) -> str:  # field names for a message, cut to a line (a key may be 1 MB long)
    return ", ".join(sorted(names)) if sum(map(len, names)) <= 200 else excerpt(", ".join(sorted(names)), 200)


# --- field types --------------------------------------------------------------------------------------
def check_types(config) -> None:
    """Refuse a field of the wrong type (a float latent size, a string shape), converting only what is
    exact: an int where a float belongs, a list where a tuple does."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        converted = _as_type(value, str(f.type), f.name)
        if converted is not value:
            object.__setattr__(config, f.name, converted)


_SCALARS = {"int": int, "float": float, "str": str, "bool": bool}


def _as_type(value: Any, annotation: str, name: str) -> Any:
    kinds = [a.strip() for a in annotation.split("|")]
    if value is None:
        _check("None" in kinds, "a value is required, not null", name)
        return None
    kind = kinds[0]
    if kind.startswith("tuple["):
        item = kind[len("tuple["):].split(",")[0]
        _check(isinstance(value, (list, tuple)), f"expected a list of {item}s, got {excerpt(value)}", name)
        return tuple(_scalar(v, item, name) for v in value)
    return _scalar(value, kind, name)


def _scalar(value: Any, kind: str, name: str) -> Any:
    """`value` as the exact Python type; numpy's integers and floats (a sweep over np.arange) pass."""
    if kind in ("int", "float") and not isinstance(value, bool):
        if isinstance(value, numbers.Integral):
            return _SCALARS[kind](value)
        if kind == "float" and isinstance(value, numbers.Real):
            return float(value)
    if kind == "str" and isinstance(value, str):
        return str(value)
    article = "an" if kind == "int" else "a"
    _check(type(value) is _SCALARS[kind], f"expected {article} {kind}, got {excerpt(value)}", name)
    return value


# --- options: what `vaelab train` and `vaelab.fit` take ------------------------------------------------
@dataclass(frozen=True)
class Option:
    name: str  # as Python takes it (`fit(latent_dim=8)`); the flag is --latent-dim
    section: str  # "data", "model" or "train"
    field: dataclasses.Field

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def default(self) -> Any:
        return self.field.default


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def option_table() -> dict[str, Option]:
    """Every config field a user sets by name, keyed by that name, in the sections' field order."""
    table = {}
    for section, kind in SECTIONS.items():
        for f in dataclasses.fields(kind):
            if f.metadata.get("cli", True):
                name = f.metadata.get("flag") or f.name
                table[name] = Option(name, section, f)
    return table


def option_name(parameter: str) -> str:
    """The option a config field is set by (`arch` -> `model`), for naming it in errors."""
    for option_ in option_table().values():
        if option_.field.name == parameter:
            return option_.name
    return parameter
