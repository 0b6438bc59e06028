"""Noise, masks, PSNR, and latent-space denoising / inpainting on models whose answers are known."""
import math

import pytest
import torch
from PIL import Image

from vaelab.apps.corruption import add_noise, make_mask, parse_noise, psnr
from vaelab.apps.restore import denoise, inpaint, masked_error, mean_image_fill, median_filter, nearest_neighbour_fill
from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.errors import InputError
from vaelab.train.trainer import train


def test_psnr_is_minus_ten_log10_of_the_mse():
    clean = torch.zeros(2, 1, 4, 4)
    noisy = clean + torch.tensor([0.1, 0.01]).reshape(2, 1, 1, 1)
    torch.testing.assert_close(psnr(noisy, clean), torch.tensor([20.0, 40.0]))


@pytest.mark.parametrize("spec", ["gaussian:0.3", "saltpepper:0.2", "dropout:0.5"])
def test_noise_has_the_stated_strength(spec):
    x = torch.full((200, 1, 16, 16), 0.5)
    noisy = add_noise(x, spec, torch.Generator().manual_seed(0))
    kind, level = parse_noise(spec)
    assert noisy.min() >= 0 and noisy.max() <= 1
    changed = (noisy != x).float().mean().item()
    if kind == "gaussian":
        assert (noisy - x).std().item() == pytest.approx(level, rel=0.1)  # little clipping around 0.5
    else:
        assert changed == pytest.approx(level, abs=0.02)


@pytest.mark.parametrize("spec, message", [("gauss:0.5", "unknown noise"), ("gaussian", "needs a level"),
                                           ("gaussian:abc", "not a number"), ("saltpepper:1.5", "[0, 1]"),
                                           ("gaussian:nan", "finite")])
def test_bad_noise_specs(spec, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_noise(spec)


def test_masks_hide_what_they_say(tmp_path):
    shape = (1, 8, 8)
    assert not make_mask("left", shape)[0, 0, :, :4].any() and make_mask("left", shape)[0, 0, :, 4:].all()
    assert not make_mask("bottom", shape)[0, 0, 4:].any() and make_mask("bottom", shape)[0, 0, :4].all()
    assert make_mask("center", shape)[0, 0].sum() == 64 - 16
    random = make_mask("random:0.25", shape, torch.Generator().manual_seed(0), n=400)
    assert (~random).float().mean().item() == pytest.approx(0.25, abs=0.02)
    pixels = (torch.arange(64).reshape(8, 8) % 2 * 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(tmp_path / "mask.png")
    from_file = make_mask(str(tmp_path / "mask.png"), shape)
    assert from_file[0, 0].tolist() == (torch.from_numpy(pixels) > 127).tolist()
    Image.fromarray(pixels[:4]).save(tmp_path / "small.png")
    with pytest.raises(InputError, match="8x4 pixels; the images are 8x8"):
        make_mask(str(tmp_path / "small.png"), shape)
    with pytest.raises(InputError, match="unknown mask"):
        make_mask("middle", shape)


def test_median_filter_removes_isolated_salt():
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 3, 3] = 1.0
    assert median_filter(x).abs().max() == 0


def test_baselines_fill_only_the_missing_pixels():
    g = torch.Generator().manual_seed(0)
    train, x = torch.rand(50, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g)
    known = make_mask("left", (1, 4, 4))
    for filled in (mean_image_fill(train, x, known), nearest_neighbour_fill(train, x, known)):
        assert torch.equal(filled[..., 2:], x[..., 2:])
    torch.testing.assert_close(mean_image_fill(train, x, known)[..., :2], train.mean(0)[..., :2].expand(5, 1, 4, 2))
    twin = train[7:8].clone()  # an example whose known half equals a training image's: its donor is that image
    assert torch.equal(nearest_neighbour_fill(train, twin, known), train[7:8])
    assert masked_error(train[7:8], train[7:8], known) == 0.0


PATTERNS = (torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(3)) > 0.5).float()


@pytest.fixture(scope="module")
def pattern_model():
    """A VAE that has learnt two binary 6x6 patterns."""
    torch.manual_seed(0)
    data = PATTERNS[torch.randint(0, 2, (400,), generator=torch.Generator().manual_seed(4))]
    config = RunConfig(data=DataConfig(name="arrays", binarize="none"),
                       model=ModelConfig(arch="mlp", shape=(1, 6, 6), latent_dim=2, hidden=(32,)),
                       train=TrainConfig(epochs=15, batch_size=32, lr=1e-2, device="cpu"))
    return train(config, Splits(data, data[:50], data[:50]), progress=False)


@pytest.mark.parametrize("method", ["map", "encode"])
def test_denoising_a_learnt_pattern_beats_the_noisy_input_by_3_db(pattern_model, method):
    clean = PATTERNS.repeat(50, 1, 1, 1)
    noisy = add_noise(clean, "gaussian:0.5", torch.Generator().manual_seed(5))
    restored = denoise(pattern_model, noisy, method, sigma=0.5 if method == "map" else None)
    assert psnr(restored, clean).mean() > psnr(noisy, clean).mean() + 3


@pytest.mark.parametrize("method", ["iterate", "optimize"])
def test_inpainting_recovers_the_hidden_half_of_a_learnt_pattern(pattern_model, method):
    """The known right half says which pattern it is, so the model can fill the left."""
    model, patterns = pattern_model, PATTERNS
    known = make_mask("left", (1, 6, 6))
    filled = inpaint(model, patterns, known, method=method, steps=60)
    assert torch.equal(filled[..., 3:], patterns[..., 3:])  # the known right half is kept exactly
    error = masked_error(filled, patterns, known)
    grey = masked_error(torch.full_like(patterns, 0.5), patterns, known)
    assert error < 0.1 * grey, f"{method}: masked MSE {error:.4f} against 0.5 grey's {grey:.4f}"
    assert math.isfinite(error)
