"""A trained sequence VAE with its vocabulary: SMILES in, SMILES out.

The network is the ordinary vaelab VAE (GRU encoder and decoder, vaelab.nets.gru); this class only
translates between molecules and token ids, in batches, so every molecule command speaks SMILES.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..errors import InputError
from ..config import ModelConfig
from ..data.datasets import Splits
from ..train.run import VOCABULARY, load
from .chem import canonical
from .tokens import Vocabulary, detokenize, tokenize

DECODE_BATCH = 1000  # latents decoded per pass


def sequence_model_config(data: Splits, latent_dim: int, hidden: int, embed_dim: int = 64,
                          word_dropout: float = 0.0, free_bits: float = 0.0, beta: float = 1.0) -> ModelConfig:
    """The GRU VAE's config for molecule splits: their maximum length and vocabulary size, and the sizes given."""
    return ModelConfig(arch="gru", likelihood="categorical", shape=data.shape,
                       vocab_size=len(Vocabulary.from_json(data.vocabulary)), latent_dim=latent_dim,
                       hidden=(hidden,), embed_dim=embed_dim, word_dropout=word_dropout, free_bits=free_bits,
                       beta=beta)


class MoleculeVAE:
    def __init__(self, model, vocabulary: Vocabulary):
        if not model.config.sequence:
            raise InputError("this run is not a molecule model (train one with `vaelab mol train`)")
        self.model, self.vocabulary = model.eval(), vocabulary

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> "MoleculeVAE":
        model = load(run_dir, device=device)
        path = Path(run_dir) / VOCABULARY
        if not model.config.sequence:
            raise InputError(f"{run_dir} is not a molecule run (no sequence model); train one with `vaelab mol train`")
        if not path.is_file():
            raise InputError(f"{run_dir} has no {VOCABULARY}: without it the model's token ids mean nothing")
        return cls(model, Vocabulary.from_json(path.read_text()))

    @property
    def representation(self) -> str:
        return self.vocabulary.representation

    @property
    def max_len(self) -> int:
        return self.model.config.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    # --- molecules <-> token ids ---------------------------------------------------------------
    def tokens(self, smiles: str) -> list[str]:
        """The canonical molecule's tokens; a molecule RDKit cannot read or longer than the model's
        maximum is an error that names it (an unknown token is refused by the vocabulary)."""
        c = canonical(smiles)
        if c is None:
            raise InputError(f"not a valid molecule: {smiles!r}")
        tokens = tokenize(c, self.representation)
        if len(tokens) + 1 > self.max_len:
            raise InputError(f"{smiles!r} is {len(tokens)} tokens long; this model reads at most {self.max_len - 1}")
        return tokens

    def ids(self, smiles: list[str]) -> Tensor:
        """Token ids (N, max_len) of the molecules, each checked by `tokens`."""
        return self.vocabulary.encode([self.tokens(s) for s in smiles], self.max_len).to(self.model.device)

    def fits(self, smiles: str) -> bool:
        """Whether the model can read this molecule: valid, short enough, every token known."""
        try:
            self.vocabulary.encode([self.tokens(smiles)], self.max_len)
        except InputError:
            return False
        return True

    def smiles(self, ids: Tensor) -> list[str]:
        """Token ids -> SMILES as decoded (possibly not a valid molecule; '' when nothing decodes)."""
        return [detokenize(t, self.representation) for t in self.vocabulary.decode(ids.cpu())]

    # --- the model in molecule terms -----------------------------------------------------------
    @torch.no_grad()
    def encode(self, smiles: list[str]) -> tuple[Tensor, Tensor]:
        """(mu, logvar), each (N, L)."""
        qz = self.model.posterior(self.ids(smiles))
        return qz.mu, qz.logvar

    @torch.no_grad()
    def decode(self, z: Tensor, temperature: float = 0.0, generator: torch.Generator | None = None) -> list[str]:
        """Latents (N, L) -> SMILES; temperature 0 decodes greedily, > 0 samples each token."""
        if temperature < 0:
            raise InputError(f"temperature must be >= 0, got {temperature}")
        z = torch.as_tensor(z, dtype=torch.float32, device=self.model.device)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise InputError(f"expected latents of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        out: list[str] = []
        for i in range(0, len(z), DECODE_BATCH):
            ids = self.model.decoder.generate(z[i:i + DECODE_BATCH], temperature, generator)
            out += self.smiles(ids)
        return out

    def sample(self, n: int, temperature: float = 0.0, generator: torch.Generator | None = None) -> list[str]:
        """n molecules decoded from z ~ N(0, I)."""
        if n < 1:
            raise InputError(f"-n must be at least 1, got {n}")
        z = torch.randn(n, self.latent_dim, generator=generator)
        return self.decode(z, temperature, generator)

    def reconstruct(self, smiles: list[str]) -> list[str]:
        """Greedy decoding of each molecule's posterior mean."""
        mu, _ = self.encode(smiles)
        return self.decode(mu)


def reconstruction_accuracy(mvae: MoleculeVAE, smiles: list[str], batch_size: int = 500) -> float:
    """Share of molecules whose greedy decoding of the posterior mean is the same molecule (canonical
    SMILES compared), the usual reconstruction figure of molecular VAEs."""
    if not smiles:
        raise InputError("no molecules to reconstruct")
    hits = 0
    for i in range(0, len(smiles), batch_size):
        batch = smiles[i:i + batch_size]
        hits += sum(canonical(r) == canonical(s) for r, s in zip(mvae.reconstruct(batch), batch))
    return hits / len(smiles)
