"""ONNX export of a run's encoder and decoder, checked against PyTorch with onnxruntime.

Why: so a trained model can encode and generate where PyTorch is not installed (onnxruntime alone,
from any language it has bindings for). `export_onnx` writes three files into one folder:

    encoder.onnx   x (N, *shape) float32 [, y (N,) int64 label]  ->  mu, logvar (N, latent_dim)
    decoder.onnx   z (N, latent_dim) float32 [, y (N,) int64]     ->  mean (N, *shape) and the
                   likelihood's parameter: logits (Bernoulli types) or logvar (Gaussians), (N, *shape)
    export.json    a manifest: names, shapes and dtypes, the model's facts, versions, and the
                   largest difference from PyTorch measured on the written files

N is a dynamic axis. `mean` is what `model.decode` returns: pixel probabilities for Bernoulli,
E[x] for the continuous Bernoulli, the Gaussian's mean. A conditional model takes integer labels
`y` (the graph makes the one-hot itself); a label outside 0..classes-1 gives an all-zero one-hot,
which the model never saw, so check labels before calling. An autoencoder's logvar is -inf (it has
no posterior variance). Sequence (molecule) runs are refused: their decoder is autoregressive.

The files are written into a temporary folder beside the target, checked, then moved into place:
a failed export (or a failed check) leaves nothing behind. No pickle is involved anywhere.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .errors import InputError, ResourceError
from .extras import require
from .model import Model, TrainedModel
from .registry import likelihoods
from .run import Run

FORMATS = ("onnx",)
# Opset 18: the oldest the torch.export-based exporter writes natively (an older one would go through
# its version converter); read by every onnxruntime since 1.14.
OPSET = 18
TOLERANCE = 1e-4  # largest accepted |ONNX - PyTorch| of any output element
CHECK_BATCH_SIZES = (1, 7)  # two sizes, neither the traced one (3): proves the batch axis is dynamic
TRACE_BATCH_SIZE = 3
ENCODER, DECODER, MANIFEST = "encoder.onnx", "decoder.onnx", "export.json"
EXPORT_FILES = (ENCODER, DECODER, MANIFEST)
BATCH = "batch"  # the dynamic axis' name in the ONNX files


class EncoderGraph(nn.Module):
    """x [, y] -> (mu, logvar): the network's q(z|x) as one traceable forward, labels as integers."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        qz = self.network.posterior(x, None if y is None else _one_hot(y, self.network.config.num_classes))
        return qz.mu, qz.logvar


class DecoderGraph(nn.Module):
    """z [, y] -> (mean, logits or logvar): p(x|z)'s mean and the parameter it is computed from."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        px = self.network.px(z, None if y is None else _one_hot(y, self.network.config.num_classes))
        return px.mean, _likelihood_parameter(px)


def _one_hot(y: Tensor, classes: int) -> Tensor:
    # A comparison with arange instead of F.one_hot: it traces to Equal + Cast, and a bad label
    # gives zeros instead of an error that ONNX cannot raise.
    return (y[:, None] == torch.arange(classes, device=y.device)).float()


def _likelihood_parameter(px) -> Tensor:
    """The logits of a (continuous) Bernoulli, or the scale of a Gaussian (logvar) or discretized logistic
    (log_scale), broadcast to the mean's shape."""
    if hasattr(px, "logits"):
        return px.logits
    return (px.log_scale if hasattr(px, "log_scale") else px.logvar).expand_as(px.loc)


def parameter_name(model: Model) -> str:
    return likelihoods.get(model.config.model.likelihood).parameter


def _require_onnx():
    """onnx (checker), onnxruntime (the check); onnxscript is what torch.onnx.export writes with."""
    require("export")
    import onnx
    import onnxruntime

    return onnx, onnxruntime


def _as_model(model_or_run: TrainedModel | str | Path) -> Model:
    """A private CPU copy in eval mode: exporting never changes the caller's model (mode, device)."""
    model = model_or_run if isinstance(model_or_run, TrainedModel) else Run.open(model_or_run).model()
    if model.config.model.reads_tokens:
        raise InputError("sequence (molecule) runs cannot be exported to ONNX: their GRU decoder is "
                         "autoregressive (a loop over tokens with sampling), not one graph; use vaelab.mol")
    return Model(copy.deepcopy(model.network).cpu().eval(), model.config, model.run)


def _check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file, not a folder to write {', '.join(EXPORT_FILES)} into")
    if any(p.exists() and not p.is_dir() for p in out.parents):
        raise InputError(f"{out}: a part of the path is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"{out} already exists and is not empty; "
                          f"use {{force}} to replace the {', '.join(EXPORT_FILES)} in it, or choose another folder")


def _trace(graph: nn.Module, args: tuple[Tensor, ...], path: Path, input_names: list[str],
           output_names: list[str], opset: int) -> None:
    # torch.export-based exporter (dynamo=True, torch's default), not the older TorchScript tracer
    # (dynamo=False): the tracer, though faster, records some sizes as constants of the traced batch
    # (the continuous Bernoulli's ones_like, the MLP decoder's unflatten), so a file traced at batch
    # 3 would return 3 rows for 1 input. torch.export keeps the batch size symbolic and fails loudly
    # instead of specialising it. Needs onnxscript.
    #
    # Grad mode on, on purpose: without autograd on CPU, Upsample2x (vaelab.nets.conv) computes its
    # transposed convolution from sub-pixel weights cached between calls. With autograd it runs the
    # plain ConvTranspose2d, so the graph holds ONNX's ConvTranspose on the real weights, never a
    # cached copy; the check then compares it with PyTorch's own (cached, sub-pixel) no-grad path.
    batch = torch.export.Dim(BATCH, min=1)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # e.g. "torchvision is not installed": nothing a user can act on
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's own deprecations; the check below is what counts
            torch.onnx.export(graph, args, str(path), dynamo=True, opset_version=opset, external_data=False,
                              input_names=input_names, output_names=output_names, verbose=False,
                              dynamic_shapes=tuple({0: batch} for _ in args))
    except Exception as e:  # torch.export raises many kinds; to a user they all mean this one thing
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ResourceError(f"torch.onnx.export could not export the {path.stem}: {first_line}") from e
    finally:
        exporter_log.setLevel(level)


def _differences(got: np.ndarray, want: np.ndarray, relative: bool) -> tuple[float, float]:
    """(max |got - want|, max |got - want| / scale), scale = max(1, |want|) if `relative`, else 1.

    Equal infinities (an autoencoder's logvar) count as no difference, NaN as an infinite one.
    """
    if got.shape != want.shape:
        raise ResourceError(f"an ONNX output has shape {got.shape}, PyTorch's {want.shape}")
    if not got.size:
        return 0.0, 0.0
    want = want.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.nan_to_num(np.where(got == want, 0.0, np.abs(got - want)), nan=np.inf)
    scaled = diff / np.maximum(1.0, np.abs(np.nan_to_num(want))) if relative else diff
    return float(diff.max()), float(scaled.max())


def _session(onnxruntime, path: Path):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a batch of 7 gains nothing from threads; the cores may be busy
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_export(folder: str | Path, model, batch_sizes=CHECK_BATCH_SIZES, seed: int = 0) -> dict[str, dict]:
    """Run encoder.onnx and decoder.onnx in `folder` with onnxruntime and compare them with PyTorch.

    Inputs: uniform [0, 1) examples, z ~ N(0, I), labels cycling through the classes, at each batch
    size. The reference is the user-facing API (`model.encode`, `model.decode`, `model.px`).
    Returns {"max_abs_diff": {"encoder": {"mu": d, "logvar": d}, "decoder": {"mean": d, NAME: d}},
    "scaled": the same with logits' differences divided by max(1, |logit|)}, each d the largest
    over all elements and batch sizes, NAME "logits" or "logvar" (`parameter_name`).

    Why logits are scaled: a trained decoder's logits reach +-50, where float32's own spacing is
    4e-6, and a sum in another order moves them by tens of ulps while sigmoid(logits), the `mean`,
    agrees to 1e-6. Every other output is held to an absolute tolerance.
    """
    _, onnxruntime = _require_onnx()
    folder = Path(folder)
    encoder, decoder = _session(onnxruntime, folder / ENCODER), _session(onnxruntime, folder / DECODER)
    g = torch.Generator().manual_seed(seed)
    names = {"encoder": ("mu", "logvar"), "decoder": ("mean", parameter_name(model))}
    absolute = {part: dict.fromkeys(outputs, 0.0) for part, outputs in names.items()}
    scaled = {part: dict.fromkeys(outputs, 0.0) for part, outputs in names.items()}
    for n in batch_sizes:
        x = torch.rand(n, *model.shape, generator=g)
        z = torch.randn(n, model.latent_dim, generator=g)
        y = torch.arange(n) % model.num_classes if model.conditional else None
        labels = {} if y is None else {"y": y.numpy()}
        with torch.no_grad():
            want = {"encoder": model.encode(x, y),
                    "decoder": (model.decode(z, y), _likelihood_parameter(model.network.px(z, model.condition(y, n))))}
        got = {"encoder": encoder.run(None, {"x": x.numpy(), **labels}),
               "decoder": decoder.run(None, {"z": z.numpy(), **labels})}
        for part, outputs in names.items():
            for name, g_out, w_out in zip(outputs, got[part], want[part]):
                a, s = _differences(g_out, w_out.detach().numpy(), relative=name == "logits")
                absolute[part][name] = max(absolute[part][name], a)
                scaled[part][name] = max(scaled[part][name], s)
    return {"max_abs_diff": absolute, "scaled": scaled}


_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64"}


def _io(session) -> dict[str, list[dict]]:
    """Names, shapes (the batch axis by name) and dtypes, read back from the written file."""
    def describe(args):
        return [{"name": a.name, "shape": list(a.shape), "dtype": _DTYPES.get(a.type, a.type)} for a in args]
    return {"inputs": describe(session.get_inputs()), "outputs": describe(session.get_outputs())}


def _manifest(folder: Path, model: Model, opset: int, differences: dict, tolerance: float) -> dict:
    from .version import __version__

    _, onnxruntime = _require_onnx()
    cfg = model.config.model
    manifest = {
        "format": "onnx",
        "vaelab_version": __version__,
        "torch_version": torch.__version__,
        "onnxruntime_version": onnxruntime.__version__,
        "opset": opset,
        "run": None if model.run is None else str(model.run.path),
        "latent_dim": cfg.latent_dim,
        "shape": list(cfg.shape),
        "likelihood": cfg.likelihood,
        "arch": cfg.arch,
        "regularizer": cfg.regularizer,
        "stochastic": cfg.stochastic,  # false: an autoencoder, whose logvar output is -inf
        "classes": cfg.num_classes,  # > 0: both graphs take labels y (N,) int64 in 0..classes-1
        "files": {},
        "check": {"batch_sizes": list(CHECK_BATCH_SIZES), "tolerance": tolerance,
                  "criterion": "|onnxruntime - torch| <= tolerance for every element; for logits, "
                               "<= tolerance x max(1, |logit|)",
                  "max_abs_diff": differences},
    }
    if likelihoods.get(cfg.likelihood).fixed_sigma:
        manifest["sigma"] = cfg.sigma
    for part, name in (("encoder", ENCODER), ("decoder", DECODER)):
        manifest["files"][part] = {"file": name, **_io(_session(onnxruntime, folder / name))}
    stats = model.run.read_artifact("standardization") if model.run is not None else None
    if stats is not None:  # table runs see standardised columns: the inputs and outputs are in those units
        manifest["standardization"] = stats
    return manifest


def _publish(staging: Path, out: Path) -> None:
    """Move the checked files into `out`: one rename of the whole folder when `out` is new, else a
    rename per file, the manifest last (so a manifest always describes the files beside it)."""
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; exports are for sharing
    if not out.exists():
        os.rename(staging, out)
        return
    for name in EXPORT_FILES:
        os.replace(staging / name, out / name)
    staging.rmdir()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def export_onnx(model_or_run, out_dir: str | Path, *, force: bool = False, opset: int = OPSET,
                tolerance: float = TOLERANCE) -> dict:
    """Write encoder.onnx, decoder.onnx and export.json into `out_dir`, checked against PyTorch.

    `model_or_run`: a run folder or a loaded `vaelab.Model` (which is not changed). `out_dir` must not exist,
    or be empty, unless `force` (then the three files are replaced and nothing else is touched).
    Raises ResourceError (nothing written) when the check finds a difference above `tolerance`.
    Returns the manifest.
    """
    model = _as_model(model_or_run)
    out = Path(out_dir)
    _check_out_dir(out, force)
    onnx, _ = _require_onnx()  # after the quick checks: importing onnxscript takes seconds
    made = [p for p in reversed(out.parents) if not p.exists()]  # folders above `out` to make, as train does
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as e:
        raise ResourceError(f"cannot write into {out.parent}: {e.strerror or e}") from None
    published = False
    try:
        x = torch.rand(TRACE_BATCH_SIZE, *model.shape, generator=torch.Generator().manual_seed(0))
        z = torch.zeros(TRACE_BATCH_SIZE, model.latent_dim)
        labels = (torch.arange(TRACE_BATCH_SIZE) % model.num_classes,) if model.conditional else ()
        label_names = ["y"] if model.conditional else []
        _trace(EncoderGraph(model.network).eval(), (x, *labels), staging / ENCODER, ["x", *label_names],
               ["mu", "logvar"], opset)
        _trace(DecoderGraph(model.network).eval(), (z, *labels), staging / DECODER, ["z", *label_names],
               ["mean", parameter_name(model)], opset)
        for name in (ENCODER, DECODER):
            try:
                onnx.checker.check_model(str(staging / name), full_check=True)  # full: shape inference too
            except onnx.checker.ValidationError as e:
                raise ResourceError(f"the exported {name} is not a valid ONNX model: {e}") from None
        check = check_export(staging, model)
        worst, part, name = max((d, part, name) for part, ds in check["scaled"].items() for name, d in ds.items())
        if not worst <= tolerance:  # `not <=`: a NaN fails too
            scale = " x max(1, |logit|)" if name == "logits" else ""
            raise ResourceError(f"the exported {part}'s output {name} differs from PyTorch by "
                              f"{check['max_abs_diff'][part][name]:.3g} (more than {tolerance:.0e}{scale}); "
                              "nothing was written")
        manifest = _manifest(staging, model, opset, check["max_abs_diff"], tolerance)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _publish(staging, out)
        published = True
    finally:
        if staging.exists():
            shutil.rmtree(staging)
        if not published:  # nothing half-written: not even the folders made for it
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return manifest
