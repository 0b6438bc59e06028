"""Convolutional encoder/decoder for (C, H, W) images: one stride-2 stage per entry of `channels`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError
from ..registry import Architecture, architectures

# ConvTranspose2d(k=4, s=2, p=1) as a 3x3 convolution: output phase a (row parity) at input offset
# dy uses kernel tap ky = _TAP[(a, dy)]; the pairs not listed contribute nothing.
_TAP = {(0, -1): 3, (0, 0): 1, (1, 0): 2, (1, 1): 0}


class Upsample2x(nn.ConvTranspose2d):
    """ConvTranspose2d(kernel 4, stride 2, padding 1): the same parameters and result, faster to evaluate.

    PyTorch's CPU transposed convolution is slow in the default memory layout, and slowest with
    few output channels, which dominates IWAE evaluation (thousands of decodes per image). So,
    without autograd on CPU: with few output channels, compute it as a 3x3 convolution producing
    the four sub-pixel phases, then a pixel shuffle (Shi et al. 2016), the same sum in another
    order; otherwise run it in channels-last layout, which oneDNN runs faster. With autograd the
    standard kernel is kept: these forms make the backward pass slower than they save. The
    measurements behind these choices: docs/design-notes.md.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=4, stride=2, padding=1)
        self.subpixel = 4 * out_channels <= in_channels
        self._subpixel_cache: tuple[tuple, Tensor, Tensor | None] | None = None

    def train(self, mode: bool = True):
        self._subpixel_cache = None  # rebuilt lazily: never kept across a switch of mode
        return super().train(mode)

    def subpixel_params(self) -> tuple[Tensor, Tensor | None]:
        """The sub-pixel weight and bias, rebuilt only when the weights change (rebuilding them costs as
        much as a small decoder's pass). In-place updates (optimiser steps, load_state_dict) bump the
        version counter that keys the cache."""
        key = (self.weight._version, self.weight.data_ptr(),
               None if self.bias is None else (self.bias._version, self.bias.data_ptr()))
        if self._subpixel_cache is None or self._subpixel_cache[0] != key:
            bias = self.bias.repeat_interleave(4) if self.bias is not None else None
            self._subpixel_cache = (key, self.subpixel_weight(), bias)
        return self._subpixel_cache[1], self._subpixel_cache[2]

    def subpixel_weight(self) -> Tensor:
        """(C_in, C_out, 4, 4) transposed-conv weight -> (4 C_out, C_in, 3, 3) conv weight, phases last."""
        w = self.weight
        k = w.new_zeros(self.out_channels, 2, 2, self.in_channels, 3, 3)
        for (a, dy), ky in _TAP.items():
            for (b, dx), kx in _TAP.items():
                k[:, a, b, :, dy + 1, dx + 1] = w[:, :, ky, kx].T
        return k.reshape(4 * self.out_channels, self.in_channels, 3, 3)

    def forward(self, h: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, 2H, 2W)
        if torch.is_grad_enabled() or h.device.type != "cpu":
            return super().forward(h)
        if self.subpixel:
            weight, bias = self.subpixel_params()
            return F.pixel_shuffle(F.conv2d(h, weight, bias, padding=1), 2)
        return super().forward(h.contiguous(memory_format=torch.channels_last)).contiguous()


class ResidualBlock(nn.Module):
    """x + conv3x3(relu(conv3x3(relu(x)))): extra depth at one resolution without changing its shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _dense_stack(sizes: list[int]) -> nn.Sequential:
    """Linear + ReLU for each consecutive pair: the optional fully connected layers around z."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """`cond_features` extra inputs (a conditional VAE's one-hot label) join the flattened conv features."""

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], out_features: int,
                 cond_features: int = 0, dense: tuple[int, ...] = (), res_blocks: int = 0):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(c, width, kernel_size=4, stride=2, padding=1),
                       *(ResidualBlock(width) for _ in range(res_blocks)), nn.ReLU()]
            c, h, w = width, h // 2, w // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.dense = _dense_stack([c * h * w + cond_features, *dense])
        self.head = nn.Linear(dense[-1] if dense else c * h * w + cond_features, out_features)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:  # (B, C, H, W) -> (B, out_features)
        h = self.features(x)
        return self.head(self.dense(h if cond is None else torch.cat([h, cond], -1)))


class ConvDecoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], latent_dim: int,
                 dense: tuple[int, ...] = (), res_blocks: int = 0):
        super().__init__()
        c_out, h, w = shape
        scale = 2 ** len(channels)
        self.start = (channels[-1], h // scale, w // scale)  # (C, H, W) the transposed convs start from
        self.dense = _dense_stack([latent_dim, *reversed(dense)])
        self.fc = nn.Linear(dense[0] if dense else latent_dim, channels[-1] * (h // scale) * (w // scale))
        layers: list[nn.Module] = []
        widths = list(reversed(channels))
        for a, b in zip(widths, widths[1:] + [c_out]):
            layers += [*(ResidualBlock(a) for _ in range(res_blocks)), nn.ReLU(), Upsample2x(a, b)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:  # (..., L) -> (..., C, H, W)
        lead = z.shape[:-1]  # deterministic: no use for the generator
        h = self.fc(self.dense(z.reshape(-1, z.shape[-1]))).view(-1, *self.start)
        out = self.net(h)
        return out.view(*lead, *out.shape[1:])


def build_conv(config, out_features: int):
    shape = config.shape
    scale = 2 ** len(config.channels)
    if len(shape) != 3 or shape[1] % scale or shape[2] % scale:
        raise InputError(
            f"the conv architecture needs (C, H, W) images with H and W divisible by {scale} "
            f"({len(config.channels)} stride-2 stages); got shape {shape}. Use {{model}} mlp or fewer {{channels}}"
        )
    return (
        ConvEncoder(shape, config.channels, out_features, config.num_classes, config.dense, config.res_blocks),
        ConvDecoder(shape, config.channels, config.latent_dim + config.num_classes, config.dense, config.res_blocks),
    )


architectures.register("conv")(Architecture(build_conv))
