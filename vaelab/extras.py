"""Optional features and the pip extras that install them.

`pip install vaelab` brings what training and evaluating images needs. Molecules, the web
explorer and ONNX export each need packages most users never want, so they come with an extra
(`pip install 'vaelab[mol]'`). A feature asks for its packages through `require` (or `module`)
where it first needs them: a missing one is one line that names the install command, never an
ImportError from deep inside.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import ResourceError

# extra -> the import names it provides (what `require` checks), in pyproject.toml's order
EXTRAS: dict[str, tuple[str, ...]] = {
    "mol": ("rdkit", "selfies"),
    "mol-metrics": ("fcd_torch",),  # with mol's: the whole MOSES table (FCD's ChemNet ships in fcd_torch)
    "serve": ("fastapi", "uvicorn", "multipart", "swagger_ui_bundle"),
    "export": ("onnx", "onnxscript", "onnxruntime"),
    "track": ("tensorboard", "mlflow", "sqlalchemy", "alembic"),
    "compress": ("constriction",),
}
FEATURES = {"mol": "molecules", "mol-metrics": "the whole MOSES metrics table", "serve": "the latent explorer",
            "export": "ONNX export", "track": "TensorBoard and MLflow logs", "compress": "bits-back compression"}


def install_command(extra: str) -> str:
    return f"pip install 'vaelab[{extra}]'"


def missing(extra: str, names: tuple[str, ...] | None = None) -> list[str]:
    """The packages of an extra (or the given ones of it) that cannot be imported here."""
    return [name for name in (names or EXTRAS[extra]) if not _importable(name)]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken install, or a module blocked with sys.modules[name] = None
        return False


def require(extra: str, *names: str) -> None:
    """Refuse, in one line naming the install command, when a package of `extra` is not installed.

    `names` narrows the check to the packages a feature uses (e.g. `require("mol", "selfies")`)."""
    absent = missing(extra, names or None)
    if absent:
        verb, pronoun = ("is", "it") if len(absent) == 1 else ("are", "them")
        raise ResourceError(f"{' and '.join(absent)} {verb} not installed; the '{extra}' extra ({FEATURES[extra]}) "
                            f"brings {pronoun}: {install_command(extra)}")


def module(extra: str, name: str) -> ModuleType:
    """Import `name`, a package of `extra`, or refuse as `require` does."""
    require(extra, name.partition(".")[0])
    return importlib.import_module(name)
