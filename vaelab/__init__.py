"""vaelab: train, evaluate and explore variational autoencoders.

    import vaelab
    model = vaelab.fit(images, latent_dim=8, epochs=10, out="runs/mine")   # (N, C, H, W) array, or "mnist"
    model = vaelab.load("runs/mine")
    mu, logvar = model.encode(images)
    samples = model.sample(16)

`fit` takes the options of `vaelab train` by their flag names; `load` returns a `Model` (images,
tables) or a `MoleculeModel` (SMILES). `Run` opens a run folder itself. Every error vaelab raises
is a `VaelabError`: an `InputError` (a bad value), a `ResourceError` (a file, folder or package
that cannot be used) or `TrainingDiverged`.
"""
from .errors import InputError, ResourceError, TrainingDiverged, VaelabError
from .version import __version__

_LAZY = {"fit": "api", "load": "api", "Run": "run", "Model": "model", "MoleculeModel": "mol.model",
         "Callback": "train.callbacks", "TrainingView": "train.callbacks", "compress": "bitsback",
         "decompress": "bitsback"}


def __getattr__(name: str):
    """The API's heavier parts (torch and the models) are imported when first used, not by `import vaelab`."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")


__all__ = ["fit", "load", "Run", "Model", "MoleculeModel", "Callback", "TrainingView", "compress", "decompress",
           "VaelabError", "InputError", "ResourceError", "TrainingDiverged", "__version__"]
