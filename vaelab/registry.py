"""Names -> factories, in one place. The CLI's choices and the tests' parametrisations read these."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .errors import VaelabError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise VaelabError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


likelihoods: Registry = Registry("likelihood")
architectures: Registry = Registry("architecture")
datasets: Registry = Registry("dataset")

REGULARIZERS = ("kl", "l2", "none")  # VAE / beta-VAE, regularised AE (lambda*|z|^2), plain AE
