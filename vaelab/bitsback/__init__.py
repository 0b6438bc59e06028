"""Lossless compression with a trained VAE, by bits-back coding (Townsend et al. 2019, BB-ANS).

A VAE's negative ELBO is a code length: coded with bits back, each image costs about -ELBO bits,
so a better model compresses better. Works for runs whose likelihood is a distribution over the
stored values: Bernoulli (binary images, values 0/1) and the discretized logistic (8-bit images,
values 0..255). The `compress` extra brings the entropy coder (constriction's ANS).

    data = vaelab.compress("runs/demo", images)        # (N, 1, 28, 28) 0/1 values -> bytes
    again = vaelab.decompress("runs/demo", data)       # -> the same uint8 array, bit for bit
    vaelab compress runs/demo --split test --out test.vbb; vaelab decompress runs/demo test.vbb --out back/

What must match between the machine that compresses and the one that decompresses: the run
folder (its weights and config; checked by fingerprint), the vaelab coding version (checked), and
the arithmetic of the network's forward pass: the same torch version, CPU kind (vector
capability) and thread count give the same bits. The threads are set from the file; a machine
whose arithmetic differs is caught (at the latest at the end: the stack must come back to its seed)
and refused.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..errors import InputError, ResourceError
from ..progress import progress_bar
from ..run import Run
from . import coder
from .container import fingerprint, pack, unpack
from .inputs import as_symbols


MAX_THREADS = 4096
MAX_SAMPLES = 256  # importance samples per image: each costs a decoder pass in both directions


def _is_sample_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SAMPLES


def _network(run: Run):
    network = run.network()
    config = network.config
    if config.num_classes:
        raise InputError(f"{run.path} is a conditional model; compression needs an unconditional one "
                         "(its code could not be decoded without the labels)")
    if not network.regularizer.stochastic:
        raise InputError(f"{run.path} is an autoencoder without a posterior variance; bits-back coding "
                         "needs a VAE (--regularizer kl or tc)")
    return network


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """The thread count the network's arithmetic runs with (it can move the last bits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _settings(network) -> dict[str, Any]:
    return {"latent_step": coder.LATENT_STEP, "latent_range": coder.LATENT_RANGE,
            "window_sds": coder.WINDOW_SDS, "batch": coder.BATCH,
            "likelihood": network.config.likelihood}


def compress(run: str | Path | Run, images: Any, *, samples: int = 1, progress: bool = False) -> bytes:
    """Compress images losslessly with a run's VAE: (N, *shape) or one (*shape) image of the run's
    pixel values (0/1 for a Bernoulli run, 0..255 for an 8-bit one; bool, integer or float arrays).

    samples: latents drawn per image. 1 is BB-ANS, about -ELBO bits per image; K > 1 is Monte Carlo
    bits-back with importance sampling (Ruan et al. 2021), about the IWAE bound with K samples, for
    K + 1 decoder passes per image in both directions.

    Returns the file's bytes: a header naming the run, then the code."""
    if not _is_sample_count(samples):
        raise InputError(f"samples must be a whole number in 1..{MAX_SAMPLES}, got {samples!r}", "samples")
    run = run if isinstance(run, Run) else Run.open(run)
    network = _network(run)
    bits = coder.BitsBack(network, samples)
    x = as_symbols(images, tuple(network.config.shape), bits.pixels.levels)
    header = {"run": fingerprint(run.weights_file(), run.config), "count": len(x), "shape": list(x.shape[1:]),
              "threads": torch.get_num_threads(), "samples": samples, "torch": torch.__version__,
              "cpu": torch.backends.cpu.get_cpu_capability(), **_settings(network)}
    with _threads(header["threads"]), progress_bar(len(x), "compress", progress, unit="img", lines=True) as bar:
        words, batches = bits.compress(x, bar)
    return pack({**header, "batches": batches}, words)


def decompress(run: str | Path | Run, data: bytes, *, progress: bool = False, where: str = "the data") -> np.ndarray:
    """The images `compress` was given, as a (N, *shape) uint8 array, bit for bit; data from another
    model, another coding version or damaged on the way is refused (ResourceError), never guessed at."""
    run = run if isinstance(run, Run) else Run.open(run)
    header, words = unpack(data, where)
    network = _network(run)
    if header.get("run") != fingerprint(run.weights_file(), run.config):
        raise ResourceError(f"{where} was compressed with another model than {run.path} (its weights or config "
                            "differ): decompress it with the run that compressed it")
    if any(header.get(k) != v for k, v in _settings(network).items()):
        raise ResourceError(f"{where} was compressed with other coding settings than this vaelab uses")
    count, shape = header.get("count"), header.get("shape")
    if not (isinstance(count, int) and 0 < count and shape == list(network.config.shape)):
        raise ResourceError(f"{where} is damaged (its header's count or shape is not the run's)")
    threads = header.get("threads")
    if not (isinstance(threads, int) and 1 <= threads <= MAX_THREADS):
        raise ResourceError(f"{where} is damaged (its header's thread count is not one)")
    samples = header.get("samples", 1)
    if not _is_sample_count(samples):
        raise ResourceError(f"{where} is damaged (its header's sample count is not one)")
    bits = coder.BitsBack(network, samples)
    batches = coder.check_plan(header.get("batches"), count, bits.batch)
    with _threads(threads), progress_bar(count, "decompress", progress, unit="img", lines=True) as bar:
        try:
            return bits.decompress(words, batches, bar)
        except ResourceError as e:
            made = f"compressed with torch {header.get('torch')} on {header.get('cpu')}, {threads} thread(s)"
            raise ResourceError(f"{where}: {e} ({made}; here torch {torch.__version__} on "
                                f"{torch.backends.cpu.get_cpu_capability()})") from None
