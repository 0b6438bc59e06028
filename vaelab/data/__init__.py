"""Data sources as in-memory splits. Importing the package registers every source (`--data NAME`)."""
from . import arrays, factors, folder, idx, mnist, table  # noqa: F401  (register the sources)
from .binarize import TEST_BINARIZATION_SEED, binarize, binarize_levels, byte_levels, fixed_binarization, presented
from .splits import SPLITS, Splits, keep_labels, load_splits, parse_data_spec
from .standardize import restandardize

__all__ = ["SPLITS", "Splits", "TEST_BINARIZATION_SEED", "binarize", "binarize_levels", "byte_levels",
           "fixed_binarization", "keep_labels", "load_splits", "parse_data_spec", "presented", "restandardize"]
