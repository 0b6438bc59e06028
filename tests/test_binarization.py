"""Dynamic binarization: each pixel is on with its grey level as the probability, a fresh draw each time."""
import pytest
import torch

from vaelab.data import binarize, binarize_levels, byte_levels, fixed_binarization


def on_rate_matches(on_rate: torch.Tensor, p: torch.Tensor, draws: int) -> None:
    """Every observed rate within 5 standard errors of its probability (a false alarm is ~1e-6 per level)."""
    sem = (p * (1 - p) / draws).sqrt()
    worst = ((on_rate - p).abs() - 5 * sem).max()
    assert worst <= 1e-12, f"an on-rate is off by more than 5 standard errors ({worst:.2e} beyond)"


def test_byte_binarization_turns_each_pixel_on_with_probability_k_over_256():
    draws = 20_000
    levels = torch.arange(256, dtype=torch.uint8).repeat(draws, 1)  # every level, many times
    on = binarize_levels(levels, torch.Generator().manual_seed(1))
    assert on.dtype == torch.float32 and set(on.unique().tolist()) <= {0.0, 1.0}
    assert on[:, 0].sum() == 0  # k = 0 is never on
    on_rate_matches(on.double().mean(0), torch.arange(256, dtype=torch.float64) / 256, draws)


def test_byte_binarization_handles_sizes_that_are_not_a_multiple_of_eight():
    levels = torch.full((3, 5, 7), 255, dtype=torch.uint8)
    on = binarize_levels(levels, torch.Generator().manual_seed(0))
    assert on.shape == (3, 5, 7) and on.mean() > 0.9


def test_float_binarization_turns_each_pixel_on_with_its_grey_level():
    draws = 20_000
    p = torch.arange(256, dtype=torch.float32) / 255  # an IDX folder's scale, 1.0 included
    on = binarize(p.repeat(draws, 1), torch.Generator().manual_seed(2))
    assert on[:, -1].all() and not on[:, 0].any()
    on_rate_matches(on.double().mean(0), p.double(), draws)


@pytest.mark.parametrize("draw", [binarize_levels, binarize])
def test_each_draw_is_fresh_and_a_seed_repeats_it(draw):
    x = torch.full((64, 784), 128, dtype=torch.uint8)
    x = x if draw is binarize_levels else x.float() / 256
    g = torch.Generator().manual_seed(3)
    first, second = draw(x, g), draw(x, g)
    assert not torch.equal(first, second)
    assert torch.equal(first, draw(x, torch.Generator().manual_seed(3)))


def test_byte_levels_only_for_values_on_the_256_grid():
    k = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
    levels = byte_levels(k.float() / 256)
    assert levels is not None and torch.equal(levels, k)
    assert byte_levels(torch.tensor([0.0, 1 / 255, 0.5])) is None  # an IDX folder's k/255 scale
    assert byte_levels(torch.ones(3, 4)) is None  # 1.0 = 256/256 does not fit a byte
    assert byte_levels(torch.full((3, 4), 0.3)) is None


def test_the_reported_test_binarization_is_fixed():
    x = torch.rand(50, 784)
    torch.manual_seed(123)  # the global generator must not matter
    a = fixed_binarization(x)
    torch.manual_seed(456)
    assert torch.equal(a, fixed_binarization(x))
