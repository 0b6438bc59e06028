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

from ..data.datasets import Splits
from ..metrics.likelihood import evaluate
from .chem import generation_metrics
from .molvae import MoleculeVAE, reconstruction_accuracy


def evaluate_molecules(mvae: MoleculeVAE, data: Splits, n: int = 10_000, temperature: float = 1.0,
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
    terms = evaluate(mvae.model, mvae.model.run_config, data, "test", iwae_k=iwae_k, limit=reconstruct, seed=seed)
    result.update({key: terms[key] for key in ("elbo", "recon", "kl", "nll_iwae", "iwae_k", "active_units",
                                               "latent_dim")})
    result.update({"temperature": temperature, "representation": mvae.representation,
                   "training_molecules": len(data.texts["train"]), "samples": generated})
    return result
