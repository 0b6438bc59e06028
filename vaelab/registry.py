"""Names -> implementations, in one place. The CLI's choices and the tests' parametrisations read these.

A registry is filled by the modules that implement its entries (each decorates its classes or
functions with `register`). It names those modules as strings and imports them on first lookup,
the way plugins are found: the config (core) can check an architecture's name without importing
the networks, and the networks stay free to import the config.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from .errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, providers: tuple[str, ...]):
        self.kind = kind
        self._providers = providers  # the modules whose import registers the entries
        self._items: dict[str, T] = {}
        self._loaded = False

    def _entries(self) -> dict[str, T]:
        if not self._loaded:
            for provider in self._providers:
                importlib.import_module(provider)
            self._loaded = True  # only now: a failed import is raised again at the next lookup
        return self._items

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str, parameter: str | None = None) -> T:
        """The entry of `name`; an unknown one is an InputError about `parameter` (the option naming it)."""
        try:
            return self._entries()[name]
        except (KeyError, TypeError):
            raise InputError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}",
                             parameter) from None

    def names(self) -> list[str]:
        return sorted(self._entries())

    def __contains__(self, name: str) -> bool:
        return name in self._entries()


@dataclass(frozen=True)
class Architecture:
    """An encoder/decoder pair: `build(model_config, encoder_outputs) -> (encoder, decoder)`."""

    build: Callable[[Any, int], tuple[Any, Any]]
    reads_tokens: bool = False  # token ids (molecules) rather than real-valued examples


likelihoods: Registry = Registry("likelihood", ("vaelab.likelihoods",))
architectures: Registry[Architecture] = Registry("architecture", ("vaelab.nets",))
regularizers: Registry = Registry("regularizer", ("vaelab.regularizers",))
datasets: Registry = Registry("dataset", ("vaelab.data.load",))
