"""`build_report`: one self-contained HTML page about a run folder -- what it is, its config, its
learning curves and saved evaluation, and what its model does (samples, reconstructions, the most
informative dimensions, the latent map) -- plus what an application left in it (an anomaly
detector, molecules, known factors). Sections that cannot be made say why; the page is still made."""
from __future__ import annotations

import shlex
from typing import Callable

from ..progress import progress_bar
from ..run import METRICS, Run
from ..version import __version__
from . import apps, images
from .curves import constant_beta, curves_png
from .facts import (EVALUATE_HINT, config_sections, evaluation, evaluation_missing, evaluation_rows, kind_of,
                    summary)
from .material import Material
from .page import document, figure, guarded, note, paragraph, table

Build = Callable[[Material], "str | None"]
HALF = {"run", "evaluation", "samples", "reconstructions", "traversal", "map"}  # two of them side by side


def build_report(run: Run, data: str | None = None, progress: bool = False) -> str:
    """The report of `run` as an HTML document (a string). `data`: a data spec to use instead of the
    run's own (as `--data` of the commands). `progress`: a bar over the sections (stderr)."""
    m = Material(run, data)
    parts = sections_of(run)
    made = []
    with progress_bar(len(parts), f"report {run.path.name}", progress, unit="section", lines=True) as bar:
        for key, title, build in parts:
            bar.set_postfix(now=key, refresh=False)
            section = guarded(key, title, lambda: build(m), half=key in HALF)
            if section is not None:
                made.append(section)
            bar.update()
    return document(f"vaelab report: {run.path.name}", f"{run.path}  -  made by vaelab {__version__}", made)


def sections_of(run: Run) -> list[tuple[str, str, Build]]:
    """(anchor, title, builder) of each section this kind of run gets, in page order."""
    parts: list[tuple[str, str, Build]] = [
        ("run", "Run", summary_section), ("evaluation", "Evaluation", evaluation_section),
        ("curves", "Learning curves", curves_section)]
    kind = kind_of(run)
    if kind == "images":
        parts += [("samples", "Prior samples", images.samples_section),
                  ("reconstructions", "Reconstructions", images.reconstructions_section),
                  ("traversal", "Traversal of the most informative dimensions", images.traversal_section)]
    if kind != "molecules":
        parts.append(("map", "Latent map", images.map_section))
    else:
        parts.append(("molecules", "Molecules", apps.molecules_section))
    parts += [("anomaly", "Anomaly detection", apps.anomaly_section),
              ("factors", "Disentanglement", apps.factors_section), ("config", "Config", config_section)]
    return parts


def summary_section(m: Material) -> str:
    return table(summary(m.run))


def config_section(m: Material) -> str:
    tables = [table(fields.items(), ["field", "value"], caption=section)
              for section, fields in config_sections(m.run).items()]
    return f'<div class="tables">{"".join(tables)}</div>'


def curves_section(m: Material) -> str:
    records = m.run.metrics()
    png = curves_png({m.run.path.name: records})
    if png is None:
        return note(f"No epoch has finished yet: {METRICS} holds no record.")
    beta = constant_beta(records)
    return figure(png, "per epoch: training (solid) and validation (dashed) averages of each term of the loss and "
                       "the active units on validation data; "
                       + (f"beta {beta:g} throughout" if beta is not None else "beta as it was scheduled"), plot=True)


def evaluation_section(m: Material) -> str:
    record = evaluation(m.run)
    if record is None:
        return paragraph(evaluation_missing(m.run), EVALUATE_HINT.format(run=shlex.quote(str(m.run.path))))
    return table(evaluation_rows(record), caption="the saved evaluation (vaelab evaluate --save)")
