"""`MoleculeModel`: a trained molecule VAE as users call it, SMILES in and SMILES out.

    model = vaelab.load("runs/mol")                      # a run trained on --data moses or FILE.smi
    mu, logvar = model.encode(["CCO", "c1ccccc1"])        # (2, latent_dim) each
    molecules = model.sample(100, temperature=1.0)       # SMILES strings

The network is the ordinary vaelab VAE (GRU encoder and decoder, vaelab.nets.gru); this class
translates between molecules and token ids, in batches, as `vaelab.Model` does for images.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..config import RunConfig
from ..errors import InputError, ResourceError, excerpt
from ..latent.paths import MAX_STEPS
from ..model import MAX_SAMPLES, TrainedModel, as_generator
from ..progress import progress_bar
from ..data.smiles import canonical
from ..data.tokens import Vocabulary, detokenize, tokenize

if TYPE_CHECKING:
    from ..run import Run

DECODE_BATCH = 1000  # latents decoded per pass


class MoleculeModel(TrainedModel):
    """A trained VAE of molecules: SMILES in, SMILES out."""

    def __init__(self, network, config: RunConfig, vocabulary: Vocabulary, run: "Run | None" = None):
        if not config.model.reads_tokens:
            raise InputError("this is not a molecule model (train one on {data} moses or a SMILES file)")
        super().__init__(network, config, run)
        self.vocabulary = vocabulary

    @classmethod
    def from_run(cls, run: "Run", device: str | torch.device = "cpu") -> "MoleculeModel":
        if not run.config.model.reads_tokens:
            raise InputError(f"{run.path} is not a molecule run (no sequence model); train one on "
                             "{data} moses or a SMILES file")
        path = run.artifact("vocabulary")
        if not path.is_file():
            raise ResourceError(f"{run.path} has no {path.name}: without it the model's token ids mean nothing")
        try:
            vocabulary = Vocabulary.from_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, InputError) as e:
            raise ResourceError(f"{path} is not a usable vocabulary: {e}") from None
        if len(vocabulary) != run.config.model.vocab_size:  # ids past the model's embedding, or never decoded
            raise ResourceError(f"{path} is not a usable vocabulary: it has {len(vocabulary)} tokens, the model "
                                f"reads {run.config.model.vocab_size}")
        return cls(run.network(device), run.config, vocabulary, run)

    def __repr__(self) -> str:
        return (f"MoleculeModel({self.representation}, latent_dim={self.latent_dim}, max_len={self.max_len}, "
                f"tokens={len(self.vocabulary)})")

    @property
    def representation(self) -> str:
        return self.vocabulary.representation

    @property
    def max_len(self) -> int:
        return self.config.model.shape[0]

    # --- molecules <-> token ids ---------------------------------------------------------------
    def tokens(self, smiles: str) -> list[str]:
        """The canonical molecule's tokens; a molecule RDKit cannot read or longer than the model's
        maximum is an error that names it (an unknown token is refused by the vocabulary)."""
        c = canonical(smiles)
        if c is None:
            raise InputError(f"not a valid molecule: {excerpt(smiles)}")
        tokens = tokenize(c, self.representation)
        if len(tokens) + 1 > self.max_len:
            raise InputError(f"{excerpt(smiles)} is {len(tokens)} tokens long; this model reads at most "
                             f"{self.max_len - 1}")
        return tokens

    def ids(self, smiles: list[str]) -> Tensor:
        """Token ids (N, max_len) of the molecules, each checked by `tokens`."""
        return self.vocabulary.encode([self.tokens(s) for s in smiles], self.max_len).to(self.device)

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
        qz = self.network.posterior(self.ids(smiles))
        return qz.mu, qz.logvar

    @torch.no_grad()
    def encode_all(self, smiles: list[str], batch_size: int = 1000) -> tuple[Tensor, Tensor]:
        """`encode` over many molecules in batches: (mu, logvar), each (N, latent_dim)."""
        parts = [self.encode(smiles[i:i + batch_size]) for i in range(0, len(smiles), batch_size)]
        return torch.cat([mu for mu, _ in parts]), torch.cat([logvar for _, logvar in parts])

    @torch.no_grad()
    def decode(self, z: Tensor, temperature: float = 0.0, generator: torch.Generator | None = None,
               progress: bool = False) -> list[str]:
        """Latents (N, L) -> SMILES; temperature 0 decodes greedily, > 0 samples each token. `progress`:
        count the molecules decoded (a bar, or a line now and then in a log)."""
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise InputError(f"must be finite and >= 0, got {temperature}", "temperature")
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise InputError(f"expected latents of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        out: list[str] = []
        with progress_bar(len(z), "decode molecules", progress, unit="mol", lines=True) as bar:
            for i in range(0, len(z), DECODE_BATCH):
                ids = self.network.decoder.generate(z[i:i + DECODE_BATCH], temperature, generator)
                out += self.smiles(ids)
                bar.update(len(ids))
        return out

    def sample(self, n: int, temperature: float = 0.0, generator: torch.Generator | int | None = None,
               progress: bool = False) -> list[str]:
        """n molecules decoded from z ~ N(0, I); `temperature` samples each token (0: greedy)."""
        if not 1 <= n <= MAX_SAMPLES:
            raise InputError(f"the number of molecules must lie in 1..{MAX_SAMPLES}, got {n}", "n")
        generator = as_generator(generator)
        z = torch.randn(n, self.latent_dim, generator=generator)
        return self.decode(z, temperature, generator, progress)

    def interpolate(self, start: str, end: str, steps: int = 8) -> list[tuple[float, str]]:
        """Greedy decodings of `steps` points on the straight line between two molecules' posterior
        means, both ends included: (share of the way, SMILES as decoded) each."""
        if not 2 <= steps <= MAX_STEPS:
            raise InputError(f"an interpolation takes 2..{MAX_STEPS} steps (both ends included), got {steps}", "steps")
        mu, _ = self.encode([start, end])
        t = torch.linspace(0, 1, steps)[:, None]
        return list(zip(t[:, 0].tolist(), self.decode((1 - t) * mu[0] + t * mu[1])))

    def reconstruct(self, smiles: list[str]) -> list[str]:
        """Greedy decoding of each molecule's posterior mean."""
        mu, _ = self.encode(smiles)
        return self.decode(mu)


def reconstruction_accuracy(mvae: MoleculeModel, smiles: list[str], batch_size: int = 500,
                            progress: bool = False) -> float:
    """Share of molecules whose greedy decoding of the posterior mean is the same molecule (canonical
    SMILES compared), the usual reconstruction figure of molecular VAEs."""
    if not smiles:
        raise InputError("no molecules to reconstruct")
    hits = 0
    with progress_bar(len(smiles), "reconstruct molecules", progress, unit="mol", lines=True) as bar:
        for i in range(0, len(smiles), batch_size):
            batch = smiles[i:i + batch_size]
            hits += sum(canonical(r) == canonical(s) for r, s in zip(mvae.reconstruct(batch), batch))
            bar.update(len(batch))
    return hits / len(smiles)
