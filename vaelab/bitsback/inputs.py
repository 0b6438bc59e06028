"""What can be compressed: images as the coder's symbols (uint8 pixel values), from an array, an
.npy file, a folder of image files or a split of the run's data, each checked against the run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, ResourceError
from ..run import Run

MAX_IMAGES = 10_000_000


def as_symbols(images: Any, shape: tuple[int, ...], levels: int) -> np.ndarray:
    """(N, *shape) uint8 values in 0..levels-1 from an array of the run's pixel values: 0/1 (or
    0/255, as image files hold them) for binary pixels, 0..255 (or floats k/255) for 8-bit ones.
    Anything that would not come back the same is refused."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.shape == shape:
        x = x[None]
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or not 0 < len(x) <= MAX_IMAGES:
        raise InputError(f"expected images of shape {shape} (one, or N of them, up to {MAX_IMAGES:,}), "
                         f"got an array of shape {x.shape}", "images")
    if x.dtype == bool:
        x = x.astype(np.uint8)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InputError(f"images must hold numbers, not {x.dtype}", "images")
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise InputError("images hold NaN or infinite values", "images")
        x = x * (levels - 1) if x.max(initial=0) <= 1 else x
        if not (x == np.round(x)).all():
            raise InputError(_values_message(levels), "images")
    top = x.max(initial=0)
    if levels == 2 and x.min(initial=0) >= 0 and top == 255 and np.isin(x, (0, 255)).all():
        x = x // 255  # a binary image as a file stores it
    if x.min(initial=0) < 0 or x.max(initial=0) > levels - 1:
        raise InputError(_values_message(levels), "images")
    return np.ascontiguousarray(x, dtype=np.uint8)


def _values_message(levels: int) -> str:
    if levels == 2:
        return ("this run codes binary pixels (Bernoulli): images must hold only 0 and 1 (or 0 and 255); "
                "binarize them first, or use a run trained on 8-bit images (discretized-logistic)")
    return "this run codes 8-bit pixels: images must hold whole values 0..255 (or k/255)"


def load_images(source: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """The images of an .npy file or of a folder of image files, as stored (no resizing: lossless)."""
    from ..data.folder import find_images, read_images

    path = Path(source).expanduser()
    if path.suffix == ".npy":
        try:
            # mapped first: only the header is read, so a header claiming more than the file holds (a 4 EiB
            # array in a few bytes) fails here instead of allocating it
            return np.array(np.load(path, mmap_mode="r", allow_pickle=False))
        except FileNotFoundError:
            raise ResourceError(f"{path} not found") from None
        except (OSError, ValueError, EOFError) as e:  # EOFError: an empty file
            raise ResourceError(f"{path} is not a readable .npy array ({str(e).splitlines()[0]})") from None
    if not path.is_dir():
        raise ResourceError(f"{path} is neither a folder of images nor an .npy file")
    names, _, _ = find_images(path)
    pixels = read_images(path, names, None)  # (N, C, H, W)
    if tuple(pixels.shape[1:]) != shape:
        raise InputError(f"{path} holds images of shape {tuple(pixels.shape[1:])}; the run codes {shape} "
                         "(compression does not resize: resize them the way the training data were)", "images")
    return pixels


def split_images(run: Run, split: str, levels: int) -> np.ndarray:
    """A split of the run's data as the likelihood sees it: with dynamic binarization, the fixed
    binarized copy every reported likelihood refers to."""
    from ..data.binarize import presented

    x, _ = run.data().split(split)
    x = presented(x, run.config.data.binarize)
    return np.rint(x.numpy() * (levels - 1))
