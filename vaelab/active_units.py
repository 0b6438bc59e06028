"""Active units (Burda et al. 2016): latent dimensions whose posterior mean varies across the data.

A unit u is active when Cov_x(E_q[z_u | x]) > 0.01; a collapsed dimension has a mean that does not
depend on x. Counted on held-out data every epoch and in every evaluation.
"""
from __future__ import annotations

from torch import Tensor

ACTIVE_UNIT_THRESHOLD = 0.01


def active_units(mu: Tensor) -> int:
    """mu: (N, L) posterior means of N examples -> how many of the L dimensions are active."""
    return int((mu.float().var(0) > ACTIVE_UNIT_THRESHOLD).sum())
