"""Image grids as PNG, through Pillow (no torchvision here)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InputError, ResourceError
from ..io import atomic_path


def grid_image(images, nrow: int | None = None, pad: int = 2, scale: int = 2) -> Image.Image:
    """(N, C, H, W) or (N, H, W) values in [0, 1] (a tensor or numpy array) -> one image, `nrow` per
    row, `scale` x upsampled."""
    x = torch.as_tensor(images).detach().float().cpu().clamp(0, 1)
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise InputError(f"cannot draw images of shape {tuple(images.shape)} as a grid (need 1 or 3 channels)")
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    canvas = np.ones((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32) * 0.5
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, top:top + h, left:left + w] = x[i].numpy()
    arr = (canvas * 255 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr[0] if c == 1 else arr.transpose(1, 2, 0))
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def as_images(x: torch.Tensor) -> torch.Tensor:
    """Images pass through; flat (tabular) examples cannot be drawn."""
    if x.dim() != 4:
        raise InputError(f"this run's examples have shape {tuple(x.shape[1:])}, which is not an image")
    return x


def save_grid(images, path: str | Path, nrow: int | None = None) -> Path:
    """Write a PNG grid atomically; the folder must exist."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ResourceError(f"output folder does not exist: {path.parent}")
    with atomic_path(path) as tmp:
        grid_image(images, nrow).save(tmp, format="PNG")
    return path


def save_pairs(originals: torch.Tensor, decoded: torch.Tensor, path: str | Path, per_row: int = 16) -> Path:
    """Each row of originals directly above a row of their decodings; a short last pair is padded with grey."""
    per_row = min(per_row, len(originals))
    rows = []
    for i in range(0, len(originals), per_row):
        top, bottom = originals[i:i + per_row], decoded[i:i + per_row]
        if len(top) < per_row:  # fill with background, or the grid would wrap the short rows together
            blank = (per_row - len(top), *top.shape[1:])
            top, bottom = torch.cat([top, top.new_full(blank, 0.5)]), torch.cat([bottom, bottom.new_full(blank, 0.5)])
        rows += [top, bottom]
    return save_grid(torch.cat(rows), path, nrow=per_row)


def save_labelled_rows(rows: torch.Tensor, labels: list[str], path: str | Path, header: str = "") -> Path:
    """(R, C, ...) images, one text label per row drawn to the left (and an optional header line above)."""
    from PIL import ImageDraw, ImageFont

    path = Path(path)
    if not path.parent.is_dir():
        raise ResourceError(f"output folder does not exist: {path.parent}")
    r, c = rows.shape[:2]
    grid = grid_image(rows.reshape(r * c, *rows.shape[2:]), nrow=c)
    font = ImageFont.load_default()
    text_width = max([int(font.getlength(t)) for t in labels] + [0]) + 12
    header_height = 18 if header else 0
    background = 255 if grid.mode == "L" else (255, 255, 255)
    canvas = Image.new(grid.mode, (grid.width + text_width, grid.height + header_height), color=background)
    canvas.paste(grid, (text_width, header_height))
    draw = ImageDraw.Draw(canvas)
    ink = 0 if grid.mode == "L" else (0, 0, 0)
    row_height = grid.height / r
    for i, text in enumerate(labels):
        draw.text((4, header_height + (i + 0.5) * row_height - 6), text, fill=ink, font=font)
    if header:
        draw.text((4, 3), header, fill=ink, font=font)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path
