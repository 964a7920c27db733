import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from stegdetect.sensitivity import (
    MIN_INFORMATION_DB, SATURATION, DirectionResult, judge, mean_image_psnr, psnr, quantize_8bit, sweep,
)

LEVELS = 8  # coarse quantization that the synthetic "translation" keeps openly


def coarse(x: torch.Tensor) -> torch.Tensor:
    return torch.round((x + 1) / 2 * (LEVELS - 1)) / (LEVELS - 1) * 2 - 1


def stego_pair(epsilon: float):
    """A translation that keeps a coarse image openly and hides the rest at amplitude ``epsilon``."""

    def forward(x):
        return coarse(x) + epsilon * (x - coarse(x))

    def backward(y):
        return coarse(y) + (y - coarse(y)) / epsilon

    return forward, backward


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(0)
    return torch.rand(6, 3, 16, 16, generator=generator) * 2 - 1


def test_psnr_matches_skimage(images):
    noisy = images + 0.05 * torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    ours = psnr(images, noisy)
    for i in range(len(images)):
        expected = peak_signal_noise_ratio(images[i].numpy(), noisy[i].numpy(), data_range=2.0)
        assert ours[i].item() == pytest.approx(expected, abs=1e-4)


def test_psnr_identical_is_infinite(images):
    assert torch.isinf(psnr(images, images)).all()


def test_quantize_8bit_grid_and_error(images):
    rounded = quantize_8bit(images)
    levels = (rounded + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert (rounded - images).abs().max().item() <= 1 / 255 + 1e-6


def test_sweep_identity_pair_gain_one(images):
    result = sweep(lambda x: x, lambda y: y, images, noise_levels=(0.01, 0.1))
    assert math.isinf(result.clean.psnr)
    for condition in result.noise:
        assert condition.gain == pytest.approx(1.0, rel=0.05)
        expected_psnr = 10 * math.log10(4 / condition.level**2)
        assert condition.psnr == pytest.approx(expected_psnr, abs=0.3)


def test_sweep_stego_pair_amplifies(images):
    forward, backward = stego_pair(epsilon=0.02)
    result = sweep(forward, backward, images, noise_levels=(0.001, 0.01))
    assert result.clean.psnr > 60
    # Noise that moves no pixel across a coarse level is amplified exactly 1 / epsilon = 50 times.
    assert result.noise[0].gain == pytest.approx(50, rel=0.1)
    assert result.noise[1].psnr < result.clean.psnr - 20


def test_sweep_rejects_bad_shape():
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        sweep(lambda x: x, lambda y: y, torch.zeros(3, 16, 16))


def test_sweep_rejects_nonpositive_noise(images):
    with pytest.raises(ValueError, match="positive"):
        sweep(lambda x: x, lambda y: y, images, noise_levels=(0.0,))


def test_judge_detects_stego_pair(images):
    forward, backward = stego_pair(epsilon=0.02)
    result = judge(sweep(forward, backward, images))
    assert result.hidden_information_detected
    assert all(reason.endswith("pass") for reason in result.reasons)
    assert result.verdict == "detected"


def test_judge_passes_open_pair(images):
    result = judge(sweep(lambda x: x, lambda y: y, images))
    assert not result.hidden_information_detected
    assert result.verdict == "not detected"


def test_mean_image_psnr_leaves_each_image_out(images):
    expected = []
    for i in range(len(images)):
        others = np.delete(images.numpy(), i, axis=0).mean(axis=0)
        expected.append(peak_signal_noise_ratio(images[i].numpy(), others, data_range=2.0))
    assert mean_image_psnr(images) == pytest.approx(np.mean(expected), abs=1e-4)


def test_mean_image_psnr_needs_two_images(images):
    assert mean_image_psnr(images[:1]) is None


def test_judge_uninformative_reconstruction_is_inconclusive(images):
    # Each image is rebuilt as its neighbour in the batch: a perfect decoder of a fragile code,
    # but of the wrong image, so the reconstruction has no information about its input.
    forward, backward = stego_pair(epsilon=0.02)
    result = judge(sweep(forward, lambda y: backward(y).roll(1, dims=0), images))
    assert result.clean.psnr < result.mean_image_psnr
    assert result.noise[0].gain > 3
    assert not result.hidden_information_detected
    assert result.reasons[0].endswith("fail")
    assert result.verdict == "inconclusive"


def test_judge_single_image_is_inconclusive(images):
    forward, backward = stego_pair(epsilon=0.02)
    result = judge(sweep(forward, backward, images[:1]))
    assert result.mean_image_psnr is None
    assert "at least 2 images, got 1" in result.reasons[0]
    assert result.verdict == "inconclusive"


def test_judge_identical_images_are_inconclusive(images):
    same = images[:1].expand(3, -1, -1, -1).clone()
    result = judge(sweep(lambda x: x, lambda y: y, same))

    assert result.mean_image_psnr > 100
    assert "mean image reproduces each one" in result.reasons[0]
    assert result.verdict == "inconclusive"
    restored = judge(DirectionResult.from_dict(result.to_dict()))
    assert restored.reasons == result.reasons


def test_judge_needs_probe_level(images):
    result = sweep(lambda x: x, lambda y: y, images, noise_levels=(0.1,))
    with pytest.raises(ValueError, match="needs noise std 0.01"):
        judge(result)


def test_judge_poor_but_robust_reconstruction_is_not_detected():
    # The translation keeps only 4 x 4 block means openly and a fragile code is absent: the
    # reconstruction is poor (about 14 dB) but informative, and noise barely moves it.
    generator = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(8, 3, 4, 4, generator=generator) * 2 - 1, size=16)
    images = (smooth + 1.6 * (torch.rand(8, 3, 16, 16, generator=generator) - 0.5)).clamp(-1, 1)

    def blocks(x):
        return torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 4), scale_factor=4)

    result = judge(sweep(blocks, blocks, images))
    assert result.clean.psnr < 16
    assert result.clean.psnr > result.mean_image_psnr + MIN_INFORMATION_DB
    assert result.verdict == "not detected"


def test_result_dict_round_trip(images):
    forward, backward = stego_pair(epsilon=0.05)
    result = judge(sweep(forward, backward, images, noise_levels=(0.01, 0.1)))
    data = result.to_dict()
    assert data["noise_levels"] == [0.01, 0.1]
    assert data["hidden_information_detected"] is True
    restored = DirectionResult.from_dict(data)
    assert restored.noise[1].psnr == pytest.approx(result.noise[1].psnr)
    assert restored.mean_image_psnr == pytest.approx(result.mean_image_psnr)
    assert restored.hidden_information_detected
    assert [c.psnr for c in restored.localized] == pytest.approx([c.psnr for c in result.localized])
    assert restored.saturated_share == result.saturated_share
    assert restored.saturation == SATURATION


def test_result_dict_perfect_psnr_is_null(images):
    data = sweep(lambda x: x, lambda y: y, images, noise_levels=(0.01,)).to_dict()
    assert data["clean"]["psnr"] is None
    assert np.isfinite(data["noise_psnr"][0])


def saturated_code_pair():
    """A translation squeezed into the flat end of tanh, and its exact inverse, as a residual generator's atanh skip would read it."""

    def forward(x):
        return torch.tanh(-3 + 0.5 * x)

    def backward(y):
        # Clamped as the residual generator clamps, so that noise past -1 stays finite.
        return (torch.atanh(y.clamp(-0.999, 0.999)) + 3) / 0.5

    return forward, backward


def test_localized_noise_finds_a_code_in_saturated_values(images):
    forward, backward = saturated_code_pair()
    assert forward(images).abs().min() >= SATURATION

    result = sweep(forward, backward, images, noise_levels=(0.01,))

    assert result.saturated_share == 1.0
    saturated, unsaturated = result.localized
    assert saturated.name == "gaussian, saturated values"
    # The whole probe falls on saturated values, so that half is the probe condition itself.
    assert saturated.psnr == pytest.approx(result.noise[0].psnr)
    assert saturated.level == pytest.approx(0.01, rel=0.05)
    # atanh has a slope of at least 1 / (1 - 0.9866^2) = 37 there, and the decoder doubles it.
    assert saturated.gain > 50
    assert unsaturated.level == 0.0
    assert unsaturated.psnr == result.clean.psnr


def test_localized_noise_splits_the_probe_draw(images):
    """Half the values saturated and a linear decoder: the two parts add up to the probe noise."""
    left = torch.zeros_like(images, dtype=torch.bool)
    left[..., : images.shape[-1] // 2] = True

    def forward(x):
        return torch.where(left, torch.full_like(x, 0.99), 0.5 * x)

    def backward(y):
        return 2 * y

    result = sweep(forward, backward, images, noise_levels=(0.003, 0.01, 0.03))

    assert result.saturated_share == 0.5
    saturated, unsaturated = result.localized
    probe = result.noise[1]
    total_rms_squared = saturated.level**2 + unsaturated.level**2
    # The 0.01 draw is the one split, not the 0.003 or 0.03 draws.
    assert total_rms_squared == pytest.approx(0.01**2, rel=0.05)
    assert saturated.level == pytest.approx(unsaturated.level, rel=0.1)
    # A linear decoder doubles each part, and the squared changes of disjoint parts add up.
    assert saturated.gain == pytest.approx(2.0, rel=1e-4)
    assert unsaturated.gain == pytest.approx(2.0, rel=1e-4)
    assert probe.gain == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("saturation", [0.0, -0.5, 1.5])
def test_sweep_rejects_bad_saturation(images, saturation):
    with pytest.raises(ValueError, match="saturation must be in"):
        sweep(lambda x: x, lambda y: y, images, noise_levels=(0.01,), saturation=saturation)


def test_localized_noise_needs_the_probe_level(images):
    result = sweep(lambda x: x, lambda y: y, images, noise_levels=(0.1,))
    assert result.localized == []
    # Uniform values in [-1, 1] reach a magnitude of 0.95 or more with probability 0.05.
    assert result.saturated_share == pytest.approx(1 - SATURATION, abs=0.01)


def test_sweep_rejects_nan_translation(images):
    from stegdetect.sensitivity import DivergedError

    with pytest.raises(DivergedError, match="AB cycle's translation contains NaN"):
        sweep(lambda x: x * float("nan"), lambda y: y, images, noise_levels=(0.01,))


def test_sweep_rejects_infinite_reconstruction(images):
    from stegdetect.sensitivity import DivergedError

    with pytest.raises(DivergedError, match="reconstruction contains NaN or infinite"):
        sweep(lambda x: x, lambda y: y / 0, images, noise_levels=(0.01,))


def test_localized_text_names_empty_part(images):
    from stegdetect.cli import _localized_text

    forward, backward = saturated_code_pair()
    result = sweep(forward, backward, images, noise_levels=(0.01,))

    text = _localized_text(result, 0.01)

    assert "on the 100.0% of translation values at |y| >= 0.95 only: PSNR" in text
    assert text.endswith("on the others only: no such values")
