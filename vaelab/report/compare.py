"""`build_comparison`: several runs side by side on one self-contained HTML page, the way one looks at
the seeds or the betas of a sweep: the config fields that differ (marked; the shared ones folded
away), the learning curves overlaid (one panel per term), the saved evaluations merged into one
table, and a row of prior samples drawn with the same seed."""
from __future__ import annotations

import json
import shlex
from typing import Any, Callable

from ..errors import InputError, VaelabError
from ..progress import progress_bar
from ..run import Run
from ..version import __version__
from .apps import molecule_grid
from .curves import curves_png
from .facts import EVALUATE_HINT, evaluation, evaluation_rows, flat_config, summary
from .images import prior_samples
from .material import Material
from .page import Section, document, esc, figure, guarded, note, paragraph, table

COMPARED_SAMPLES = 36
COMPARED_MOLECULES = 24
MISSING = "-"


def run_names(runs: list[Run]) -> list[str]:
    """Each run's folder name, or its whole path where two runs share a name."""
    names = [r.path.name for r in runs]
    return [str(r.path) if names.count(r.path.name) > 1 else r.path.name for r in runs]


def build_comparison(runs: list[Run], progress: bool = False) -> str:
    """The comparison page of two or more runs (a string of HTML)."""
    if len(runs) < 2:
        raise InputError(f"comparing needs at least two runs, got {len(runs)}")
    if len({r.path.resolve() for r in runs}) < len(runs):
        raise InputError("a run folder is given twice; give each run once")
    names = run_names(runs)
    parts: list[tuple[str, str, Callable[[], str | None]]] = [
        ("runs", "Runs", lambda: _runs_table(runs, names)),
        ("config", "Config differences", lambda: config_differences(runs, names)),
        ("curves", "Learning curves", lambda: _curves(runs, names)),
        ("evaluation", "Evaluation", lambda: _evaluations(runs, names)),
        ("samples", "Prior samples", lambda: _samples(runs, names, progress))]
    sections: list[Section] = [s for key, title, build in parts if (s := guarded(key, title, build)) is not None]
    return document(f"vaelab compare: {', '.join(names)}", f"{len(runs)} runs  -  made by vaelab {__version__}",
                    sections)


def _by_label(rows_per_run: list[list[tuple[str, Any]]]) -> list[tuple[str, list[Any]]]:
    """(label, one value per run) for every label any run has, in order of first appearance."""
    dicts = [dict(rows) for rows in rows_per_run]
    labels = list(dict.fromkeys(label for rows in rows_per_run for label, _ in rows))
    return [(label, [d.get(label, MISSING) for d in dicts]) for label in labels]


def _runs_table(runs: list[Run], names: list[str]) -> str:
    rows = _by_label([[(k, v) for k, v in summary(r) if k != "files"] for r in runs])
    return table([(label, *values) for label, values in rows], ["", *names])


def differing_fields(runs: list[Run]) -> tuple[list[str], list[str]]:
    """(fields whose value differs between the runs, fields the same in all), as "section.field"."""
    flats = [flat_config(r) for r in runs]
    fields = list(dict.fromkeys(k for f in flats for k in f))
    differ = [k for k in fields if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]
    return differ, [k for k in fields if k not in differ]


def config_differences(runs: list[Run], names: list[str]) -> str:
    differ, same = differing_fields(runs)
    flats = [flat_config(r) for r in runs]
    shared = table([(k, flats[0][k]) for k in same], ["field", "value (every run)"])
    folded = f"<details><summary>{len(same)} fields are the same in every run</summary>{shared}</details>"
    if not differ:
        return note("The runs' configs are identical (they differ only in what training made of them).") + folded
    rows = [(k, *[f.get(k, MISSING) for f in flats]) for k in differ]
    return (paragraph(f"{len(differ)} of {len(differ) + len(same)} config fields differ between the runs (marked):")
            + table(rows, ["field", *names], marked=range(len(rows))) + folded)


def _curves(runs: list[Run], names: list[str]) -> str:
    png = curves_png({name: r.metrics() for name, r in zip(names, runs)})
    if png is None:
        return note("No run has finished an epoch yet.")
    return figure(png, "per epoch, one colour per run: training (solid) and validation (dashed) averages of each "
                       "term of the loss, the active units on validation data, and beta where it changed", plot=True)


def _evaluations(runs: list[Run], names: list[str]) -> str:
    records = [evaluation(r) for r in runs]
    missing = [name for name, rec in zip(names, records) if rec is None]
    out = ""
    if len(missing) < len(runs):
        rows = _by_label([evaluation_rows(rec) if rec is not None else [] for rec in records])
        out += table([(label, *values) for label, values in rows], ["", *names],
                     caption="the saved evaluations (vaelab evaluate --save)")
    if missing:
        first = runs[names.index(missing[0])]
        out += paragraph(f"No saved evaluation for {', '.join(missing)}; for each, run:",
                         EVALUATE_HINT.format(run=shlex.quote(str(first.path))))
    return out


def _samples(runs: list[Run], names: list[str], progress: bool) -> str:
    cells = []
    with progress_bar(len(runs), "compare: samples", progress, unit="run", lines=True) as bar:
        for name, run in zip(names, runs):
            cells.append(f"<div>{_samples_of(run, name)}</div>")
            bar.update()
    return f'<div class="row">{"".join(cells)}</div>'


def _samples_of(run: Run, name: str) -> str:
    m = Material(run)
    try:
        if m.molecules:
            return f"<h3>{esc(name)}</h3>" + molecule_grid(m.model().sample(COMPARED_MOLECULES, 1.0, 0), 8, 2)
        if len(run.config.model.shape) != 3:
            return f"<h3>{esc(name)}</h3>" + note("table rows: no pictures to draw")
        png, caption = prior_samples(m, COMPARED_SAMPLES)
    except VaelabError as e:
        return f"<h3>{esc(name)}</h3>" + note(f"not shown: {' '.join(str(e).split())}")
    return f"<h3>{esc(name)}</h3>" + figure(png, caption)
