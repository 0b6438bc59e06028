from .datasets import Splits, binarize, fixed_binarization, load_splits, parse_data_spec

__all__ = ["Splits", "binarize", "fixed_binarization", "load_splits", "parse_data_spec"]
