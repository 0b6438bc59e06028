"""One self-contained HTML page: inline CSS, no script, every picture a PNG in a data: URI.

Every value that comes from a run (a config string, a label, a path, an error message) goes through
`esc`; the builders here escape what they are given, so a caller hands them plain text.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import VaelabError
from ..version import __version__

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; margin: 0;
       background: #f6f7f9; }
header { background: #23324d; color: #fff; padding: 18px 32px 12px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0 0 8px; color: #c9d3e6; }
nav a { color: #fff; margin-right: 14px; font-size: 14px; text-decoration: none; border-bottom: 1px dotted #9fb0d0; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 40px; display: flex; flex-wrap: wrap; gap: 16px;
       align-items: stretch; }
section { background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 6px 20px 16px;
          flex: 1 1 100%; box-sizing: border-box; min-width: 0; }
section.half { flex: 1 1 calc(50% - 8px); }
h2 { font-size: 18px; margin: 12px 0 8px; }
h3 { font-size: 15px; margin: 12px 0 6px; color: #3a4660; }
table { border-collapse: collapse; margin: 4px 0 10px; font-size: 13.5px; }
th, td { border-bottom: 1px solid #e5e8ee; padding: 3px 12px 3px 0; text-align: left; vertical-align: top; }
th { color: #56607a; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.diff td { background: #fff4c2; }
tr.diff td:first-child::before { content: "\\25B6  "; color: #b07d00; }
.tables { display: flex; flex-wrap: wrap; gap: 28px; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 6px 0 10px; }
figcaption { font-size: 13px; color: #56607a; margin-top: 4px; max-width: 640px; }
img { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #e5e8ee; }
img.plot { image-rendering: auto; }
p.note { color: #56607a; font-style: italic; }
code { background: #eef1f5; padding: 1px 4px; border-radius: 3px; font-size: 13px; }
details summary { cursor: pointer; color: #3a4660; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def shown(value: Any) -> str:
    """A config or metric value as a reader wants it: lists comma-separated, floats to 4 significant digits."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v) for v in value) if value else "(empty)"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


# --- pictures ----------------------------------------------------------------------------------------------
def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_png(image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def figure_png(fig, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    from ..viz.figures import pyplot

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
    return buffer.getvalue()


def drawn_png(write: Callable[[Path], Any]) -> bytes:
    """The PNG that `write(path)` writes (one of vaelab's savers: grids, scatters), read back from a
    temporary folder."""
    with tempfile.TemporaryDirectory(prefix="vaelab-report-") as folder:
        path = Path(folder) / "picture.png"
        write(path)
        return path.read_bytes()


SMALL = 360  # pixels: a picture narrower than this (a grid of 8x8 images) is shown enlarged, pixels kept sharp


def img(png: bytes, alt: str, plot: bool = False) -> str:
    width = int.from_bytes(png[16:20], "big")  # the PNG header's IHDR chunk: width, then height
    size = f' width="{width * min(4, SMALL // width)}"' if not plot and 0 < width < SMALL // 2 else ""
    return f'<img src="{png_uri(png)}" alt="{esc(alt)}"{size}' + (' class="plot"' if plot else "") + ">"


def figure(png: bytes, caption: str, plot: bool = False) -> str:
    return f"<figure>{img(png, caption, plot)}<figcaption>{esc(caption)}</figcaption></figure>"


# --- text --------------------------------------------------------------------------------------------------
def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def paragraph(text: str, code: str | None = None) -> str:
    """A line of text, optionally ending in a command shown as code."""
    return f"<p>{esc(text)}" + (f" <code>{esc(code)}</code>" if code else "") + "</p>"


def table(rows: Iterable[Iterable[Any]], header: Iterable[Any] | None = None, marked: Iterable[int] = (),
          caption: str | None = None) -> str:
    """An HTML table of plain values (escaped); rows whose index is in `marked` are highlighted."""
    marked = set(marked)
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header is not None else ""
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td class="num">{esc(shown(c))}</td>' if isinstance(c, (int, float))
                        and not isinstance(c, bool) else f"<td>{esc(shown(c))}</td>" for c in row)
        body.append(f'<tr class="diff">{cells}</tr>' if i in marked else f"<tr>{cells}</tr>")
    title = f"<h3>{esc(caption)}</h3>" if caption else ""
    return f"<div>{title}<table>{head}{''.join(body)}</table></div>"


# --- the page ----------------------------------------------------------------------------------------------
class Section:
    """A titled part of the page; `body` is HTML built with the helpers above."""

    def __init__(self, key: str, title: str, body: str, half: bool = False):
        self.key, self.title, self.body, self.half = key, title, body, half

    def html(self) -> str:
        half = ' class="half"' if self.half else ""
        return f'<section id="{esc(self.key)}"{half}><h2>{esc(self.title)}</h2>{self.body}</section>'


def guarded(key: str, title: str, build: Callable[[], str | None], half: bool = False) -> Section | None:
    """A section, or None where `build` finds nothing to show; one whose content could not be made
    (data that no longer loads, a missing package) says why instead of failing the whole page."""
    try:
        body = build()
    except VaelabError as e:
        body = note(f"not shown: {' '.join(str(e).split())}")
    return None if body is None else Section(key, title, body, half)


def document(title: str, subtitle: str, sections: list[Section]) -> str:
    links = "".join(f'<a href="#{esc(s.key)}">{esc(s.title)}</a>' for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f'<meta name="generator" content="vaelab {esc(__version__)}">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p><nav>{links}</nav></header>\n<main>\n"
        + "\n".join(s.html() for s in sections)
        + "\n</main>\n</body>\n</html>\n")
