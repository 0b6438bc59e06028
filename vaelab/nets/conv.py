"""Convolutional encoder/decoder for (C, H, W) images: one stride-2 stage per entry of `channels`."""
from __future__ import annotations

from torch import Tensor, nn

from ..errors import VaelabError
from ..registry import architectures


class ConvEncoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], out_features: int):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(c, width, kernel_size=4, stride=2, padding=1), nn.ReLU()]
            c, h, w = width, h // 2, w // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c * h * w, out_features)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, out_features)
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], latent_dim: int):
        super().__init__()
        c_out, h, w = shape
        scale = 2 ** len(channels)
        self.start = (channels[-1], h // scale, w // scale)  # (C, H, W) the transposed convs start from
        self.fc = nn.Linear(latent_dim, channels[-1] * (h // scale) * (w // scale))
        layers: list[nn.Module] = []
        widths = list(reversed(channels))
        for a, b in zip(widths, widths[1:] + [c_out]):
            layers += [nn.ReLU(), nn.ConvTranspose2d(a, b, kernel_size=4, stride=2, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:  # (..., L) -> (..., C, H, W)
        lead = z.shape[:-1]
        h = self.fc(z.reshape(-1, z.shape[-1])).view(-1, *self.start)
        out = self.net(h)
        return out.view(*lead, *out.shape[1:])


@architectures.register("conv")
def build_conv(config, out_features: int):
    shape = config.shape
    scale = 2 ** len(config.channels)
    if len(shape) != 3 or shape[1] % scale or shape[2] % scale:
        raise VaelabError(
            f"the conv architecture needs (C, H, W) images with H and W divisible by {scale} "
            f"({len(config.channels)} stride-2 stages); got shape {shape}. Use --model mlp or fewer --channels"
        )
    return (
        ConvEncoder(shape, config.channels, out_features),
        ConvDecoder(shape, config.channels, config.latent_dim),
    )
