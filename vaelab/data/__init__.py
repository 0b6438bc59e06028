"""Data sources as in-memory splits: `load_splits(DataConfig)`, or a spec through `parse_data_spec`."""
from .binarize import TEST_BINARIZATION_SEED, binarize, binarize_levels, byte_levels, fixed_binarization, presented
from .load import load_splits, parse_data_spec
from .splits import SPLITS, Splits, finish, keep_labels, relabel
from .standardize import restandardize

__all__ = ["SPLITS", "Splits", "TEST_BINARIZATION_SEED", "binarize", "binarize_levels", "byte_levels", "finish",
           "fixed_binarization", "keep_labels", "load_splits", "parse_data_spec", "presented", "relabel",
           "restandardize"]
