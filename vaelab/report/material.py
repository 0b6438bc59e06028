"""What the sections of a report share, loaded once and only when a section asks: the run's model and
its data. A failure (no weights yet, data that no longer loads) is kept and raised again to every
section that asks, so each says why it is missing and the rest of the page is still made."""
from __future__ import annotations

from typing import Any, Callable

from ..errors import VaelabError
from ..run import Run


class Material:
    def __init__(self, run: Run, data: str | None = None):
        self.run, self.spec = run, data
        self._kept: dict[str, Any] = {}

    def _once(self, name: str, load: Callable[[], Any]) -> Any:
        if name not in self._kept:
            try:
                self._kept[name] = load()
            except VaelabError as e:
                self._kept[name] = e
        value = self._kept[name]
        if isinstance(value, VaelabError):
            raise value
        return value

    @property
    def molecules(self) -> bool:
        return self.run.config.model.reads_tokens

    def model(self):
        """The run's `Model` (a `MoleculeModel` for a molecule run), on the CPU."""
        def load():
            if self.molecules:
                from ..mol.model import MoleculeModel

                return MoleculeModel.from_run(self.run)
            return self.run.model()

        return self._once("model", load)

    def splits(self):
        return self._once("splits", lambda: self.run.data(self.spec))

    def split(self, name: str, n: int) -> tuple[Any, Any]:
        """The first n examples of a split and their labels (None without labels)."""
        x, y = self._once(f"split {name}", lambda: self.splits().split(name))
        return x[:n], (y[:n] if y is not None else None)

    def held_out(self, n: int) -> tuple[str, Any, Any]:
        """(split name, x, y): the validation split, or the test split when the run kept no validation."""
        name = "val" if len(self.splits().val) else "test"
        return (name, *self.split(name, n))

    def condition(self, y):
        """The labels a conditional model takes (None for any other)."""
        return y if self.model().conditional else None
