"""What a dataset's values look like, read off its training split: what the default likelihood is chosen by.

Binary or near-binary grey images (MNIST: 91% of its pixels lie within 0.1 of 0 or 1) are what a
Bernoulli likelihood with dynamic binarization is for; 8-bit grey-level or colour images (values
k/255) are what a discretized likelihood over the 256 levels is for; other values are reals.
"""
from __future__ import annotations

from dataclasses import dataclass

from .splits import Splits

NEAR = 0.1  # a value within this of 0 or 1 counts as (nearly) black or white
NEAR_BINARY = 0.85  # the share of such values that makes a grey dataset near-binary
ROWS = 2000  # the first examples are enough to tell, and cheap however large the data


@dataclass(frozen=True)
class Values:
    """A summary of the training examples' values."""

    colour: bool  # three channels
    in_unit_range: bool  # every value in [0, 1]
    binary: bool  # every value exactly 0 or 1
    near_binary_share: float  # the share of values within NEAR of 0 or 1
    on_byte_grid: bool  # every value one of k/255, k = 0..255 (8-bit images read as value / 255)

    @property
    def near_binary(self) -> bool:
        return not self.colour and self.in_unit_range and self.near_binary_share >= NEAR_BINARY

    def describe(self) -> str:
        """'grey values in [0, 1], 91% of them within 0.1 of 0 or 1', 'binary grey values', 'values outside [0, 1]'."""
        if not self.in_unit_range:
            return "values outside [0, 1]"
        what = "colour" if self.colour else "grey"
        if self.binary:
            return f"binary {what} values"
        grid = " on the 8-bit grid k/255" if self.on_byte_grid else ""
        return f"{what} values in [0, 1]{grid}, {self.near_binary_share:.0%} of them within {NEAR} of 0 or 1"


def summarize(splits: Splits) -> Values:
    """The `Values` of the training examples: images (N, C, H, W) or rows (N, D)."""
    x = splits.as_values(splits.train[:ROWS]).float()
    colour = x.dim() == 4 and x.shape[1] == 3
    if not len(x):
        return Values(colour, True, False, 0.0, False)
    in_range = bool(((x >= 0) & (x <= 1)).all())
    near = float(((x <= NEAR) | (x >= 1 - NEAR)).float().mean())
    binary = bool(((x == 0) | (x == 1)).all())
    levels = x * 255
    on_grid = in_range and bool((levels - levels.round()).abs().max() < 1e-4)
    return Values(colour, in_range, binary, near, on_grid)
