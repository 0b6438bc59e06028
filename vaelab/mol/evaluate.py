"""How good is a molecule VAE: MOSES-style generation metrics, reconstruction, and the ELBO's terms.

Generation: n molecules decoded from z ~ N(0, I) (tokens sampled at --temperature; 1 is the
model's own distribution, 0 greedy), scored by vaelab.mol.chem.generation_metrics: validity,
unique@1k and @10k, novelty against this run's training molecules, internal diversity.
Reconstruction: greedy decoding of the posterior mean of held-out molecules, same molecule or not.
Likelihood: the negative ELBO, KL, active units (and the IWAE bound) from vaelab.metrics.likelihood,
the same code that reports them for images.
"""
from __future__ import annotations

import torch

from ..data import Splits
from ..metrics.likelihood import evaluate
from .chem import generation_metrics
from .model import MoleculeModel, reconstruction_accuracy


def evaluate_molecules(mvae: MoleculeModel, data: Splits, n: int = 10_000, temperature: float = 1.0,
                       reconstruct: int = 1000, iwae_k: int = 10, seed: int = 0,
                       held_out: list[str] | None = None) -> dict:
    """`held_out`: the molecules to reconstruct (default: the test split's first `reconstruct`); those
    the model cannot read (unknown token, too long) are left out and counted."""
    g = torch.Generator().manual_seed(seed)
    generated = mvae.sample(n, temperature=temperature, generator=g)
    result = generation_metrics(generated, set(data.texts["train"]))
    held_out = data.texts["test"][:reconstruct] if held_out is None else held_out[:reconstruct]
    readable = [s for s in held_out if mvae.fits(s)]
    result["reconstruction_accuracy"] = reconstruction_accuracy(mvae, readable)
    result["reconstruction_n"] = len(readable)
    result["reconstruction_unreadable"] = len(held_out) - len(readable)
    terms = evaluate(mvae, data, "test", iwae_k=iwae_k, n=reconstruct, seed=seed)
    result.update({key: terms[key] for key in ("elbo", "recon", "kl", "nll_iwae", "iwae_k", "active_units",
                                               "latent_dim")})
    result.update({"temperature": temperature, "representation": mvae.representation,
                   "training_molecules": len(data.texts["train"]), "samples": generated})
    return result


def evaluate_run(mvae: MoleculeModel, n: int = 10_000, temperature: float = 1.0, reconstruct: int = 1000,
                 iwae_k: int = 10, seed: int = 0, held_out: str = "test", data: str | None = None) -> dict:
    """`evaluate_molecules` on the run's own data (or `data`, a spec). `held_out`: "test" reconstructs the
    test split; "scaffolds" MOSES's scaffold test set (unseen ring systems; MOSES runs only)."""
    from ..data.molecules import load_moses_file
    from ..errors import InputError

    for name, value in (("n", n), ("reconstruct", reconstruct), ("iwae_k", iwae_k)):
        if value < 1:
            raise InputError(f"must be at least 1, got {value}", name)
    if held_out not in ("test", "scaffolds"):
        raise InputError(f"held-out molecules are test or scaffolds, got {held_out!r}", "held_out")
    if mvae.run is None:
        raise InputError("evaluating needs the model's run folder (its data)")
    splits = mvae.run.data(data)  # checked against the run's vocabulary
    molecules = None
    if held_out == "scaffolds":
        if mvae.config.data.name != "moses":
            raise InputError("{held_out} scaffolds needs a run trained on {data} moses", "held_out")
        molecules = load_moses_file("test_scaffolds", reconstruct)
    result = evaluate_molecules(mvae, splits, n=n, temperature=temperature, reconstruct=reconstruct, iwae_k=iwae_k,
                                seed=seed, held_out=molecules)
    result["held_out"] = held_out
    return result
