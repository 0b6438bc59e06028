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
prior and posterior are Gaussians quantized onto the same grid, the posterior onto a window of it
around its mean (WINDOW_SDS says why).

Step 1 can only take bits that are there (an exhausted stack still decodes, losslessly, but the
borrowed bits are then not random and the rate suffers). The first image has none to take, so
the stack starts with a few known seed words (32 bits per latent dimension, at least 256 bits);
they come back at the end of decompressing, which checks that they are intact (so is every bit
between). After that, each batch is as large as the stack can lend to (at most BATCH images):
compressing estimates what each image's step 1 takes (the entropy of its quantized posterior)
and takes the longest run of images whose takes fit in half the bits already there
(TAKE_MARGIN). Each image leaves the stack larger than it found it, so the batches
grow. Their sizes go into the file, because both directions must use the same batches: a
network's floating point result may depend on the batch it is computed in.

With K importance samples per image (`samples`), step 1 takes K latents and an index, and the net
cost approaches the IWAE bound with K samples instead of the -ELBO (Ruan et al. 2021; see the
comment above `_choose`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ResourceError
from ..extras import module
from .pixels import pixel_code

LATENT_STEP = 1 / 64  # in prior standard deviations
LATENT_RANGE = 12 * 64  # grid points each side of 0
# q(z|x) is coded on a window of the grid around its mean, of at least WINDOW_SDS of its standard deviations
# each side (beyond 6, a Gaussian's mass is below the coder's smallest probability). Why a window: the coder
# gives every symbol of a model's support at least one unit of its 2^24, so a posterior spread over the whole
# grid is, with probability (grid points) / 2^24 per dimension, decoded far from its mean, where the image
# then costs hundreds of bits. Measured on 3,000 test images with a 32-dimensional conv VAE, the code's net
# bits over the -ELBO: +1.3% with the posterior on the whole grid (6145 points of 1/256), 0.0% with windows.
WINDOW_SDS = 6.0
MIN_SD = 1e-6  # in grid steps: a posterior narrower than this (a logvar that underflowed) is coded as this
BATCH = 256  # images per network call, at most
DRAWS = 4096  # latents per decoder call with importance samples, at most (bounds memory at large K)
# A batch's expected take may be at most 1/TAKE_MARGIN of the bits on the stack. On the same images the
# net rate did not move between margins 1, 2, 4 and 8 (within 0.1%); 2 leaves room for an estimate's error.
TAKE_MARGIN = 2.0


MISMATCH = ("the compressed data did not decode to where it began: it is damaged, or the model computed other "
            "numbers here than where it was compressed (another torch, CPU kind or thread count)")


def check_plan(batches: object, count: int, most: int = BATCH) -> list[int]:
    """The batch sizes a file names, if they are sizes of at most `most` images covering `count` images."""
    if not (isinstance(batches, list) and all(isinstance(b, int) and 1 <= b <= most for b in batches)
            and sum(batches) == count):
        raise ResourceError("the compressed data is damaged (its batch sizes do not add up to its image count)")
    return batches


def seed_words(latent_dim: int) -> np.ndarray:
    """The known words the stack starts with: enough for the first image's posterior to take from
    (at most about 11 bits per latent dimension at this grid; 32 are there). With K importance
    samples the first image takes about K times that: it borrows from an exhausted stack, which
    is still lossless but costs it a few bits more (a one-off, like the seed)."""
    return np.random.default_rng(0).integers(0, 2**32, max(8, latent_dim), dtype=np.uint32)


class BitsBack:
    """The coder of one network (a VAE with a Gaussian encoder and a Bernoulli or 8-bit likelihood)."""

    def __init__(self, network, samples: int = 1):
        self.network = network.eval()
        self.samples = samples  # latents drawn per image: 1 is BB-ANS, more is Ruan et al.'s importance sampling
        self.batch = max(1, min(BATCH, DRAWS // samples))  # images per batch, at most
        self.pixels = pixel_code(network)
        self.shape = tuple(network.config.shape)
        self.latent_dim = network.config.latent_dim
        self.grid = self._window_model(LATENT_RANGE)
        self._window_models: dict[int, object] = {}

    @torch.no_grad()
    def _posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """q(z|x) on the grid: means and standard deviations in grid steps, flat, float64."""
        q = self.network.posterior(torch.from_numpy(x.astype(np.float32) / (self.pixels.levels - 1)))
        sd = torch.exp(0.5 * q.logvar.double()) / LATENT_STEP
        return (q.mu.double() / LATENT_STEP).reshape(-1).numpy(), sd.clamp(min=MIN_SD).reshape(-1).numpy()

    @staticmethod
    def _window_model(half: int):
        """The quantized Gaussian on the grid points -half..half."""
        return module("compress", "constriction").stream.model.QuantizedGaussian(-half, half)

    def _windows(self, mu: np.ndarray, sd: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, object]]:
        """The latents grouped by the half width of their window (a power of two of at least WINDOW_SDS
        standard deviations, at most the grid's range), each group with its windows' centres (moved inside
        the grid where they would overhang it) and the quantized Gaussian on that window."""
        half = np.minimum(2.0 ** np.ceil(np.log2(np.maximum(WINDOW_SDS * sd, 1.0))), LATENT_RANGE).astype(np.int64)
        centre = np.clip(np.rint(mu), half - LATENT_RANGE, LATENT_RANGE - half).astype(np.int64)
        groups = []
        for width in np.unique(half).tolist():
            if width not in self._window_models:
                self._window_models[width] = self._window_model(width)
            index = np.flatnonzero(half == width)
            groups.append((index, centre[index], self._window_models[width]))
        return groups

    def _take(self, coder, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """Step 1: grid points decoded from the stack with q(z|x), each on its window."""
        z = np.empty(len(mu), dtype=np.int64)
        for index, centre, model in self._windows(mu, sd):
            z[index] = centre + coder.decode(model, mu[index] - centre, sd[index])
        return z.astype(np.int32)

    def _give_back(self, coder, z: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> None:
        """Undoes `_take` (a stack: the last window group first)."""
        for index, centre, model in reversed(self._windows(mu, sd)):
            coder.encode_reverse((z[index] - centre).astype(np.int32), model, mu[index] - centre, sd[index])

    @torch.no_grad()
    def _decoded(self, grid_points: np.ndarray) -> torch.Tensor:
        """The decoder's output (logits, or the logistic's centres) at the grid points' latents."""
        z = torch.from_numpy(grid_points.reshape(-1, self.latent_dim).astype(np.float64) * LATENT_STEP).float()
        return self.network.decoder(z, None)

    def _prior(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """N(0, I) for n latents, in grid steps."""
        return np.zeros(n * self.latent_dim), np.full(n * self.latent_dim, 1 / LATENT_STEP)

    def compress(self, images: np.ndarray, progress=None) -> tuple[np.ndarray, list[int]]:
        """uint8 images (N, *shape) of the pixel model's values -> the compressed words (uint32) and
        the batch sizes used (decompressing needs them)."""
        coder = module("compress", "constriction").stream.stack.AnsCoder(seed_words(self.latent_dim))
        start, batches = 0, []
        while start < len(images):
            size = self._batch_that_fits(coder, images[start:start + self.batch]) if start else 1
            self._push(coder, images[start:start + size])
            batches.append(size)
            start += size
            if progress is not None:
                progress.update(size)
        return coder.get_compressed(), batches

    def _push(self, coder, x: np.ndarray) -> None:
        """Compress one batch: steps 1 to 3 (with several draws, the chosen one's index last)."""
        mu, sd = self._posterior(x)
        if self.samples == 1:
            z, chosen = self._take(coder, mu, sd), None  # takes the bits back-coding returns
        else:
            z, chosen = self._choose(coder, x, mu, sd)
        self.pixels.encode(coder, x, self._decoded(z))
        coder.encode_reverse(z, self.grid, *self._prior(len(x)))
        if chosen is not None:  # under the extended model the index is uniform
            coder.encode_reverse(chosen, self._categorical(), self._uniform(len(x)))

    def _pop(self, coder, size: int) -> np.ndarray:
        """Decompress one batch: `_push` undone, step by step in reverse."""
        chosen = coder.decode(self._categorical(), self._uniform(size)) if self.samples > 1 else None
        z = coder.decode(self.grid, *self._prior(size))
        x = self.pixels.decode(coder, self._decoded(z), self.shape)
        mu, sd = self._posterior(x)
        if chosen is None:
            self._give_back(coder, z, mu, sd)
        else:
            self._unchoose(coder, x, z, chosen, mu, sd)
        return x

    # Monte Carlo bits-back with importance sampling (Ruan et al. 2021, "Improving lossless compression
    # rates via Monte Carlo bits-back coding", BB-IS): K latents are taken from q(z|x) and one of them,
    # j, by its importance weight p(x, z_j) / q(z_j|x); x and z_j are coded as before, the other K - 1
    # with q(z|x) (the receiver decodes them once it has x), and j uniformly. The net cost averages
    # -log (1/K) sum_k p(x, z_k) / q(z_k|x): the IWAE bound, which K moves below the -ELBO.

    def _choose(self, coder, x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steps 1 and 2 with K draws: the chosen draws (flat) and their indices."""
        n, k = len(x), self.samples
        draws = self._take(coder, *self._per_draw(mu, sd, k)).reshape(n, k, -1)
        chosen = coder.decode(self._categorical(), self._weights(x, draws, mu, sd)).astype(np.int32)
        mine = np.eye(k, dtype=bool)[chosen]  # (n, k): each image's chosen draw
        self._give_back(coder, draws[~mine].reshape(-1), *self._per_draw(mu, sd, k - 1))
        return draws[mine].reshape(-1), chosen

    def _unchoose(self, coder, x: np.ndarray, z: np.ndarray, chosen: np.ndarray, mu: np.ndarray,
                  sd: np.ndarray) -> None:
        """`_choose` undone: the other draws decoded, then the index and every draw given back."""
        n, k = len(x), self.samples
        draws = np.empty((n, k, self.latent_dim), dtype=np.int32)
        mine = np.eye(k, dtype=bool)[chosen]
        draws[mine] = z.reshape(n, -1)
        draws[~mine] = self._take(coder, *self._per_draw(mu, sd, k - 1)).reshape(-1, self.latent_dim)
        coder.encode_reverse(chosen.astype(np.int32), self._categorical(), self._weights(x, draws, mu, sd))
        self._give_back(coder, draws.reshape(-1), *self._per_draw(mu, sd, k))

    def _per_draw(self, mu: np.ndarray, sd: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each image's posterior repeated for k draws, flat in (image, draw, dimension) order."""
        def repeat(a):
            return np.repeat(a.reshape(-1, 1, self.latent_dim), k, axis=1).reshape(-1)
        return repeat(mu), repeat(sd)

    def _weights(self, x: np.ndarray, draws: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """(n, K) probabilities of choosing each draw: normalised p(x|z) p(z) / q(z|x), in float64 from one
        decoder call on all n K draws (the same call, so the same numbers, in both directions)."""
        n, k = draws.shape[:2]
        log_px = self.pixels.log_likelihood(np.repeat(x, k, axis=0), self._decoded(draws.reshape(-1))).reshape(n, k)
        z = draws.astype(np.float64)
        centred = (z - mu.reshape(n, 1, -1)) / sd.reshape(n, 1, -1)
        # log p(z) - log q(z|x) without the log sigma terms: the same for every draw of an image, they cancel
        log_w = log_px + 0.5 * (centred**2 - (z * LATENT_STEP) ** 2).sum(-1)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)

    def _uniform(self, n: int) -> np.ndarray:
        """Each of K indices equally likely, for n images."""
        return np.full((n, self.samples), 1 / self.samples)

    @staticmethod
    def _categorical():
        """An index under given probabilities (one row per image)."""
        return module("compress", "constriction").stream.model.Categorical(perfect=False)

    def _batch_that_fits(self, coder, candidates: np.ndarray) -> int:
        """How many of `candidates` the bits on the stack can lend to: the expected take of each is the
        entropy of its quantized posterior (log2 of sigma in grid steps, plus log2 sqrt(2 pi e), per
        dimension) per draw, and the chosen draw's index, with a margin. (Only an estimate: the batch then
        chosen is computed afresh.)"""
        index_bits = np.log2(self.samples)
        whole_grid = self.latent_dim * np.log2(2 * LATENT_RANGE + 1)
        most = len(candidates) * (self.samples * whole_grid + index_bits) * TAKE_MARGIN
        if coder.num_valid_bits() >= most:  # more than the whole grid could take: no need to look
            return len(candidates)
        _, sd = self._posterior(candidates)
        per_dim = np.maximum(np.log2(np.maximum(sd, 1e-12)) + 0.5 * np.log2(2 * np.pi * np.e), 0.0)
        takes = TAKE_MARGIN * (self.samples * per_dim.reshape(len(candidates), -1).sum(1) + index_bits) + 8
        return max(1, int(np.searchsorted(np.cumsum(takes), coder.num_valid_bits(), side="right")))

    def decompress(self, words: np.ndarray, batches: list[int], progress=None) -> np.ndarray:
        """The words and batch sizes of `compress` -> the uint8 images, checked to have been decoded intact."""
        coder = module("compress", "constriction").stream.stack.AnsCoder(words)
        images = np.empty((sum(batches), *self.shape), dtype=np.uint8)
        bounds = np.cumsum([0, *batches])
        for start, stop in reversed(list(zip(bounds[:-1], bounds[1:]))):
            try:
                images[start:stop] = self._pop(coder, stop - start)
            except KeyError:  # constriction: a symbol the model gives no probability, so a wrong decoding
                raise ResourceError(MISMATCH) from None
            if progress is not None:
                progress.update(stop - start)
        if not np.array_equal(coder.get_compressed(), seed_words(self.latent_dim)):
            raise ResourceError(MISMATCH)
        return images
