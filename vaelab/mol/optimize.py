"""Property-guided search in the latent space (Gomez-Bombarelli et al. 2018), against prior sampling.

1. A property head, a small MLP on the posterior mean mu, is fitted after the VAE to a property
   RDKit computes (QED or Crippen logP) for training molecules; its held-out R^2 says how much the
   latent space knows about the property. It is saved in the run folder (safetensors + JSON) and
   reused.
2. From seed molecules (training molecules drawn at random), gradient ascent on z raises the head's
   prediction; every few steps z is decoded greedily, and each decoding is a candidate.
3. The baseline gets the same number of decoder calls, each on a fresh z ~ N(0, I).
Both are scored on what matters: the TRUE RDKit property of valid molecules that are new (not in
the training set) and distinct; the predicted property is never reported as a result.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import InputError, ResourceError
from ..io import atomic_path, load_weights, read_json, save_weights, write_json
from ..progress import progress_bar
from ..model import seeded
from .chem import PROPERTIES, canonical, property_values
from .model import MoleculeModel

HEAD_STEPS = 500  # full-batch Adam steps: a few thousand examples, a 2-layer MLP
HEAD_HOLDOUT = 0.1


class PropertyHead(nn.Module):
    """mu (N, L) -> the standardised property (N,)."""

    def __init__(self, latent_dim: int, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)[:, 0]


def _check_property(name: str) -> None:
    if name not in PROPERTIES:
        raise InputError(f"unknown property {name!r}; choose one of: {', '.join(sorted(PROPERTIES))}")


def fit_property_head(mvae: MoleculeModel, smiles: list[str], name: str, seed: int = 0) -> tuple[PropertyHead, dict]:
    """Fit the head on 90% of `smiles`; report R^2 on the other 10%. Returns (head, info)."""
    from sklearn.metrics import r2_score

    _check_property(name)
    values = property_values(smiles, name)
    keep = np.isfinite(values)
    smiles, values = [s for s, k in zip(smiles, keep) if k], values[keep]
    if len(smiles) < 20:
        raise InputError(f"the property head needs at least 20 molecules, got {len(smiles)}")
    mu = mvae.encode_all(smiles)[0].cpu()
    y = torch.tensor(values, dtype=torch.float32)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = max(2, int(len(y) * HEAD_HOLDOUT))
    test, train = order[:n_test], order[n_test:]
    mean, std = float(y[train].mean()), float(y[train].std().clamp(min=1e-6))
    torch.manual_seed(seed)
    head = PropertyHead(mvae.latent_dim)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3, weight_decay=1e-4)
    target = (y[train] - mean) / std
    for _ in range(HEAD_STEPS):
        optimizer.zero_grad()
        loss = ((head(mu[train]) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = head(mu[test]) * std + mean
    info = {"property": name, "mean": mean, "std": std, "molecules": len(y),
            "r2_held_out": float(r2_score(y[test].numpy(), predicted.numpy()))}
    return head.eval(), info


def _finite(value) -> bool:
    return type(value) is float and math.isfinite(value) or type(value) is int and abs(value) <= 2**53


def property_head(mvae: MoleculeModel, smiles: list[str], name: str, seed: int = 0) -> tuple[PropertyHead, dict]:
    """The run's saved head for this property and molecule count, or a newly fitted one (then saved in the run)."""
    run = mvae.run
    if run is not None:
        weights, meta = run.property_head(name)
        if weights.is_file() and meta.is_file():
            info = read_json(meta, "property head file")
            if isinstance(info, dict) and info.get("requested") == len(smiles) and info.get("seed") == seed:
                if not (_finite(info.get("mean")) and _finite(info.get("std")) and info["std"] > 0):
                    raise ResourceError(f"{meta} is not a usable property head file: expected a finite mean and a "
                                        "std > 0 of the property")
                head = PropertyHead(mvae.latent_dim)
                load_weights(head, weights)
                return head.eval(), info
    head, info = fit_property_head(mvae, smiles, name, seed)
    info.update(requested=len(smiles), seed=seed)
    if run is not None:
        save_weights(head, weights)
        write_json(meta, info)
    return head, info


def latent_ascent(mvae: MoleculeModel, head: PropertyHead, seeds: list[str], steps: int, decode_every: int,
                  lr: float, progress: bool = False) -> list[dict]:
    """Gradient ascent on the head's prediction from each seed's mu; a candidate per decoding.
    `progress`: count the steps (a bar, or a line now and then in a log)."""
    z = mvae.encode_all(seeds)[0].detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    candidates = []
    with progress_bar(steps, "latent ascent", progress, unit="step", lines=True) as bar:
        for step in range(1, steps + 1):
            optimizer.zero_grad()
            (-head(z).sum()).backward()
            optimizer.step()
            if step % decode_every == 0:
                with torch.no_grad():
                    predicted = head(z).tolist()
                for i, smiles in enumerate(mvae.decode(z.detach())):
                    candidates.append({"smiles": smiles, "seed": seeds[i], "step": step, "predicted": predicted[i]})
            bar.update()
    return candidates


def summarise(smiles: list[str], training: set[str], name: str) -> tuple[dict, list[tuple[str, float, int]]]:
    """Shares of valid, unique (of valid) and novel (of unique) outputs, and the true property of the
    valid, unique, novel ones: best, top-10 mean, median. Also those molecules, best first."""
    canon = [canonical(s) for s in smiles]
    valid = [c for c in canon if c is not None]
    first_index: dict[str, int] = {}
    for i, c in enumerate(canon):
        if c is not None:
            first_index.setdefault(c, i)
    novel = [c for c in first_index if c not in training]
    values = property_values(novel, name) if novel else np.zeros(0)
    ranked = sorted(zip(novel, values.tolist(), (first_index[c] for c in novel)), key=lambda r: -r[1])
    top = [v for _, v, _ in ranked]
    stats = {
        "outputs": len(smiles),
        "valid": len(valid) / len(smiles) if smiles else 0.0,
        "unique": len(first_index) / len(valid) if valid else 0.0,
        "novel": len(novel) / len(first_index) if first_index else 0.0,
        "best": top[0] if top else None,
        "top10_mean": float(np.mean(top[:10])) if top else None,
        "median": float(np.median(top)) if top else None,
    }
    return stats, ranked


MAX_STEPS = 10_000  # gradient steps per seed: two hundred times the default


def optimize_property(mvae: MoleculeModel, training: list[str], name: str, seeds: int = 20, steps: int = 50,
                      decode_every: int = 5, lr: float = 0.05, head_molecules: int = 10_000, seed: int = 0,
                      progress: bool = False) -> dict:
    """Latent ascent on property `name` from `seeds` training molecules against as many prior samples;
    with a run folder, the property head is saved there and reused. `progress`: of the ascent's steps
    and the prior samples' decoding."""
    _check_property(name)
    for label, value in (("seeds", seeds), ("steps", steps), ("decode_every", decode_every),
                         ("head_molecules", head_molecules)):
        if value < 1:
            raise InputError(f"must be at least 1, got {value}", label)
    if steps > MAX_STEPS:
        raise InputError(f"must be at most {MAX_STEPS:,}, got {steps}", "steps")
    if decode_every > steps:
        raise InputError(f"decoding every {decode_every} steps of {steps} would decode nothing", "decode_every")
    if not (lr > 0 and math.isfinite(lr)):
        raise InputError(f"the step size must be > 0, got {lr}", "lr")
    g = seeded(seed)
    pool = [training[i] for i in torch.randperm(len(training), generator=g).tolist()]
    head, head_info = property_head(mvae, pool[:head_molecules], name, seed)
    seed_smiles = pool[:seeds]
    for p in head.parameters():
        p.requires_grad_(False)
    candidates = latent_ascent(mvae, head, seed_smiles, steps, decode_every, lr, progress)
    calls = len(candidates)
    prior = mvae.decode(torch.randn(calls, mvae.latent_dim, generator=g), progress=progress)
    training_set = set(training)
    ascent_stats, ranked = summarise([c["smiles"] for c in candidates], training_set, name)
    prior_stats, _ = summarise(prior, training_set, name)
    seed_values = property_values(seed_smiles, name)
    found = [{"smiles": s, name: v, "seed": candidates[i]["seed"], "step": candidates[i]["step"],
              "predicted": candidates[i]["predicted"] * head_info["std"] + head_info["mean"]}
             for s, v, i in ranked]
    return {"property": name, "head": head_info, "seeds": seeds, "steps": steps, "decoder_calls": calls,
            "seed_property_mean": float(np.nanmean(seed_values)), "latent_ascent": ascent_stats,
            "prior_samples": prior_stats, "found": found}


def write_found(result: dict, path: str | Path) -> Path:
    path = Path(path)
    name = result["property"]
    rows = result["found"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["smiles", name, "predicted", "seed", "step"])
        for r in rows:
            w.writerow([r["smiles"], f"{r[name]:.4f}", f"{r['predicted']:.4f}", r["seed"], r["step"]])
    return path
