"""How good is a molecule VAE: MOSES-style generation metrics, reconstruction, and the ELBO's terms.

Generation: n molecules decoded from z ~ N(0, I) (tokens sampled at --temperature; 1 is the
model's own distribution, 0 greedy), scored by vaelab.mol.chem.generation_metrics: validity,
unique@1k and @10k, novelty against this run's training molecules, internal diversity; `evaluate_run`
adds the rest of the MOSES table (vaelab.mol.moses_table) under MOSES's key names.
Reconstruction: greedy decoding of the posterior mean of held-out molecules, same molecule or not.
Likelihood: the negative ELBO, KL, active units (and the IWAE bound) from vaelab.metrics.likelihood,
the same code that reports them for images.
"""
from __future__ import annotations

from ..data import Splits
from ..metrics.likelihood import evaluate
from ..model import seeded
from .chem import generation_metrics
from .model import MoleculeModel, reconstruction_accuracy


def evaluate_molecules(mvae: MoleculeModel, data: Splits, n: int = 10_000, temperature: float = 1.0,
                       reconstruct: int = 1000, iwae_k: int = 10, seed: int = 0,
                       held_out: list[str] | None = None, progress: bool = False,
                       training: set[str] | None = None) -> dict:
    """`held_out`: the molecules to reconstruct (default: the test split's first `reconstruct`); those
    the model cannot read (unknown token, too long) are left out and counted. `progress`: of sampling,
    reconstructing and the likelihood, each in turn. `training`: the molecules novelty is measured
    against (default: the training split's)."""
    g = seeded(seed)
    generated = mvae.sample(n, temperature=temperature, generator=g, progress=progress)
    result = generation_metrics(generated, set(data.texts["train"]) if training is None else training)
    held_out = data.texts["test"][:reconstruct] if held_out is None else held_out[:reconstruct]
    readable = [s for s in held_out if mvae.fits(s)]
    result["reconstruction_accuracy"] = reconstruction_accuracy(mvae, readable, progress=progress)
    result["reconstruction_n"] = len(readable)
    result["reconstruction_unreadable"] = len(held_out) - len(readable)
    terms = evaluate(mvae, data, "test", iwae_k=iwae_k, n=reconstruct, seed=seed, progress=progress)
    result.update({key: terms[key] for key in ("elbo", "recon", "kl", "nll_iwae", "iwae_k", "active_units",
                                               "latent_dim")})
    result.update({"temperature": temperature, "representation": mvae.representation,
                   "training_molecules": len(data.texts["train"]), "samples": generated})
    return result


def evaluate_run(mvae: MoleculeModel, n: int = 10_000, temperature: float = 1.0, reconstruct: int = 1000,
                 iwae_k: int = 10, seed: int = 0, held_out: str = "test", data: str | None = None,
                 progress: bool = False, samples: list[str] | None = None,
                 reference_size: int | None = None) -> dict:
    """`evaluate_molecules` on the run's own data (or `data`, a spec), with the whole MOSES table
    (vaelab.mol.moses_table; MOSES's key names) when the mol-metrics extra is installed. `held_out`:
    "test" reconstructs the test split; "scaffolds" MOSES's scaffold test set (unseen ring systems;
    MOSES runs only). `samples`: SMILES to score instead of the model's own (generation metrics only).
    `reference_size`: only the first molecules of each reference set (default all, as MOSES).
    A MOSES run's novelty is against the whole MOSES training set, as MOSES measures it."""
    from ..data.molecules import load_moses_file
    from ..errors import InputError
    from .moses_table import moses_training_set, with_moses_table

    sizes = (("n", n), ("reconstruct", reconstruct), ("iwae_k", iwae_k), ("reference_size", reference_size))
    for name, value in sizes:
        if value is not None and value < 1:
            raise InputError(f"must be at least 1, got {value}", name)
    if held_out not in ("test", "scaffolds"):
        raise InputError(f"held-out molecules are test or scaffolds, got {held_out!r}", "held_out")
    if mvae.run is None:
        raise InputError("evaluating needs the model's run folder (its data)")
    splits = mvae.run.data(data)  # checked against the run's vocabulary
    moses = splits.name == "moses"
    training = moses_training_set(progress) if moses else set(splits.texts["train"])
    if samples is not None:
        result = generation_metrics(samples, training)
        if result["validity"] == 0:
            raise InputError(f"none of the {len(samples)} SMILES of {{samples}} is a valid molecule", "samples")
        result.update(samples=list(samples), training_molecules=len(splits.texts["train"]),
                      novelty_against="MOSES training set" if moses else "training split")
        return with_moses_table(result, splits.texts["test"], moses, training, reference_size, progress)
    molecules = None
    if held_out == "scaffolds":
        if mvae.config.data.name != "moses":
            raise InputError("{held_out} scaffolds needs a run trained on {data} moses", "held_out")
        molecules = load_moses_file("test_scaffolds", reconstruct)
    result = evaluate_molecules(mvae, splits, n=n, temperature=temperature, reconstruct=reconstruct, iwae_k=iwae_k,
                                seed=seed, held_out=molecules, progress=progress, training=training)
    result.update(held_out=held_out, novelty_against="MOSES training set" if moses else "training split")
    return with_moses_table(result, splits.texts["test"], moses, training, reference_size, progress)
