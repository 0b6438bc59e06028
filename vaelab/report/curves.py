"""Learning curves from `Run.metrics()`: one panel per term of the loss (training solid, validation
dashed), active units, and beta where it changes (a warm-up); several runs overlaid, one colour each."""
from __future__ import annotations

import math
from typing import Any

from ..viz.figures import pyplot
from .page import figure_png

TITLES = {"loss": "loss (nats per example)", "recon": "reconstruction term (nats)", "reg": "regulariser term (nats)",
          "active_units": "active units (validation)", "beta": "beta (weight of the regulariser)"}
FIRST = ("loss", "recon", "reg")
PER_ROW = 4


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def terms(runs: list[list[dict]]) -> list[str]:
    """The terms the runs' records hold: the loss's (train_X / val_X), then active units, and beta
    where it changed from epoch to epoch in some run."""
    records = [r for run in runs for r in run]
    found = {key.split("_", 1)[1] for r in records for key, v in r.items()
             if key.startswith(("train_", "val_")) and _number(v)}
    found.discard("active_units")
    ordered = [t for t in FIRST if t in found] + sorted(found - set(FIRST))
    extra = ["active_units"] if any(_number(r.get("val_active_units")) for r in records) else []
    if any(constant_beta(run) is None and any(_number(r.get("beta")) for r in run) for run in runs):
        extra.append("beta")
    return ordered + extra


def constant_beta(records: list[dict]) -> float | None:
    """beta when every epoch had the same one (then it gets no panel), else None."""
    betas = {r["beta"] for r in records if isinstance(r, dict) and _number(r.get("beta"))}
    return betas.pop() if len(betas) == 1 else None


def _key(term: str, split: str) -> str:
    return "beta" if term == "beta" else f"{split}_{term}"


def _series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    points = [(r["epoch"], r[key]) for r in records if _number(r.get("epoch")) and _number(r.get(key))]
    return [p[0] for p in points], [p[1] for p in points]


def curves_png(runs: dict[str, list[dict]]) -> bytes | None:
    """One figure, a panel per term, every run's curves in it; None when no run has finished an epoch."""
    runs = {name: [r for r in records if isinstance(r, dict)] for name, records in runs.items()}
    panels = terms(list(runs.values()))
    if not panels:
        return None
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    rows = math.ceil(len(panels) / PER_ROW)
    fig, axes = plt.subplots(rows, PER_ROW, figsize=(13, 3.0 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, term in zip(axes.flat, panels):
        for i, (name, records) in enumerate(runs.items()):
            _plot(ax, term, records, name if len(runs) > 1 else "", colours(i % 10))
        ax.set_title(TITLES.get(term, f"{term} term"), fontsize=11)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, frameon=False)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return figure_png(fig)


def _plot(ax, term: str, records: list[dict], name: str, colour) -> None:
    splits = [("val", "-")] if term in ("active_units", "beta") else [("train", "-"), ("val", "--")]
    for split, style in splits:
        epochs, values = _series(records, _key(term, split))
        if not epochs:
            continue
        if name:  # several runs: one legend entry per run, its first line (dashed is validation in every panel)
            label = name if split == splits[0][0] else None
        else:
            label = {"train": "training", "val": "validation"}[split] if len(splits) > 1 else None
        ax.plot(epochs, values, style, color=colour, marker="o", markersize=3, linewidth=1.4, label=label)
