"""The sections for what an application left in a run folder: an anomaly detector (its threshold, and
the ROC curve recomputed on test examples), a molecule model (generation metrics of a small sample,
molecules drawn with RDKit) and, for data with known factors, the disentanglement metrics per factor.
Each is cheap: a few hundred examples, never the whole data."""
from __future__ import annotations

import numpy as np

from ..apps.anomaly import detect, examples_to_score
from ..errors import VaelabError
from ..extras import module, require
from ..metrics.disentanglement import disentanglement_report
from ..viz.figures import pyplot
from .material import Material
from .page import figure, figure_png, image_png, note, table

ANOMALY_EXAMPLES = 1000
MOLECULE_SAMPLES, MOLECULE_RECONSTRUCTIONS, DRAWN_MOLECULES = 200, 100, 12
FACTOR_EXAMPLES = 1000


# --- anomaly --------------------------------------------------------------------------------------------------
def anomaly_section(m: Material) -> str | None:
    record = m.run.read_artifact("anomaly")
    if record is None:
        return None
    facts = [("score", record["score"]), ("threshold (nats)", record["threshold"]),
             ("normal classes", record.get("normal_classes") or "all data"),
             ("flags of normal validation examples", f"{record['fpr']:.1%}"),
             ("posterior samples per score", record["samples"]),
             ("validation examples behind the threshold", record.get("validation_examples"))]
    model = m.model()
    x, y = examples_to_score(m.run, m.spec)
    x, y = x[:ANOMALY_EXAMPLES], (y[:ANOMALY_EXAMPLES] if y is not None else None)
    r = detect(model, x, y, record["score"], record["samples"], record.get("iwae_k", 100))
    parts = [table(facts, caption="the detector (vaelab anomaly fit)")]
    if r["metrics"] is not None:
        facts = [("test examples scored", r["metrics"]["n"]), ("of them anomalies", r["metrics"]["anomalies"]),
                 ("AUROC", r["metrics"]["auroc"]), ("average precision", r["metrics"]["average_precision"])]
        parts.append(table(facts, caption="on the test split (every class)"))
    plots = [figure(_scores_png(r), f"{r['statistic']} scores of {len(x)} test examples and the threshold", True)]
    if r["metrics"] is not None:
        plots.append(figure(_roc_png(r), "ROC curve; the dot: the run's threshold", True))
    else:
        plots.append(note("The test examples carry no labels that tell anomalies from normal examples "
                          "(the run was fitted on all of its data), so there is no ROC curve."))
    return f'<div class="tables">{"".join(parts)}</div><div class="row">{"".join(plots)}</div>'


def _scores_png(r: dict) -> bytes:
    plt = pyplot()
    scores = r["scores"].numpy()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    bins = np.histogram_bin_edges(scores, 40)
    if r["is_anomaly"] is not None:
        kinds = r["is_anomaly"].numpy()
        ax.hist(scores[~kinds], bins, alpha=0.6, label="normal")
        ax.hist(scores[kinds], bins, alpha=0.6, label="anomalous")
        ax.legend(frameon=False, fontsize=9)
    else:
        ax.hist(scores, bins, alpha=0.7)
    ax.axvline(r["threshold"], color="black", linestyle="--", linewidth=1)
    ax.set_xlabel(f"{r['statistic']} score (nats; higher = more anomalous)")
    ax.set_ylabel("examples")
    fig.tight_layout()
    return figure_png(fig)


def _roc_png(r: dict) -> bytes:
    from sklearn.metrics import roc_curve

    plt = pyplot()
    truth, flagged = r["is_anomaly"].numpy(), r["flagged"].numpy()
    fpr, tpr, _ = roc_curve(truth.astype(int), r["scores"].numpy())
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.plot(fpr, tpr, linewidth=1.5, label=f"AUROC {r['metrics']['auroc']:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    ax.plot(flagged[~truth].mean(), flagged[truth].mean(), "o", color="black", label="the threshold")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    fig.tight_layout()
    return figure_png(fig)


# --- molecules ------------------------------------------------------------------------------------------------
def molecules_section(m: Material) -> str:
    from ..mol.evaluate import evaluate_molecules

    require("mol", "rdkit")
    model, splits = m.model(), m.splits()
    result = evaluate_molecules(model, splits, n=MOLECULE_SAMPLES, reconstruct=MOLECULE_RECONSTRUCTIONS, iwae_k=10)
    samples = result.pop("samples")
    rows = [(k, v) for k, v in result.items() if v is None or isinstance(v, (int, float, str))]
    parts = [table(rows, caption=f"{MOLECULE_SAMPLES} molecules sampled at temperature 1, "
                                 f"{result['reconstruction_n']} test molecules reconstructed (vaelab mol evaluate)")]
    return f'<div class="row">{"".join(parts)}{molecule_grid(samples)}</div>'


def molecule_grid(smiles: list[str], n: int = DRAWN_MOLECULES, per_row: int = 4) -> str:
    """The first n distinct valid molecules of `smiles`, drawn with RDKit."""
    from ..data.smiles import canonical, rdkit_mol

    draw = module("mol", "rdkit.Chem.Draw")
    valid = list(dict.fromkeys(c for c in (canonical(s) for s in smiles) if c))[:n]
    if not valid:
        return note(f"none of the {len(smiles)} sampled strings is a valid molecule")
    picture = draw.MolsToGridImage([rdkit_mol(s) for s in valid], molsPerRow=per_row, subImgSize=(190, 150),
                                   legends=[s if len(s) <= 28 else s[:26] + "..." for s in valid])
    return figure(image_png(picture), f"{len(valid)} distinct valid molecules of the sample, drawn with RDKit")


# --- disentanglement ------------------------------------------------------------------------------------------
def factors_section(m: Material) -> str | None:
    try:
        splits = m.splits()
    except VaelabError:  # the data sections already say why the data did not load
        return None
    if splits.factors is None:
        return None
    r = disentanglement_report(m.model(), splits, "test", n=FACTOR_EXAMPLES, seed=0)
    overall = [("MIG (binned posterior means)", r["mig"]), ("MIG (from q(z|x))", r["mig_posterior"]),
               ("FactorVAE score", r["factor_vae_score"]), ("DCI disentanglement", r["dci_disentanglement"]),
               ("DCI completeness", r["dci_completeness"]), ("DCI informativeness", r["dci_informativeness"])]
    mi = np.asarray(r["mutual_information"])  # (latent, factors)
    posterior = r["mig_posterior_per_factor"] or [None] * len(r["factors"])
    per_factor = [(name, r["mig_per_factor"][j], posterior[j], f"z{int(mi[:, j].argmax())}",
                   float(mi[:, j].max()), r["factor_entropy"][j]) for j, name in enumerate(r["factors"])]
    tables = [table(overall, caption=f"on {r['n']} test examples (vaelab disentangle -n {r['n']})"),
              table(per_factor, ["factor", "MIG", "MIG from q(z|x)", "most informative dimension", "its MI (nats)",
                                 "factor entropy (nats)"], caption="per factor")]
    return (f'<div class="tables">{"".join(tables)}</div>'
            + figure(_information_png(mi, r["factors"]), "mutual information (nats) between each dimension's "
                     "binned posterior mean and each factor", True))


def _information_png(mi: np.ndarray, factors: list[str]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(factors), 1.0 + 0.32 * len(mi)))
    shown = ax.imshow(mi, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(factors)), factors, rotation=30, fontsize=8)
    ax.set_yticks(range(len(mi)), [f"z{d}" for d in range(len(mi))], fontsize=8)
    fig.colorbar(shown, ax=ax, fraction=0.05)
    fig.tight_layout()
    return figure_png(fig)
