"""dSprites (Matthey et al. 2017): 64x64 binary sprites whose five generative factors are known.

The design of the original: shape (square, ellipse, heart) x scale (6 values, 0.5-1) x orientation
(40 values, linspace(0, 2 pi)) x position x and y (32 values each, linspace(0, 1)), every
combination once: 737,280 images, in C order over the factors (y varies fastest). `render` draws
any list of factor combinations: the 720 (shape, scale, orientation) sprites are drawn once (a
pixel is on when its centre lies inside the rotated, scaled shape), and position only translates
them, one pixel per position step, so an image is one slice of a padded sprite. The outlines are ours (the
original's bitmaps are not reproduced pixel for pixel); the factors and their values are the
original's. A user who has the
original `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` loads it with `load_npz` instead.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError, ResourceError

FACTORS = ("shape", "scale", "orientation", "x", "y")
SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SIDE = 64
FULL_SIZE = math.prod(SIZES)  # 737,280

# Geometry, in pixels: half the side of the square at scale 1; sprite centres run over the pixel
# centres 16.5 .. 47.5, one pixel per position step, so the largest sprite at any angle (at most
# 12 px from its centre) stays inside the 64x64 frame.
_HALF = 8.5
_FIRST_CENTRE = 16


def factor_values() -> dict[str, np.ndarray]:
    """The value of every class of every factor, as the original's `latents_values` holds them."""
    return {
        "shape": np.arange(1.0, 4.0),
        "scale": np.linspace(0.5, 1.0, 6),
        "orientation": np.linspace(0.0, 2 * math.pi, 40),
        "x": np.linspace(0.0, 1.0, 32),
        "y": np.linspace(0.0, 1.0, 32),
    }


def all_factor_classes() -> np.ndarray:
    """(737280, 5) int64 class indices of every combination, in the original's order."""
    grids = np.meshgrid(*(np.arange(s) for s in SIZES), indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], -1).astype(np.int64)


def sample_factor_classes(n: int, seed: int = 0, replace: bool = False) -> np.ndarray:
    """(n, 5) class indices of n combinations drawn at random (distinct unless `replace`)."""
    rng = np.random.default_rng(seed)
    if not replace and n > FULL_SIZE:
        raise InputError(f"dSprites has {FULL_SIZE:,} distinct images; asked for {n:,}")
    index = rng.choice(FULL_SIZE, size=n, replace=replace)
    return np.stack(np.unravel_index(index, SIZES), -1).astype(np.int64)


def _inside(shape: np.ndarray, u: np.ndarray, v: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Whether sprite-frame points (u right, v up; pixels) lie inside each image's shape."""
    u, v = u / half, v / half  # unit coordinates: the square is [-1, 1]^2
    square = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    ellipse = (u / 1.3) ** 2 + (v / 0.65) ** 2 <= 1
    hu, hv = u / 1.05, v / 1.05 + 0.1  # the heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, centred
    heart = (hu**2 + hv**2 - 1) ** 3 <= hu**2 * hv**3
    return np.where(shape == 0, square, np.where(shape == 1, ellipse, heart))


def _sprites() -> np.ndarray:
    """(3, 6, 40, 64, 64) bool: every (shape, scale, orientation) drawn with its centre at the first position."""
    values = factor_values()
    shape, scale, angle = np.meshgrid(np.arange(3), values["scale"], values["orientation"], indexing="ij")
    shape, half, angle = (a.reshape(-1, 1, 1) for a in (shape, _HALF * scale, angle))
    centres = np.arange(SIDE) + 0.5 - (_FIRST_CENTRE + 0.5)
    dx, dy = centres[None, None, :], -centres[None, :, None]  # column offsets; row offsets, upwards
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, cos * dy - sin * dx  # rotate the frame by -angle
    return _inside(shape, u, v, half).reshape(*SIZES[:3], SIDE, SIDE)


_PADDED: np.ndarray | None = None  # the 720 sprites on a larger canvas, drawn on first use


def render(classes: np.ndarray) -> np.ndarray:
    """(N, 5) factor class indices -> (N, 64, 64) uint8 images of 0s and 1s."""
    global _PADDED
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape[1] != len(FACTORS):
        raise InputError(f"factor classes must have shape (N, {len(FACTORS)}), got {classes.shape}")
    if (classes < 0).any() or (classes >= np.array(SIZES)).any():
        raise InputError(f"factor classes out of range; sizes are {dict(zip(FACTORS, SIZES))}")
    shift = SIZES[3]  # position steps: the sprite moves right (x) and down (y) by one pixel per step
    if _PADDED is None:
        # padded[k, shift + a, shift + b] = sprite_k[a, b], zeros above and to the left, so the image
        # of a sprite moved by (x, y) is the 64x64 window of padded starting at (shift - y, shift - x).
        _PADDED = np.zeros((math.prod(SIZES[:3]), SIDE + shift, SIDE + shift), dtype=np.uint8)
        _PADDED[:, shift:, shift:] = _sprites().reshape(-1, SIDE, SIDE)
    sprite = np.ravel_multi_index(tuple(classes[:, :3].T), SIZES[:3])
    out = np.empty((len(classes), SIDE, SIDE), dtype=np.uint8)
    for i, (k, x, y) in enumerate(zip(sprite.tolist(), classes[:, 3].tolist(), classes[:, 4].tolist())):
        out[i] = _PADDED[k, shift - y:shift - y + SIDE, shift - x:shift - x + SIDE]
    return out


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The original file -> (images (737280, 64, 64) uint8, factor classes (737280, 5)), no pickle.

    The file's `metadata` entry is a pickled object and is never read.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ResourceError(f"no dSprites file at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "imgs" not in f.files or "latents_classes" not in f.files:
                raise ResourceError(f"{path} is not the dSprites .npz: it needs 'imgs' and 'latents_classes', "
                                 f"it has {', '.join(f.files)}")
            images, classes = f["imgs"], f["latents_classes"]
    except (OSError, ValueError) as e:
        raise ResourceError(f"cannot read {path} as a .npz file: {e}") from None
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ResourceError(f"{path}: 'imgs' must have shape (N, 64, 64), got {images.shape}")
    if classes.ndim != 2 or classes.shape != (len(images), len(FACTORS) + 1):
        raise ResourceError(f"{path}: 'latents_classes' must have shape ({len(images)}, 6) "
                         f"(colour, then the five factors), got {classes.shape}")
    classes = classes[:, 1:].astype(np.int64)  # the colour factor has one value
    if (classes < 0).any() or (classes >= np.array(SIZES)).any():
        raise ResourceError(f"{path}: factor classes out of range; sizes are {dict(zip(FACTORS, SIZES))}")
    return images.astype(np.uint8, copy=False), classes
