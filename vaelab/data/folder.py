"""A folder of image files as a dataset (`--data folder:DIR`), and CelebA-style attribute files.

Layout, as torchvision's ImageFolder: images directly in DIR (no labels), or one subfolder per
class (sorted names -> labels 0..C-1). Files and folders whose names start with "." are skipped
(.DS_Store, macOS "._x.jpg" companions, .ipynb_checkpoints), as is every non-image file, so an
attribute file may sit next to the images.

Split rule, from the relative file names alone (so a file's membership never depends on the
others, and adding images to the folder never moves a training image into the test set):
test = files whose CRC-32 of the relative POSIX path is 9 mod 10 (about 10%); the rest, in sorted
order, gives up min(val_size, len(rest) // 10) files to validation: those with the smallest
CRC-32 of "val/" + the name, which spreads validation over every class folder. Within a split the
files stay in sorted order.
"""
from __future__ import annotations

import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from ..config import DataConfig
from ..errors import InputError, ResourceError
from ..progress import progress_bar
from ..registry import datasets
from .splits import SPLITS, Splits

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
MAX_PIXELS = 1 << 25  # 33.5 megapixels: far beyond any training image, far below a decompression bomb
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # only these decoders run (no EPS -> Ghostscript...); JPEG covers MPO
DECODE_THREADS = 8
PROGRESS_FROM = 2000  # folders this large show a progress bar while they decode
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
WIDE_MODES = ("I", "I;16")  # 16-bit grey: convert("L") would clip it to 255, so it is scaled instead


# --- finding the files ---------------------------------------------------------------------------
def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and _visible(path) and path.is_file()


def _images_under(folder: Path) -> list[Path]:
    """Images anywhere below `folder`, skipping hidden files and hidden folders."""
    return [p for p in folder.rglob("*")
            if _is_image(p) and all(_visible(Path(part)) for part in p.relative_to(folder).parts)]


def find_images(folder: str | Path) -> tuple[list[str], list[int] | None, list[str]]:
    """(sorted relative POSIX paths, their class labels or None, the class names) of an image folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResourceError(f"image folder not found: {folder}")
    entries = sorted(folder.iterdir())
    flat = sorted(p.name for p in entries if _is_image(p))
    classes = {p.name: _images_under(p) for p in entries if p.is_dir() and _visible(p)}
    classes = {name: found for name, found in sorted(classes.items()) if found}
    if flat and classes:
        raise ResourceError(f"{folder} holds both images ({flat[0]}) and class folders ({next(iter(classes))}/); "
                          f"put every image in a class folder, or none")
    if flat:
        return flat, None, []
    if not classes:
        raise ResourceError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it or in its "
                            "subfolders")
    pairs = sorted((p.relative_to(folder).as_posix(), label)
                   for label, found in enumerate(classes.values()) for p in found)
    return [name for name, _ in pairs], [label for _, label in pairs], list(classes)


# --- decoding --------------------------------------------------------------------------------------
def image_header(path: Path) -> tuple[str, tuple[int, int]]:
    """Mode and (width, height) from the file's header only, refusing bombs before any decoding."""
    try:
        with Image.open(path, formats=FORMATS) as im:
            mode, size = im.mode, im.size
    except Exception as e:  # any failure of a decoder on a user's file means a bad file
        raise ResourceError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    if size[0] * size[1] > MAX_PIXELS:
        raise ResourceError(f"{path}: {size[0]}x{size[1]} pixels is more than the {MAX_PIXELS} allowed "
                          f"(a decompression bomb, or not a training image)")
    return mode, size


def decode_image(path: Path, colour: bool, size: tuple[int, int], resize: bool, crop: bool = True) -> np.ndarray:
    """(H, W, C) uint8 pixels: 'L' or 'RGB', 16-bit grey scaled to 8 bits, resized bilinearly if asked:
    with `crop`, the largest centred part of the target's proportions (a photo's centre square), else
    the whole image, stretched."""
    try:
        with Image.open(path, formats=FORMATS) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:  # the file changed since its header was read
                raise ResourceError(f"{path}: {im.size[0]}x{im.size[1]} pixels is more than the {MAX_PIXELS} allowed")
            if im.mode in WIDE_MODES or im.mode.startswith("I;16"):
                wide = np.asarray(im, dtype=np.float64)
                im = Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), mode="L")
            elif im.mode in ("P", "PA"):  # palette transparency converts to RGB only via RGBA without a warning
                im = im.convert("RGBA")
            im = im.convert("RGB" if colour else "L")
            if resize and im.size != size:
                im = (ImageOps.fit(im, size, Image.Resampling.BILINEAR) if crop
                      else im.resize(size, Image.Resampling.BILINEAR))
            pixels = np.asarray(im, dtype=np.uint8)
    except ResourceError:
        raise
    except Exception as e:  # truncated or corrupt data surfaces only here, at decoding
        raise ResourceError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    if pixels.shape[:2] != (size[1], size[0]):
        raise ResourceError(f"{path}: decoded to {pixels.shape[1]}x{pixels.shape[0]} pixels, "
                          f"but its header says {size[0]}x{size[1]}")
    return pixels.reshape(size[1], size[0], -1)


def read_images(folder: Path, names: list[str], image_size: int | None, crop: bool = True,
                progress: bool = False) -> np.ndarray:
    """(N, C, H, W) uint8 pixels: C = 1 if every file is greyscale, else 3.

    Headers first (cheap): a bad, huge or mis-sized file is reported before any decoding, and the
    array is allocated once. Files are decoded on several threads (Pillow's decoders release the GIL).
    """
    headers = [image_header(folder / name) for name in names]
    colour = any(mode not in GREY_MODES for mode, _ in headers)
    if image_size is not None:
        size = (image_size, image_size)
    else:
        size = headers[0][1]
        for name, (_, other) in zip(names, headers):
            if other != size:
                raise ResourceError(f"{folder / name} is {other[0]}x{other[1]} pixels but {names[0]} is "
                                  f"{size[0]}x{size[1]}; give {{image_size}} N to resize every image to NxN")
    pixels = np.empty((len(names), size[1], size[0], 3 if colour else 1), dtype=np.uint8)

    def decode(i: int) -> None:
        pixels[i] = decode_image(folder / names[i], colour, size, resize=image_size is not None, crop=crop)

    bar = progress_bar(len(names), f"decoding {folder.name or folder}", progress and len(names) >= PROGRESS_FROM,
                       unit="image", lines=True)
    with ThreadPoolExecutor(max_workers=min(DECODE_THREADS, os.cpu_count() or 1)) as pool:
        for _ in pool.map(decode, range(len(names))):  # in order, so the first bad file is the one reported
            bar.update(1)
    bar.close()
    return pixels.transpose(0, 3, 1, 2)


def read_image(path: str | Path, shape: tuple[int, ...], crop: bool = True) -> Tensor:
    """One image file as a model's (C, H, W) input in [0, 1]: greyscale or RGB to match C, resized to H x W
    (with `crop`, its centre part of the same proportions; else stretched)."""
    path = Path(path)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise InputError(f"{path}: this model takes examples of shape {tuple(shape)}, not images")
    image_header(path)  # refuses unreadable files and bombs before decoding
    c, h, w = shape
    pixels = decode_image(path, colour=c == 3, size=(w, h), resize=True, crop=crop)  # (H, W, C)
    # torch.tensor makes a copy: decoded arrays are read-only
    return torch.tensor(pixels.transpose(2, 0, 1), dtype=torch.float32).div_(255.0)


# --- splits ----------------------------------------------------------------------------------------
def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def split_names(names: list[str], val_size: int) -> dict[str, list[int]]:
    """Indices into the sorted `names` of each split; see the module docstring for the rule."""
    test = [i for i, name in enumerate(names) if _crc(name) % 10 == 9]
    test_set = set(test)
    rest = [i for i in range(len(names)) if i not in test_set]
    n_val = min(val_size, len(rest) // 10)
    val = set(sorted(rest, key=lambda i: (_crc("val/" + names[i]), names[i]))[:n_val])
    return {"train": [i for i in rest if i not in val], "val": sorted(val), "test": test}


@datasets.register("folder")
def load_folder_splits(config: DataConfig) -> Splits:
    """Every image of a folder, held as its uint8 pixels (read as value / 255), split by file name."""
    folder = Path(config.path).expanduser()
    names, labels, classes = find_images(folder)
    parts = split_names(names, config.val_size)
    if not parts["train"]:
        raise ResourceError(f"{folder}: its {len(names)} image(s) all fall in the test split (one in ten file "
                          f"names do, by a hash of the name); add more images")
    pixels = read_images(folder, names, config.image_size, crop=config.resize == "crop", progress=True)
    images = [torch.from_numpy(np.ascontiguousarray(pixels[parts[s]])) for s in SPLITS]
    targets = [None if labels is None else torch.tensor([labels[i] for i in parts[s]], dtype=torch.int64)
               for s in SPLITS]
    return Splits(*images, *targets, name="folder", files={s: [names[i] for i in parts[s]] for s in SPLITS},
                  label_names=tuple(classes) if labels is not None else None, levels=255)


# --- attribute files -------------------------------------------------------------------------------
_SIGNS = frozenset({"1", "+1", "-1"})


def read_attribute_file(path: str | Path) -> tuple[list[str], list[str], Tensor]:
    """CelebA's list_attr_celeba.txt: (attribute names, file names, int8 values (N, A) of +1/-1).

    Format: an optional first line with the number of images, a line of attribute names, then one
    line per image: its file name and one +1/-1 per attribute, separated by whitespace.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ResourceError(f"{path}: cannot read the attribute file ({e})") from None
    lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    count = None
    if lines and len(lines[0][1]) == 1 and re.fullmatch(r"[0-9]+", lines[0][1][0]):
        count = int(lines[0][1][0])
        lines = lines[1:]
    if not lines:
        raise ResourceError(f"{path}: no attributes (expected a line of attribute names)")
    head_line, names = lines[0]
    if len(set(names)) != len(names):
        twice = next(a for a in names if names.count(a) > 1)
        raise ResourceError(f"{path}:{head_line}: attribute {twice!r} is named twice")
    body = lines[1:]
    for n, tokens in body:  # checked line by line for the error message, converted in one go below
        if len(tokens) != len(names) + 1:
            raise ResourceError(f"{path}:{n}: expected a file name and {len(names)} values, "
                                f"got {len(tokens) - 1} values")
        if not _SIGNS.issuperset(tokens[1:]):
            column = next(i for i, t in enumerate(tokens[1:]) if t not in _SIGNS)
            raise ResourceError(f"{path}:{n}: value {tokens[1 + column]!r} for {names[column]}; expected 1 or -1")
    files = [tokens[0] for _, tokens in body]
    if len(set(files)) != len(files):
        seen: dict[str, int] = {}
        for n, tokens in body:
            if tokens[0] in seen:
                raise ResourceError(f"{path}:{n}: {tokens[0]} is already listed on line {seen[tokens[0]]}")
            seen[tokens[0]] = n
    if count is not None and count != len(files):
        raise ResourceError(f"{path}:1: the count line says {count} images but the file lists {len(files)}; "
                          f"it may be truncated (fix or delete the count line)")
    negative = np.fromiter((t == "-1" for _, tokens in body for t in tokens[1:]), dtype=bool,
                           count=len(files) * len(names))
    values = torch.from_numpy(np.where(negative, -1, 1).astype(np.int8).reshape(len(files), len(names)))
    return names, files, values


def attribute_mask(names: list[str], files: list[str], values: Tensor, attribute: str,
                   split_files: list[str]) -> Tensor:
    """For each file of a split, True where `attribute` is +1 (False too for a file the table lacks).

    A split file matches an entry by its relative path, else by its base name: CelebA lists
    "000001.jpg" for what a folder holds as "img_align_celeba/000001.jpg".
    """
    if attribute not in names:
        raise InputError(f"unknown attribute {attribute!r}; the file has {len(names)}: "
                          f"{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}")
    column = values[:, names.index(attribute)] > 0
    exact = {name: i for i, name in enumerate(files)}
    base: dict[str, int] = {}
    for i, name in enumerate(files):
        base.setdefault(name.rpartition("/")[2], i)
    rows = [exact.get(f, base.get(f.rpartition("/")[2], -1)) for f in split_files]
    if split_files and all(r < 0 for r in rows):
        raise ResourceError(f"none of the split's {len(split_files)} files (e.g. {split_files[0]}) "
                          f"appear in the attribute file")
    found = torch.tensor([r >= 0 for r in rows], dtype=torch.bool)
    index = torch.tensor([max(r, 0) for r in rows], dtype=torch.int64)
    return column[index] & found if rows else torch.zeros(0, dtype=torch.bool)
