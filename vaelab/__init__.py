"""vaelab: train, evaluate and explore variational autoencoders.

    import vaelab
    model = vaelab.load("runs/demo")
    mu, logvar = model.encode(images)
"""
from .errors import TrainingDiverged, VaelabError

__version__ = "0.1.0"


def load(run_dir, device: str = "cpu"):
    """Load a trained model from a run folder; see `vaelab.train.run.load`."""
    from .train.run import load as _load

    return _load(run_dir, device)


__all__ = ["load", "VaelabError", "TrainingDiverged", "__version__"]
