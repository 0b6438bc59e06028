"""Names -> factories, in one place. The CLI's choices and the tests' parametrisations read these."""
from __future__ import annotations

import importlib
from typing import Callable, Generic, TypeVar

from .errors import VaelabError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, provider: str):
        self.kind = kind
        self._provider = provider  # the module whose import registers the entries
        self._items: dict[str, T] = {}

    def _entries(self) -> dict[str, T]:
        if not self._items:
            importlib.import_module(self._provider)
        return self._items

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries()[name]
        except KeyError:
            raise VaelabError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries())

    def __contains__(self, name: str) -> bool:
        return name in self._entries()


likelihoods: Registry = Registry("likelihood", "vaelab.likelihoods")
architectures: Registry = Registry("architecture", "vaelab.nets")
datasets: Registry = Registry("dataset", "vaelab.data.datasets")

# The molecule model's parts (token sequences, `vaelab mol`): not choices for images and tables.
SEQUENCE_ARCHITECTURES = ("gru",)
SEQUENCE_LIKELIHOODS = ("categorical",)
SEQUENCE_ONLY = frozenset(SEQUENCE_ARCHITECTURES + SEQUENCE_LIKELIHOODS)


def for_real_valued(registry: Registry) -> list[str]:
    """The registered names that models of images and tables can use."""
    return [name for name in registry.names() if name not in SEQUENCE_ONLY]


REGULARIZERS = ("kl", "tc", "l2", "none")  # VAE / beta-VAE, beta-TCVAE, regularised AE (lambda*|z|^2), plain AE
