"""CycleGAN networks: the ResNet generator and the PatchGAN discriminator.

The generator follows Johnson et al., "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution" (2016), as used by Zhu et al., "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks" (2017). The discriminator is the PatchGAN of Isola et al.,
"Image-to-Image Translation with Conditional Adversarial Networks" (2017); with 3 layers its receptive
field is 70x70 pixels.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("instance", "batch", "layer", "none")
# Largest |x| that a residual generator feeds to atanh. atanh(0.999) is about 3.8.
RESIDUAL_CLAMP = 0.999


def residual_skip(x: torch.Tensor) -> torch.Tensor:
    """Return ``atanh(x)``, the input term of a residual generator, with ``x`` clamped to RESIDUAL_CLAMP.

    The clamp keeps pixels at exactly -1 or 1 finite.
    """
    return torch.atanh(x.clamp(-RESIDUAL_CLAMP, RESIDUAL_CLAMP))


def make_norm(kind: str, channels: int) -> nn.Module:
    """Build a normalization layer.

    Parameters
    ----------
    kind : str
        ``"instance"`` (no affine parameters, as in CycleGAN), ``"batch"``, ``"layer"`` (GroupNorm
        with one group, which normalizes over channels and space together) or ``"none"``.
    channels : int
        Number of feature channels.
    """
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; expected one of {', '.join(NORMS)}")


def _conv_bias(norm: str) -> bool:
    # Batch norm has its own shift, so the convolution before it needs no bias. Instance norm
    # without affine parameters removes any bias, which is why the reference keeps it there.
    return norm != "batch"


class ResnetBlock(nn.Module):
    """Two 3x3 convolutions with reflection padding and a residual connection."""

    def __init__(self, channels: int, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=_conv_bias(norm)),
            make_norm(norm, channels),
            nn.ReLU(inplace=True),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=_conv_bias(norm)),
            make_norm(norm, channels),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """ResNet image-to-image generator.

    A 7x7 convolution, ``n_downsampling`` stride-2 convolutions, ``n_blocks`` residual blocks,
    as many transposed convolutions back to full size, and a 7x7 convolution with tanh output.
    Images are N x C x H x W tensors in [-1, 1]; H and W must be divisible by
    ``2 ** n_downsampling``.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels on each side (3 for RGB).
    ngf : int
        Filters in the first layer; the reference uses 64.
    n_blocks : int
        Residual blocks at the lowest resolution; the reference uses 9 for 256 px images.
    norm : str
        Normalization layer, see :func:`make_norm`.
    n_downsampling : int
        Stride-2 stages; the reference uses 2.
    dropout : float
        Dropout probability inside residual blocks (0 in CycleGAN).
    input_skip : bool
        Concatenate the input image to the features before the last 7x7 convolution. Not part of
        CycleGAN: it lets the generator pass full-resolution detail and absolute colour, which the
        down-sampling path and instance norm lose.
    residual : bool
        Add the last convolution's output ``r`` to ``atanh(x)`` before the output tanh, so the
        generator predicts a change of its input: ``tanh(atanh(x) + r)``. Not part of CycleGAN.
        With :func:`init_weights` the last convolution starts at zero, so an untrained generator is
        the identity. Pixels near -1 or 1 change slowly: the output's gradient with respect to
        ``r`` is ``1 - y**2``, about 0.002 at the clamp of 0.999.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        n_downsampling: int = 2,
        dropout: float = 0.0,
        input_skip: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError(
                f"a residual generator needs as many output as input channels, got {in_channels} and {out_channels}"
            )
        self.n_downsampling = n_downsampling
        self.input_skip = input_skip
        self.residual = residual
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            make_norm(norm, ngf),
            nn.ReLU(inplace=True),
        ]

        channels = ngf
        for _ in range(n_downsampling):
            layers += [
                nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1, bias=bias),
                make_norm(norm, channels * 2),
                nn.ReLU(inplace=True),
            ]
            channels *= 2

        layers += [ResnetBlock(channels, norm, dropout) for _ in range(n_blocks)]

        for _ in range(n_downsampling):
            layers += [
                nn.ConvTranspose2d(
                    channels, channels // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                make_norm(norm, channels // 2),
                nn.ReLU(inplace=True),
            ]
            channels //= 2

        self.model = nn.Sequential(*layers)
        head_channels = channels + (in_channels if input_skip else 0)
        # The output tanh is applied in forward, after the optional residual.
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(head_channels, out_channels, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.pre_tanh(x))

    def pre_tanh(self, x: torch.Tensor) -> torch.Tensor:
        """Return the output before the final tanh, which ``forward`` applies."""
        factor = 2**self.n_downsampling
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"image size {tuple(x.shape[-2:])} is not divisible by {factor}; "
                f"resize or crop images to a multiple of {factor} pixels"
            )
        features = self.model(x)
        if self.input_skip:
            features = torch.cat([features, x], dim=1)
        out = self.head(features)
        if self.residual:
            out = out + residual_skip(x)
        return out


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator that scores overlapping patches as real or fake.

    With ``n_layers=3`` each output value depends on a 70x70 patch of the input. The first layer has no
    normalization and all activations are LeakyReLU(0.2), as in pix2pix and CycleGAN. The output is
    a map of raw scores (no sigmoid), suited to the least-squares GAN loss.
    """

    def __init__(
        self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"
    ) -> None:
        super().__init__()
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                make_norm(norm, ndf * mult),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """Initialize convolution weights from N(0, gain) and norm scales from N(1, gain), as CycleGAN does.

    A residual generator's last convolution is set to zero instead, so that it starts as the identity.
    """
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.weight is not None:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    for module in net.modules():
        if isinstance(module, ResnetGenerator) and module.residual:
            nn.init.zeros_(module.head[-1].weight)
            nn.init.zeros_(module.head[-1].bias)
    return net
