"""What the coder codes a pixel with: p(x|z) of a run's likelihood as entropy models of the stored
values. Only likelihoods that are distributions over those values can code them losslessly:
Bernoulli pixels (values 0 and 1) and the 8-bit discretized logistic (values 0..255).

Both directions compute the probabilities here from the same decoder output, in float64, so the
coder's integer probabilities are the same when compressing and decompressing."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..extras import module

CHUNK = 1 << 22  # probabilities in one call of the 8-bit coder (x 8 bytes): bounds its memory


def _models():
    return module("compress", "constriction").stream.model


class BinaryPixels:
    """Bernoulli pixels: symbol 1 with probability sigmoid(logit)."""

    levels = 2

    def encode(self, coder, x: np.ndarray, decoded: torch.Tensor) -> None:
        coder.encode_reverse(x.reshape(-1).astype(np.int32), self._model(), self._ones(decoded))

    def decode(self, coder, decoded: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
        return coder.decode(self._model(), self._ones(decoded)).astype(np.uint8).reshape(-1, *shape)

    @staticmethod
    def log_likelihood(x: np.ndarray, logits: torch.Tensor) -> np.ndarray:
        """log p(x|z) of each image, float64 (importance weights: the same numbers in both directions)."""
        ones = torch.from_numpy(x.reshape(len(x), -1).astype(np.float64))
        logits = logits.double().reshape(len(x), -1)
        return (ones * F.logsigmoid(logits) + (1 - ones) * F.logsigmoid(-logits)).sum(1).numpy()

    @staticmethod
    def _model():
        return _models().Bernoulli(perfect=False)  # quantized to the coder's precision, never a zero probability

    @staticmethod
    def _ones(logits: torch.Tensor) -> np.ndarray:
        """The probability of a 1 per pixel, flat."""
        return torch.sigmoid(logits.double()).reshape(-1).numpy()


class BytePixels:
    """8-bit pixels under a discretized logistic: the mass of each of the 256 bins per pixel."""

    levels = 256

    def __init__(self, log_scale: torch.Tensor):
        self.inv_scale = torch.exp(-log_scale.detach().double()).reshape(-1)  # one scale per pixel

    def encode(self, coder, x: np.ndarray, decoded: torch.Tensor) -> None:
        symbols = x.reshape(-1).astype(np.int32)
        for start, stop in reversed(self._pieces(decoded)):  # a stack gives back the last piece first
            coder.encode_reverse(symbols[start:stop], _models().Categorical(perfect=False),
                                 self._pmf(decoded, start, stop))

    def decode(self, coder, decoded: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
        out = [coder.decode(_models().Categorical(perfect=False), self._pmf(decoded, start, stop))
               for start, stop in self._pieces(decoded)]
        return np.concatenate(out).astype(np.uint8).reshape(-1, *shape)

    def log_likelihood(self, x: np.ndarray, loc: torch.Tensor) -> np.ndarray:
        """log p(x|z) of each image, float64: the mass of each pixel's own bin."""
        top = self.levels - 1
        value = torch.from_numpy(x.reshape(len(x), -1).astype(np.float64))
        centre = loc.double().reshape(len(x), -1)
        upper = torch.where(value == top, 1.0, torch.sigmoid(((value + 0.5) / top - centre) * self.inv_scale))
        lower = torch.where(value == 0, 0.0, torch.sigmoid(((value - 0.5) / top - centre) * self.inv_scale))
        return torch.log(torch.clamp(upper - lower, min=1e-300)).sum(1).numpy()

    def _pieces(self, loc: torch.Tensor) -> list[tuple[int, int]]:
        step, total = max(1, CHUNK // self.levels), loc.numel()
        return [(start, min(start + step, total)) for start in range(0, total, step)]

    def _pmf(self, loc: torch.Tensor, start: int, stop: int) -> np.ndarray:
        """(stop - start, 256) probabilities of flat pixels start..stop: sigmoid differences at the bin
        edges, the outer bins reaching to -inf and +inf, as the likelihood defines them."""
        top = self.levels - 1
        edges = (torch.arange(top, dtype=torch.float64) + 0.5) / top  # between level k and k + 1
        pixel = torch.arange(start, stop) % len(self.inv_scale)
        centred = edges - loc.double().reshape(-1)[start:stop, None]
        cdf = torch.sigmoid(centred * self.inv_scale[pixel, None])
        return torch.diff(cdf, dim=-1, prepend=torch.zeros_like(cdf[:, :1]),
                          append=torch.ones_like(cdf[:, :1])).numpy()


def pixel_code(network) -> BinaryPixels | BytePixels:
    """The pixel model of a network's likelihood; a continuous one cannot code stored values losslessly."""
    name = network.config.likelihood
    if name == "bernoulli":
        return BinaryPixels()
    if name == "discretized-logistic":
        return BytePixels(network.likelihood.log_scale)
    raise InputError(f"this run's likelihood ({name}) is a density over continuous values, not a distribution "
                     "over stored pixel values, so it cannot code them losslessly: compression needs a run trained "
                     "with --likelihood bernoulli (binary images) or discretized-logistic (8-bit images)")
