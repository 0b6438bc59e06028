"""Bits-back coding with ANS (Townsend et al. 2019, BB-ANS), on constriction's stack coder.

For each image x, compressing:
  1. decode z from the stack with the encoder's q(z|x): this *takes* bits (those already there);
  2. encode x with the decoder's p(x|z);
  3. encode z with the prior p(z).
The net cost is -log p(x|z) - log p(z) + log q(z|x): the negative ELBO, in bits. Decompressing runs
the steps backwards: z from the prior, x from p(x|z), then q(z|x) encodes z again, which gives
back exactly the bits step 1 took, so the stack ends as it began.

The latent is coded on a grid of step `LATENT_STEP` within +-LATENT_RANGE steps (prior standard
deviations: +-12): fine enough that the grid costs little (the benchmark measures it), and the
prior and posterior are Gaussians quantized onto the same grid.

Step 1 can only take bits that are there (an exhausted stack still decodes, losslessly, but the
borrowed bits are then not random and the rate suffers). The first image has none to take, so
the stack starts with a few known seed words (32 bits per latent dimension, at least 256 bits);
they come back at the end of decompressing, which checks that they are intact (so is every bit
between). After that, each batch is as large as the stack can lend to (at most BATCH images):
compressing estimates what each image's step 1 takes (the entropy of its quantized posterior)
and takes the longest run of images whose takes fit in an eighth of the bits already there
(TAKE_MARGIN says why). Each image leaves the stack larger than it found it, so the batches
grow. Their sizes go into the file, because both directions must use the same batches: a
network's floating point result may depend on the batch it is computed in.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ResourceError
from ..extras import module
from .pixels import pixel_code

LATENT_STEP = 1 / 256  # in prior standard deviations
LATENT_RANGE = 12 * 256  # grid points each side of 0
BATCH = 256  # images per network call, at most
# A batch takes at most an eighth of the bits on the stack. Posterior samples decoded from deep in a thin
# stack are worse than q(z|x)'s, which costs rate. Measured on the tutorial's model, over its -ELBO:
# batches taking up to all of the stack +7%, up to half +13%, up to an eighth +1% (a sixteenth: no better).
TAKE_MARGIN = 8.0


def check_plan(batches: object, count: int) -> list[int]:
    """The batch sizes a file names, if they are sizes of batches covering `count` images."""
    if not (isinstance(batches, list) and all(isinstance(b, int) and 1 <= b <= BATCH for b in batches)
            and sum(batches) == count):
        raise ResourceError("the compressed data is damaged (its batch sizes do not add up to its image count)")
    return batches


def seed_words(latent_dim: int) -> np.ndarray:
    """The known words the stack starts with: enough for the first image's posterior to take from
    (at most about 14 bits per latent dimension at this grid; 32 are there)."""
    return np.random.default_rng(0).integers(0, 2**32, max(8, latent_dim), dtype=np.uint32)


class BitsBack:
    """The coder of one network (a VAE with a Gaussian encoder and a Bernoulli or 8-bit likelihood)."""

    def __init__(self, network):
        self.network = network.eval()
        self.pixels = pixel_code(network)
        self.shape = tuple(network.config.shape)
        self.latent_dim = network.config.latent_dim
        self.grid = module("compress", "constriction").stream.model.QuantizedGaussian(-LATENT_RANGE, LATENT_RANGE)

    @torch.no_grad()
    def _posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """q(z|x) on the grid: means and standard deviations in grid steps, flat, float64."""
        q = self.network.posterior(torch.from_numpy(x.astype(np.float32) / (self.pixels.levels - 1)))
        return ((q.mu.double() / LATENT_STEP).reshape(-1).numpy(),
                (torch.exp(0.5 * q.logvar.double()) / LATENT_STEP).reshape(-1).numpy())

    @torch.no_grad()
    def _decoded(self, grid_points: np.ndarray) -> torch.Tensor:
        """The decoder's output (logits, or the logistic's centres) at the grid points' latents."""
        z = torch.from_numpy(grid_points.reshape(-1, self.latent_dim).astype(np.float64) * LATENT_STEP).float()
        return self.network.decoder(z, None)

    def _prior(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(n * self.latent_dim), np.full(n * self.latent_dim, 1 / LATENT_STEP)

    def compress(self, images: np.ndarray, progress=None) -> tuple[np.ndarray, list[int]]:
        """uint8 images (N, *shape) of the pixel model's values -> the compressed words (uint32) and
        the batch sizes used (decompressing needs them)."""
        coder = module("compress", "constriction").stream.stack.AnsCoder(seed_words(self.latent_dim))
        start, batches = 0, []
        while start < len(images):
            size = self._batch_that_fits(coder, images[start:start + BATCH]) if start else 1
            x = images[start:start + size]
            z = coder.decode(self.grid, *self._posterior(x))  # takes the bits back-coding returns
            self.pixels.encode(coder, x, self._decoded(z))
            coder.encode_reverse(z, self.grid, *self._prior(size))
            batches.append(size)
            start += size
            if progress is not None:
                progress.update(size)
        return coder.get_compressed(), batches

    def _batch_that_fits(self, coder, candidates: np.ndarray) -> int:
        """How many of `candidates` the bits on the stack can lend to: the expected take of each is the
        entropy of its quantized posterior (log2 of sigma in grid steps, plus log2 sqrt(2 pi e), per
        dimension), with a margin. (Only an estimate: the batch then chosen is computed afresh.)"""
        most = len(candidates) * self.latent_dim * np.log2(2 * LATENT_RANGE + 1) * TAKE_MARGIN
        if coder.num_valid_bits() >= most:  # more than the whole grid could take: no need to look
            return len(candidates)
        _, sd = self._posterior(candidates)
        per_dim = np.maximum(np.log2(np.maximum(sd, 1e-12)) + 0.5 * np.log2(2 * np.pi * np.e), 0.0)
        takes = TAKE_MARGIN * per_dim.reshape(len(candidates), -1).sum(1) + 8
        return max(1, int(np.searchsorted(np.cumsum(takes), coder.num_valid_bits(), side="right")))

    def decompress(self, words: np.ndarray, batches: list[int], progress=None) -> np.ndarray:
        """The words and batch sizes of `compress` -> the uint8 images, checked to have been decoded intact."""
        coder = module("compress", "constriction").stream.stack.AnsCoder(words)
        images = np.empty((sum(batches), *self.shape), dtype=np.uint8)
        bounds = np.cumsum([0, *batches])
        for start, stop in reversed(list(zip(bounds[:-1], bounds[1:]))):
            z = coder.decode(self.grid, *self._prior(stop - start))
            x = self.pixels.decode(coder, self._decoded(z), self.shape)
            coder.encode_reverse(z, self.grid, *self._posterior(x))
            images[start:stop] = x
            if progress is not None:
                progress.update(stop - start)
        if not np.array_equal(coder.get_compressed(), seed_words(self.latent_dim)):
            raise ResourceError("the compressed data did not decode to where it began: it is damaged, or the model "
                                "computed other numbers here than where it was compressed (another torch, CPU "
                                "kind or thread count)")
        return images
