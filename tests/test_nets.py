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


def test_cached_subpixel_weights_follow_every_change_of_the_weights():
    """The sub-pixel weights are cached between calls: an optimiser step, load_state_dict or an
    in-place edit must still be seen by the next evaluation."""
    torch.manual_seed(1)
    ours = Upsample2x(32, 2).eval()
    reference = nn.ConvTranspose2d(32, 2, kernel_size=4, stride=2, padding=1)
    h = torch.randn(3, 32, 7, 7)

    def check():
        reference.load_state_dict(ours.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(ours(h), reference(h), rtol=1e-5, atol=1e-5)

    check()
    with torch.no_grad():
        ours.weight.mul_(2.0)
        ours.bias.add_(1.0)
    check()
    optimizer = torch.optim.Adam(ours.parameters(), lr=0.1)
    ours(h).sum().backward()  # autograd on: the standard kernel, and a gradient to step with
    optimizer.step()
    check()
    ours.load_state_dict(nn.ConvTranspose2d(32, 2, kernel_size=4, stride=2, padding=1).state_dict())
    check()


def test_deeper_conv_options_keep_shapes_and_the_plain_layout():
    """--dense and --res-blocks add layers; without them the parameter names are those of older runs."""
    from vaelab.config import ModelConfig
    from vaelab.models.vae import VAE

    plain = VAE(ModelConfig(arch="conv", shape=(1, 28, 28), latent_dim=4))
    assert {k.split(".")[1] for k in plain.state_dict() if k.startswith("encoder.")} >= {"features", "head"}
    assert "decoder.fc.weight" in plain.state_dict() and "decoder.net.1.weight" in plain.state_dict()
    assert not any(".dense." in k for k in plain.state_dict())

    deep = VAE(ModelConfig(arch="conv", shape=(1, 28, 28), latent_dim=4, dense=(64, 32), res_blocks=2))
    names = deep.state_dict()
    assert names["encoder.dense.0.weight"].shape == (64, 64 * 7 * 7)
    assert names["encoder.dense.2.weight"].shape == (32, 64)
    assert names["decoder.dense.0.weight"].shape == (32, 4) and names["decoder.fc.weight"].shape == (64 * 7 * 7, 64)
    assert sum(".conv1." in k for k in names if k.endswith("weight")) == 2 * 2 * 2  # 2 stages x 2 blocks x enc+dec
    x = torch.rand(3, 1, 28, 28).bernoulli()
    stats = deep.encoder(x)
    assert stats.shape == (3, 8)
    logits = deep.decoder(torch.randn(5, 3, 4))
    assert logits.shape == (5, 3, 1, 28, 28)
    deep.encoder(x).sum().backward()
    assert deep.encoder.features[2].conv1.weight.grad.abs().sum() > 0  # the residual branch is trained


def test_the_dsprites_conv_architecture():
    """64x64 images through four stride-2 stages and a 256-wide dense layer (Burgess et al. 2018's shape)."""
    from vaelab.config import ModelConfig
    from vaelab.models.vae import VAE

    model = VAE(ModelConfig(arch="conv", shape=(1, 64, 64), latent_dim=10, channels=(32, 32, 64, 64), dense=(256,),
                            regularizer="tc", beta=6.0))
    x = torch.rand(8, 1, 64, 64).bernoulli()
    qz = model.posterior(x)
    assert qz.mu.shape == qz.logvar.shape == (8, 10)
    assert model.px(qz.mu).mean.shape == (8, 1, 64, 64)
    terms = model(x)
    terms.loss.backward()
    assert torch.isfinite(terms.loss) and model.encoder.features[0].weight.grad.abs().sum() > 0
