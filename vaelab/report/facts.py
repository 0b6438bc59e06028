"""What a run says about itself without a model: its config as readable tables, a summary of its
training, and its saved evaluation (`vaelab evaluate --save`) as labelled figures."""
from __future__ import annotations

import math
from typing import Any

from ..config import uses
from ..run import ARTIFACTS, Run

SECTIONS = ("data", "model", "train")

# the evaluation record's figures, in the order a reader wants them, with what each one is
EVALUATION_LABELS = {
    "split": "split", "n": "examples", "start": "first example", "binarization": "binarization",
    "elbo": "negative ELBO (nats)", "recon": "reconstruction term (nats)", "kl": "KL(q(z|x) || p(z)) (nats)",
    "nll_iwae": "-log p(x), IWAE bound (nats)", "nll_iwae_sem": "  its standard error", "iwae_k": "IWAE samples K",
    "bits_per_dim": "bits per dimension", "active_units": "active units", "latent_dim": "latent dimensions",
    "conditional": "conditional", "seconds": "seconds",
}
EVALUATE_HINT = "vaelab evaluate {run} --save"


def config_sections(run: Run) -> dict[str, dict[str, Any]]:
    """{"data": {field: value}, "model": ..., "train": ...} as config.json holds them."""
    d = run.config.to_dict()
    return {section: dict(d.get(section, {})) for section in SECTIONS}


def flat_config(run: Run) -> dict[str, Any]:
    """"section.field" -> value, for comparing runs field by field."""
    return {f"{section}.{name}": value for section, fields in config_sections(run).items()
            for name, value in fields.items()}


def kind_of(run: Run) -> str:
    if run.config.model.reads_tokens:
        return "molecules"
    return "images" if len(run.config.model.shape) == 3 else "table rows"


def summary(run: Run) -> list[tuple[str, Any]]:
    """A few lines that say what the run is and how far it trained."""
    c = run.config
    records = [r for r in run.metrics() if isinstance(r, dict)]
    best = [r for r in records if isinstance(r.get("val_loss"), (int, float))]
    best_record = min(best, key=lambda r: r["val_loss"]) if best else None
    rows: list[tuple[str, Any]] = [
        ("run folder", str(run.path)), ("data", f"{c.data.spec} ({kind_of(run)}, shape {tuple(c.model.shape)})"),
        ("model", f"{c.model.arch}, {c.model.latent_dim} latent dimensions, {c.model.likelihood} likelihood, "
                  + (f"{c.model.regularizer} regulariser" + _weight(c.model) if c.model.regularizer != "none"
                     else "no regulariser (an autoencoder)")),
        ("epochs trained", f"{len(records)} of {c.train.epochs}"),
    ]
    if best_record is not None:
        rows.append(("best validation loss", f"{best_record['val_loss']:.3f} nats (epoch {best_record.get('epoch')}; "
                                             "the weights kept)"))
    rows.append(("files", ", ".join(run.files()) or "none"))
    return rows


def _weight(model) -> str:
    """The regulariser's weight, where it has one (beta for kl and tc, lambda for l2)."""
    for name, shown in (("beta", "beta"), ("lam", "lambda")):
        if uses(model.regularizer, name):
            return f" ({shown} {getattr(model, name):g})"
    return ""


def evaluation(run: Run) -> dict[str, Any] | None:
    """The saved evaluation record (a JSON object), or None."""
    record = run.read_artifact("evaluation")
    return record if isinstance(record, dict) else None


def evaluation_rows(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) for each scalar of an evaluation record, known figures first."""
    scalar = {k: v for k, v in record.items() if k != "run" and (v is None or isinstance(v, (str, int, float)))}
    if scalar.get("start") == 0:  # the whole split: nothing to say
        del scalar["start"]
    known = [(EVALUATION_LABELS[k], scalar[k]) for k in EVALUATION_LABELS if k in scalar]
    rest = [(k, scalar[k]) for k in scalar if k not in EVALUATION_LABELS]
    return [(label, _rounded(value)) for label, value in known + rest]


def _rounded(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.5g}")
    return value


def evaluation_missing(run: Run) -> str:
    return (f"No saved evaluation ({ARTIFACTS['evaluation']} is written by `vaelab evaluate --save`); "
            "to add it, run:")
