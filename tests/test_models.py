"""Tests for the networks, the LSGAN loss and the cycle-path noise defense."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cyclegan.defenses import cycle_perturb
from cyclegan.losses import lsgan_loss, r1_penalty, vanilla_gan_loss
from cyclegan.models import (
    NORMS,
    PatchDiscriminator,
    ResnetGenerator,
    init_weights,
    make_norm,
)


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def patchgan_output_size(size: int, n_layers: int) -> int:
    """Compute the PatchGAN output side: n_layers stride-2 4x4 convolutions, then two stride-1 ones."""
    for _ in range(n_layers):
        size = conv_output_size(size, kernel=4, stride=2, padding=1)
    for _ in range(2):
        size = conv_output_size(size, kernel=4, stride=1, padding=1)
    return size


# Generators


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(
    ("height", "width", "ngf", "n_blocks", "n_downsampling"),
    [
        (16, 16, 4, 1, 2),
        (32, 32, 8, 2, 2),
        (24, 16, 4, 0, 2),
        (16, 32, 4, 1, 3),
        (12, 20, 4, 1, 1),
    ],
)
def test_generator_preserves_shape(height, width, ngf, n_blocks, n_downsampling, norm):
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=ngf, n_blocks=n_blocks, norm=norm, n_downsampling=n_downsampling)
    x = torch.rand(2, 3, height, width) * 2 - 1

    y = net(x)

    assert y.shape == x.shape


@pytest.mark.parametrize("norm", NORMS)
def test_generator_output_in_tanh_range(norm):
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=1, norm=norm)
    # Inputs far outside [-1, 1] push the pre-tanh values to large magnitudes.
    x = torch.randn(2, 3, 16, 16) * 50

    y = net(x)

    assert y.min().item() >= -1.0
    assert y.max().item() <= 1.0


def test_generator_channel_counts():
    net = ResnetGenerator(in_channels=1, out_channels=3, ngf=4, n_blocks=1)

    y = net(torch.zeros(1, 1, 16, 16))

    assert y.shape == (1, 3, 16, 16)


@pytest.mark.parametrize(
    ("height", "width", "n_downsampling"),
    [(18, 16, 2), (16, 18, 2), (20, 20, 3), (15, 16, 1)],
)
def test_generator_rejects_indivisible_size(height, width, n_downsampling):
    net = ResnetGenerator(ngf=4, n_blocks=1, n_downsampling=n_downsampling)

    with pytest.raises(ValueError, match=f"not divisible by {2**n_downsampling}"):
        net(torch.zeros(1, 3, height, width))


def test_generator_has_residual_blocks():
    net = ResnetGenerator(ngf=4, n_blocks=3)
    block_count = sum(type(m).__name__ == "ResnetBlock" for m in net.modules())

    assert block_count == 3


def test_residual_generator_starts_as_identity():
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(ngf=8, n_blocks=2, norm="layer", residual=True))
    x = torch.rand(2, 3, 16, 16) * 1.8 - 0.9

    with torch.no_grad():
        out = net(x)

    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_residual_generator_adds_before_tanh():
    net = init_weights(ResnetGenerator(ngf=8, n_blocks=1, norm="layer", residual=True))
    with torch.no_grad():
        net.head[-1].bias.copy_(torch.tensor([0.5, -0.25, 0.0]))
    x = torch.rand(1, 3, 8, 8) * 1.6 - 0.8
    shift = torch.tensor([0.5, -0.25, 0.0]).view(1, 3, 1, 1)
    expected = np.tanh(np.arctanh(x.numpy().astype(np.float64)) + shift.numpy())

    with torch.no_grad():
        out = net(x)

    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


def test_residual_generator_saturated_pixels_stay_finite():
    net = init_weights(ResnetGenerator(ngf=8, n_blocks=1, norm="layer", residual=True))
    x = torch.ones(1, 3, 8, 8)
    x[:, :, :4] = -1

    out = net(x)
    out.sum().backward()

    assert torch.isfinite(out).all()
    assert out.abs().max().item() == pytest.approx(0.999, abs=1e-4)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_residual_init_zeroes_only_last_layer():
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(ngf=8, n_blocks=1, norm="layer", residual=True))
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]

    assert torch.count_nonzero(convs[-1].weight).item() == 0
    assert torch.count_nonzero(convs[-1].bias).item() == 0
    assert all(conv.weight.std().item() == pytest.approx(0.02, rel=0.5) for conv in convs[:-1])


def test_residual_generator_rejects_channel_change():
    with pytest.raises(ValueError, match="as many output as input channels"):
        ResnetGenerator(in_channels=3, out_channels=1, residual=True)


def test_plain_generator_is_not_identity_after_init():
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(ngf=8, n_blocks=2, norm="layer"))
    x = torch.rand(2, 3, 16, 16) * 1.8 - 0.9

    with torch.no_grad():
        assert (net(x) - x).abs().mean().item() > 0.1


# Discriminator


def test_discriminator_classic_output_size():
    net = PatchDiscriminator(ndf=4, n_layers=3)

    with torch.no_grad():
        y = net(torch.zeros(1, 3, 256, 256))

    assert y.shape == (1, 1, 30, 30)


@pytest.mark.parametrize(("size", "n_layers"), [(64, 3), (96, 3), (32, 2), (48, 1)])
def test_discriminator_output_size(size, n_layers):
    net = PatchDiscriminator(ndf=4, n_layers=n_layers)
    expected = patchgan_output_size(size, n_layers)

    with torch.no_grad():
        y = net(torch.zeros(2, 3, size, size))

    assert y.shape == (2, 1, expected, expected)


def test_discriminator_receptive_field_is_70():
    # Instance norm couples every output to every input pixel through the mean, so the receptive
    # field is measured without normalization.
    torch.manual_seed(0)
    net = PatchDiscriminator(ndf=4, n_layers=3, norm="none").double()
    size = 160
    x = torch.randn(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    y = net(x)
    row, col = y.shape[-2] // 2, y.shape[-1] // 2

    y[0, 0, row, col].backward()
    influence = x.grad[0].abs().sum(0)
    rows = torch.nonzero(influence.sum(1)).flatten()
    cols = torch.nonzero(influence.sum(0)).flatten()

    # Three stride-2 layers give an output stride of 8. The 1 px paddings of the five layers, at
    # input strides 1, 2, 4, 8 and 8, shift the window by 23 px.
    first = 8 * row - 23
    assert rows.min().item() == first
    assert rows.max().item() == first + 69
    assert len(rows) == 70
    assert cols.min().item() == 8 * col - 23
    assert len(cols) == 70


def test_discriminator_first_layer_unnormalized():
    net = PatchDiscriminator(ndf=4, n_layers=3, norm="batch")
    layers = list(net.model)

    assert isinstance(layers[0], nn.Conv2d)
    assert isinstance(layers[1], nn.LeakyReLU)
    assert layers[1].negative_slope == 0.2


# Initialization and normalization


def test_init_weights_conv_std():
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(ngf=8, n_blocks=2, norm="batch"))
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.detach().flatten() for m in convs])

    assert weights.numel() > 10_000
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    assert abs(weights.mean().item()) < 0.001


def test_init_weights_zeroes_biases():
    net = init_weights(PatchDiscriminator(ndf=4, n_layers=2, norm="instance"))
    biases = [m.bias for m in net.modules() if isinstance(m, nn.Conv2d) and m.bias is not None]

    assert len(biases) > 0
    for bias in biases:
        assert torch.count_nonzero(bias).item() == 0


def test_init_weights_norm_scales():
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(ngf=8, n_blocks=2, norm="batch"))
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([m.weight.detach() for m in norms])
    shifts = torch.cat([m.bias.detach() for m in norms])

    assert scales.mean().item() == pytest.approx(1.0, abs=0.01)
    assert scales.std().item() == pytest.approx(0.02, rel=0.3)
    assert torch.count_nonzero(shifts).item() == 0


@pytest.mark.parametrize(
    ("kind", "expected_type"),
    [
        ("instance", nn.InstanceNorm2d),
        ("batch", nn.BatchNorm2d),
        ("layer", nn.GroupNorm),
        ("none", nn.Identity),
    ],
)
def test_make_norm_kinds(kind, expected_type):
    assert isinstance(make_norm(kind, 8), expected_type)


def test_make_norm_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown norm 'spectral'"):
        make_norm("spectral", 8)


# Loss


def test_lsgan_loss_real_target():
    prediction = torch.tensor([[0.5, -1.0], [2.0, 1.0]])
    values = np.array([0.5, -1.0, 2.0, 1.0])
    expected = np.mean((values - 1.0) ** 2)

    loss = lsgan_loss(prediction, True)

    assert loss.item() == pytest.approx(expected)
    assert loss.item() == pytest.approx(1.3125)


def test_lsgan_loss_fake_target():
    prediction = torch.tensor([[0.5, -1.0], [2.0, 1.0]])
    values = np.array([0.5, -1.0, 2.0, 1.0])
    expected = np.mean(values**2)

    loss = lsgan_loss(prediction, False)

    assert loss.item() == pytest.approx(expected)
    assert loss.item() == pytest.approx(1.5625)


def test_lsgan_loss_patch_map():
    torch.manual_seed(0)
    prediction = torch.randn(2, 1, 5, 5)
    values = prediction.numpy().astype(np.float64)

    assert lsgan_loss(prediction, True).item() == pytest.approx(np.mean((values - 1) ** 2), rel=1e-5)
    assert lsgan_loss(prediction, False).item() == pytest.approx(np.mean(values**2), rel=1e-5)


def test_vanilla_gan_loss_targets():
    prediction = torch.tensor([[0.5, -1.0], [2.0, 30.0]])
    values = np.array([0.5, -1.0, 2.0, 30.0])

    # -log(sigmoid(x)) = log(1 + exp(-x)) and -log(1 - sigmoid(x)) = log(1 + exp(x)).
    real = vanilla_gan_loss(prediction, True).item()
    fake = vanilla_gan_loss(prediction, False).item()

    assert real == pytest.approx(np.mean(np.log1p(np.exp(-values))), rel=1e-6)
    assert fake == pytest.approx(np.mean(np.log1p(np.exp(values))), rel=1e-6)


def test_r1_penalty_linear_patch_scores():
    weights = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    real = torch.randn(2, 3, 4, 4)

    def discriminator(x):
        return (x * weights).sum(dim=1, keepdim=True)

    scores, penalty = r1_penalty(discriminator, real)

    # The mean of 16 patch scores has gradient w_c / 16 at every pixel: 16 * 3 entries per image.
    assert torch.allclose(scores, discriminator(real))
    assert penalty.item() == pytest.approx((1 + 4 + 9) / 16)


def test_r1_penalty_quadratic_score():
    real = torch.randn(3, 2, 5, 5, dtype=torch.float64)

    _, penalty = r1_penalty(lambda x: x.pow(2).mean(dim=(1, 2, 3), keepdim=True), real)

    # The gradient of mean(x^2) over n = 50 values is 2 x / n.
    values = real.numpy().reshape(3, -1)
    expected = np.mean(np.sum((2 * values / 50) ** 2, axis=1))
    assert penalty.item() == pytest.approx(expected, rel=1e-9)


def test_r1_penalty_one_score_per_image():
    real = torch.randn(4, 3, 2, 2)

    _, penalty = r1_penalty(lambda x: 3 * x.flatten(1).sum(dim=1), real)

    # Each of the 12 values of an image has gradient 3, whatever the batch size.
    assert penalty.item() == pytest.approx(12 * 9)


def test_r1_penalty_differentiable():
    real = torch.randn(1, 1, 2, 2)
    weight = torch.tensor(2.0, requires_grad=True)

    _, penalty = r1_penalty(lambda x: weight * x, real)
    penalty.backward()

    # Each of the 4 pixels has gradient weight / 4, so the penalty is weight^2 / 4 and its derivative weight / 2.
    assert weight.grad.item() == pytest.approx(1.0)


# Cycle-path defense


def test_cycle_perturb_zero_std_identity():
    fake = torch.rand(2, 3, 8, 8)

    out = cycle_perturb(fake, 0.0)

    assert torch.equal(out, fake)


def test_cycle_perturb_noise_std():
    fake = torch.rand(4, 3, 64, 64) * 2 - 1
    generator = torch.Generator().manual_seed(0)

    noise = cycle_perturb(fake, 0.1, generator=generator) - fake

    assert noise.std().item() == pytest.approx(0.1, rel=0.02)
    assert abs(noise.mean().item()) < 0.002


def test_cycle_perturb_generator_reproducible():
    fake = torch.zeros(1, 3, 8, 8)

    first = cycle_perturb(fake, 0.5, generator=torch.Generator().manual_seed(3))
    second = cycle_perturb(fake, 0.5, generator=torch.Generator().manual_seed(3))

    assert torch.equal(first, second)
    assert not torch.equal(first, fake)


@pytest.mark.parametrize("noise_std", [0.0, 0.3])
def test_cycle_perturb_gradient_is_identity(noise_std):
    fake = torch.rand(1, 3, 4, 4, requires_grad=True)
    weights = torch.randn(1, 3, 4, 4)

    (cycle_perturb(fake, noise_std) * weights).sum().backward()

    assert torch.equal(fake.grad, weights)
