"""The latent explorer's domain: one run's model and everything about its latent space the page shows.

Everything slow happens once, when the `Explorer` is built: loading the model and its data, the
posterior means of the test examples, their 2-D map, the dimensions sorted by KL and the
attribute vectors. A request then costs one decoder (or encoder) pass and a small PNG.

The numbers come from `vaelab.latent` (latent_statistics, dimension_order, project_2d,
measure / quartile_masks / attribute_vector / apply_vector, lerp / slerp, step_distances) and the
images from `vaelab.viz.grid`, so the page shows what the commands print. Nothing here knows HTTP:
a bad request value is an `InputError` (or one of the two kinds below), which the app maps to a
status in one handler.
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import torch
from torch import Tensor

from ..errors import InputError
from ..run import Run

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096  # a 12-megapixel photo passes; a decompression bomb is refused from its header
MAX_STEPS, MAX_SAMPLES, MAX_TEMPERATURE, MAX_ALPHA = 64, 64, 5.0, 10.0
ATTRIBUTE_EXAMPLES = 10_000  # training codes behind each attribute vector, as `vaelab attribute` uses
STATISTICS_EXAMPLES = 2_000  # examples behind the KL per dimension, as `vaelab traverse` uses
SLIDER_SPAN = 3.0  # a VAE's sliders run over +-3 prior standard deviations (wider where codes lie further out)


class NotFound(InputError):
    """A request names something the run does not have (a test example's index)."""


class TooLarge(InputError):
    """A request's content is larger than the explorer accepts."""


# --- the run, computed once ---------------------------------------------------------------------------
def refuse_non_images(run: Run) -> None:
    """The page draws examples as pictures: molecules (token sequences) and table rows are refused."""
    if run.config.model.reads_tokens:
        raise InputError(f"{run.path} is a sequence (molecule) model; the explorer draws images "
                         f"(use vaelab mol sample / interpolate for molecules)")
    shape = tuple(run.config.model.shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise InputError(f"{run.path}: this run's examples have shape {shape}, which is not an image "
                         f"(the explorer needs greyscale or RGB images)")


class Explorer:
    """The model of one run and everything about its latent space that the page shows."""

    def __init__(self, run_dir: str | Path, max_examples: int = 10_000, data: str | None = None):
        from ..latent.maps import project_2d
        from ..latent.traverse import dimension_order, latent_statistics

        if max_examples < 1:
            raise InputError(f"the explorer needs at least 1 test example, got {max_examples}", "max_examples")
        run = Run.open(run_dir)
        self.run_name = run.path.name
        refuse_non_images(run)
        self.model = model = run.model()
        splits = run.data(data)
        x, y = splits.split("test")
        if len(x) == 0:
            raise InputError(f"{run_dir}: its data has no test examples to explore", "data")
        self.x = x[:max_examples]
        self.y = y[:max_examples] if y is not None else None
        self.mu, self.logvar = model.encode_all(self.x, self.y)  # labels reach conditional models only
        n = STATISTICS_EXAMPLES
        stats = latent_statistics(model, self.x[:n], self.y[:n] if self.y is not None else None)
        self.order = dimension_order(stats)
        self.stats = stats
        largest = float(self.mu.abs().max())
        # Codes of real examples must fit on a slider; the API bound leaves ample room beyond them.
        self.spans = [max(SLIDER_SPAN, math.ceil(float(self.mu[:, d].abs().max()))) for d in range(model.latent_dim)]
        self.z_limit = max(100.0, 10 * largest)
        self.points, self.map_method, self.map_axes = project_2d(self.mu.numpy())
        self.attributes = self._attribute_vectors(splits)

    def _attribute_vectors(self, data) -> dict[str, dict]:
        """name -> {"vector", "with", "without"}: ink (measured) for any images, label:C for labelled data.

        Not label:C for a conditional run: there the label is an input of the decoder, which the
        page sets with its class selector."""
        from ..latent.attributes import PROPERTIES, attribute_masks, attribute_vector

        x, y = data.split("train")
        x, y = x[:ATTRIBUTE_EXAMPLES], (y[:ATTRIBUTE_EXAMPLES] if y is not None else None)
        if len(x) == 0:
            return {}
        mu, _ = self.model.encode_all(x, y)
        names = list(PROPERTIES)
        if y is not None and not self.model.conditional:
            names += [f"label:{c}" for c in torch.unique(y).tolist()]
        vectors = {}
        for name in names:
            with_it, without_it = attribute_masks(name, x, y)
            try:
                v = attribute_vector(mu, with_it, without_it)
            except InputError:  # one class only, or a constant property: no vector to offer
                continue
            vectors[name] = {"vector": v, "with": int(with_it.sum()), "without": int(without_it.sum())}
        return vectors

    # --- checks on request values -------------------------------------------------------------------
    def latent(self, values: list[float], what: str = "z") -> Tensor:
        """A request's code as a (L,) tensor: the run's length, every value finite and within +-z_limit."""
        n = self.model.latent_dim
        if len(values) != n:
            raise InputError(f"{what} has {len(values)} values; this run's latent has {n} dimensions")
        for i, v in enumerate(values):  # plain Python: for a few dozen values, cheaper than tensor checks
            if not math.isfinite(v):
                raise InputError(f"{what}[{i}] is {v}, not a finite number")
            if abs(v) > self.z_limit:
                raise InputError(f"{what}[{i}] = {v:g} is outside [-{self.z_limit:g}, {self.z_limit:g}]")
        return torch.tensor(values, dtype=torch.float32)

    def attribute(self, name: str) -> Tensor:
        """The vector of a named attribute (see /api/info)."""
        if name not in self.attributes:
            raise InputError(f"unknown attribute {name[:80]!r}; this run has: {', '.join(self.attributes) or 'none'}")
        return self.attributes[name]["vector"]

    def example(self, index: int) -> int:
        if not 0 <= index < len(self.x):
            raise NotFound(f"test example {index} does not exist (0..{len(self.x) - 1})")
        return index

    def labels(self, label: int | None, n: int = 1) -> Tensor | None:
        """A request's class as n labels: one of the run's classes for a conditional run, else none."""
        classes = self.model.num_classes
        if classes == 0 and label is not None:
            raise InputError("this run is not conditional: it takes no label", "label")
        if classes and label is None:
            raise InputError(f"this conditional run needs a label (0..{classes - 1})", "label")
        if label is not None and not 0 <= label < classes:
            raise InputError(f"labels must lie in 0..{classes - 1}, got {label}", "label")
        return None if label is None else torch.full((n,), label, dtype=torch.int64)

    def read_upload(self, content: bytes, filename: str) -> Tensor:
        """Uploaded bytes -> the model's (C, H, W) input in [0, 1]: greyscale or RGB, resized.

        The decoders are those of `--data folder:DIR` (an allow-list of formats, 16-bit grey and
        palettes handled), given the bytes in memory: nothing is written or opened by name."""
        from ..data.folder import decode_image, image_header

        if not content:
            raise InputError("the upload is empty")
        if len(content) > MAX_UPLOAD_BYTES:
            raise TooLarge(f"the upload has {len(content)} bytes; at most {MAX_UPLOAD_BYTES} are accepted")
        source = _NamedBytes(content, f"upload {filename[:80]!r}")
        _, (width, height) = image_header(source)  # the header only: refuses non-images and bombs before decoding
        if width * height > MAX_UPLOAD_PIXELS:
            raise TooLarge(f"the upload is {width}x{height} pixels; at most {MAX_UPLOAD_PIXELS} pixels are accepted")
        c, h, w = self.model.shape
        pixels = decode_image(source, colour=c == 3, size=(w, h), resize=True)  # (H, W, C) uint8
        return torch.tensor(pixels.transpose(2, 0, 1), dtype=torch.float32).div_(255.0)


class _NamedBytes(io.BytesIO):
    """Bytes in memory that print as a name in the decoders' error messages, which name their source."""

    def __init__(self, content: bytes, name: str):
        super().__init__(content)
        self._name = name

    def __str__(self) -> str:
        return self._name

    __repr__ = __str__  # Pillow's "cannot identify image file %r"


def png(image: Tensor) -> bytes:
    """One (C, H, W) image in [0, 1] -> PNG bytes at its own resolution (the page scales it)."""
    from ..viz.grid import grid_image

    buffer = io.BytesIO()
    grid_image(image[None], nrow=1, pad=0, scale=1).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(png(image)).decode("ascii")


def floats(t: Tensor | None) -> list | None:
    """JSON has no infinities: an autoencoder's log-variance (-inf, a point mass) becomes null."""
    if t is None or not torch.isfinite(t).all():
        return None
    return t.double().tolist()


