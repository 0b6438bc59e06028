"""`Model`: a trained VAE as users call it, over the pure network of `vaelab.models`.

    model = vaelab.load("runs/demo")
    mu, logvar = model.encode(images)          # (B, L) each; numpy in, numpy out
    images = model.decode(mu)                  # the mean of p(x|z): pixel probabilities for Bernoulli
    grid = model.sample(16, temperature=0.8, generator=0)

It accepts tensors or numpy arrays of any shape that reshapes to (B, *shape), checks labels
against a conditional model's classes, and runs without gradients. The network itself is
`model.network` (what training, export and the metrics use).
"""
from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .config import RunConfig
from .errors import InputError, ResourceError, excerpt
from .progress import progress_bar

if TYPE_CHECKING:
    from .models import VAE
    from .run import Run


MAX_SAMPLES = 100_000  # draws in one call: past this, sample in a loop


MAX_SEED = 2**63 - 1  # what `vaelab train --seed` takes (torch stops at 2^64 - 1, numpy at 0)


def check_seed(seed: Any) -> int:
    """A user's seed as an int; one outside 0..2^63-1 (the seeds of `vaelab train`) is an InputError."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"a seed must be an integer in 0..2^63-1, got {excerpt(seed)}", "seed")
    return int(seed)


def seeded(seed: Any, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded with a user's seed (checked by `check_seed`)."""
    return torch.Generator(device=device).manual_seed(check_seed(seed))


def as_generator(generator: torch.Generator | int | None, device: str | torch.device = "cpu"):
    """A torch.Generator from a seed (or None, or a generator as it is)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    return seeded(generator, device)


MAX_WEIGHT = 1e15  # far beyond trained weights (< 1e3), far below a flipped exponent bit (> 1e19)


def check_weights(network: "VAE", run: "Run | None") -> None:
    """A NaN, infinite or absurdly large weight makes the outputs NaN (and crashes samplers): training never
    keeps one (a diverged run stops at its last good weights), so a run's weights file holding one is damaged."""
    for name, tensor in network.state_dict().items():
        if tensor.is_floating_point() and tensor.numel() and not float(tensor.abs().max()) <= MAX_WEIGHT:
            if run is None:
                raise InputError(f"the network's weights are not finite or absurdly large (> {MAX_WEIGHT:g}) in {name}")
            raise ResourceError(f"the weights file of {run.path} is damaged: NaN, infinite or absurdly large "
                                f"(> {MAX_WEIGHT:g}) values in {name}")


class TrainedModel:
    """What every trained model is, whatever it reads: its network, its config, its run folder (or None)."""

    def __init__(self, network: "VAE", config: RunConfig, run: "Run | None" = None):
        check_weights(network, run)
        self.network, self.config, self.run = network.eval(), config, run

    @property
    def latent_dim(self) -> int:
        return self.config.model.latent_dim

    @property
    def num_classes(self) -> int:
        return self.config.model.num_classes

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def stochastic(self) -> bool:
        """A VAE (a posterior with variance) rather than an autoencoder (a point code)."""
        return self.network.regularizer.stochastic

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: str | torch.device) -> "TrainedModel":
        self.network.to(device)
        return self


class Model(TrainedModel):
    """A trained VAE of images or table rows: arrays in, arrays out. (A molecule model's network is a
    Model too, for what works on any network -- evaluation, training; its inputs and outputs are
    SMILES, which `MoleculeModel` reads and writes.)"""

    def __repr__(self) -> str:
        c = self.config.model
        where = f", run={str(self.run.path)!r}" if self.run is not None else ""
        return f"Model({c.arch}, latent_dim={c.latent_dim}, shape={tuple(c.shape)}, likelihood={c.likelihood}{where})"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.config.model.shape)

    # --- inputs -----------------------------------------------------------------------------------------
    def _refuse_tokens(self) -> None:
        if self.config.model.reads_tokens:
            raise InputError("this is a molecule model: its inputs and outputs are SMILES, which vaelab.load(RUN) "
                             "reads and writes (a MoleculeModel); the commands are vaelab mol ...")

    def batch(self, x: Any) -> Tensor:
        """Examples as the network takes them: float32 (B, *shape) on the model's device."""
        self._refuse_tokens()
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        size = math.prod(self.shape)
        n = x.numel() // size
        if n == 0 or n * size != x.numel():
            raise InputError(f"expected examples of shape {self.shape}, got an array of shape {tuple(x.shape)}", "x")
        return x.reshape(n, *self.shape)

    def condition(self, y: Any, n: int | None = None) -> Tensor | None:
        """Labels (B,) (or one label for all n examples) -> the one-hot a conditional model takes; None otherwise."""
        if not self.conditional:
            if y is not None:
                raise InputError("this model is not conditional: it takes no label", "y")
            return None
        if y is None:
            raise InputError(f"this conditional model needs a label (0..{self.num_classes - 1}) per example", "y")
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if n is not None and len(y) == 1 and n > 1:
            y = y.expand(n)
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise InputError(f"labels must lie in 0..{self.num_classes - 1}, got {y.min().item()}..{y.max().item()}",
                             "y")
        return self.network.one_hot(y)

    # --- the model ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: Any, y: Any = None) -> tuple[Tensor, Tensor]:
        """x (B, *shape), or anything that reshapes to it -> (mu, logvar), each (B, latent_dim).
        An autoencoder's logvar is -inf (a point code).

        Example:
            >>> mu, logvar = model.encode(images)      # images: (16, 1, 28, 28) -> mu: (16, latent_dim)
        """
        xb = self.batch(x)
        qz = self.network.posterior(xb, self.condition(y, len(xb)))
        return _like(qz.mu, x), _like(qz.logvar, x)

    @torch.no_grad()
    def decode(self, z: Any, y: Any = None) -> Tensor:
        """z (B, latent_dim) -> the mean of p(x|z), (B, *shape); for Bernoulli pixels, their probabilities.

        Example:
            >>> images = model.decode(np.zeros((4, model.latent_dim)))   # (4, 1, 28, 28), a numpy array
        """
        self._refuse_tokens()
        zb = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        zb = zb[None] if zb.dim() == 1 else zb
        if zb.dim() != 2 or zb.shape[-1] != self.latent_dim:
            raise InputError(f"expected latents of shape (B, {self.latent_dim}), got {tuple(zb.shape)}", "z")
        return _like(self.network.px(zb, self.condition(y, len(zb))).mean, z)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | int | None = None,
               y: Any = None) -> Tensor:
        """Decode n draws z ~ N(0, temperature^2 I): (n, *shape). `generator` may be a seed; a conditional
        model needs labels y (or one for all).

        Example:
            >>> grid = model.sample(64, temperature=0.8, generator=0)   # (64, 1, 28, 28), a tensor
            >>> sevens = cvae.sample(16, y=7)                             # a conditional model: 16 sevens
        """
        if not 1 <= n <= MAX_SAMPLES:
            raise InputError(f"the number of samples must lie in 1..{MAX_SAMPLES}, got {n}", "n")
        if not (temperature > 0 and math.isfinite(temperature)):
            raise InputError(f"the temperature must be finite and > 0, got {temperature}", "temperature")
        generator = as_generator(generator)
        where = generator.device if generator is not None else self.device
        z = torch.randn((n, self.latent_dim), generator=generator, device=where) * temperature
        return self.decode(z.to(self.device), y)

    @torch.no_grad()
    def reconstruct(self, x: Any, y: Any = None) -> Tensor:
        """Decode the posterior mean of each example: (B, *shape).

        Example:
            >>> recon = model.reconstruct(images)     # images (8, 1, 28, 28) -> recon (8, 1, 28, 28)
        """
        mu, _ = self.encode(torch.as_tensor(x), y)
        return _like(self.decode(mu, y), x)

    @torch.no_grad()
    def encode_all(self, x: Any, y: Any = None, batch_size: int = 500, progress: bool = False,
                   desc: str = "encode") -> tuple[Tensor, Tensor]:
        """`encode` over many examples in batches: (mu, logvar), each (N, latent_dim), on the CPU (numpy
        arrays for a numpy x). Labels reach a conditional model only. `progress`: a bar on a terminal,
        a line now and then in a log.

        Example:
            >>> mu, logvar = model.encode_all(x_test)  # x_test (10000, 1, 28, 28) -> mu (10000, latent_dim)
        """
        given, x = x, torch.as_tensor(x)
        y = torch.as_tensor(y) if y is not None and self.conditional else None
        mus, logvars = [], []
        with progress_bar(len(x), desc, progress and len(x) > batch_size, unit="ex", lines=True) as bar:
            for i in range(0, len(x), batch_size):
                mu, logvar = self.encode(x[i:i + batch_size], y[i:i + batch_size] if y is not None else None)
                mus.append(mu.cpu())
                logvars.append(logvar.cpu())
                bar.update(len(mu))
        if not mus:
            mus, logvars = [torch.zeros(0, self.latent_dim)], [torch.zeros(0, self.latent_dim)]
        return _like(torch.cat(mus), given), _like(torch.cat(logvars), given)

    def encode_split(self, split: str = "test", data: str | None = None,
                     progress: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
        """(mu, logvar, labels) of every example of a split of the run's data (or of `data`, a spec).

        Example:
            >>> mu, logvar, labels = vaelab.load("runs/demo").encode_split("test")   # (10000, 32) each, (10000,)
        """
        if self.run is None:
            raise InputError("this model has no run folder, so no data of its own: encode arrays with encode_all")
        x, y = self.run.data(data).split(split)
        if self.conditional and y is None:
            raise InputError("this run is conditional and the data has no labels to condition on", "data")
        mu, logvar = self.encode_all(x, y, progress=progress, desc=f"encode {split}")
        return mu, logvar, y


def _like(t: Tensor, reference: Any) -> Any:
    """numpy in, numpy out: the result as the caller's input type."""
    return t.cpu().numpy() if isinstance(reference, np.ndarray) else t
