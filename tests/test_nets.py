"""The conv decoder's fast evaluation path computes exactly what ConvTranspose2d does."""
import pytest
import torch
from torch import nn

from vaelab.nets.conv import Upsample2x


@pytest.mark.parametrize("c_in,c_out", [(32, 1), (8, 2), (64, 32), (3, 5)])
def test_upsample_equals_conv_transpose_with_and_without_autograd(c_in, c_out):
    torch.manual_seed(0)
    ours = Upsample2x(c_in, c_out)
    reference = nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1)
    reference.load_state_dict(ours.state_dict())
    h = torch.randn(6, c_in, 7, 5)
    with torch.no_grad():  # the fast forms: sub-pixel convolution or channels-last
        fast, expected = ours(h), reference(h)
    assert fast.shape == expected.shape == (6, c_out, 14, 10) and fast.is_contiguous()
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours(h), reference(h))  # training path: the standard kernel
    assert ours.subpixel == (4 * c_out <= c_in)
