"""Tests for stegdetect.reveal on synthetic images with known residuals."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import exposure

from stegdetect.reveal import (
    check_image,
    clahe_channels,
    highpass_residual,
    reveal_residual,
    stretch,
)

SIZE = 64
CODE_AMPLITUDE = 1 / 255


def gradient(size: int = SIZE) -> np.ndarray:
    """Return a linear ramp from 0.2 to 0.8 along the image diagonal."""
    rows, cols = np.mgrid[0:size, 0:size]
    return 0.2 + 0.6 * (rows + cols) / (2 * (size - 1))


def checkerboard(size: int = SIZE, amplitude: float = CODE_AMPLITUDE) -> np.ndarray:
    """Return a zero-mean +-amplitude checkerboard, the strongest code at the Nyquist frequency."""
    rows, cols = np.mgrid[0:size, 0:size]
    return np.where((rows + cols) % 2 == 0, amplitude, -amplitude)


def coded_gradient() -> np.ndarray:
    """Return the gradient with the checkerboard code added to its top-left quadrant only."""
    image = gradient()
    half = SIZE // 2
    image[:half, :half] += checkerboard()[:half, :half]
    return image


INVALID_IMAGES = {
    "1-D": np.full(64, 0.5),
    "4-D": np.full((16, 16, 3, 1), 0.5),
    "two channels": np.full((16, 16, 2), 0.5),
    "too small": np.full((7, 16), 0.5),
    "NaN": np.where(np.eye(16, dtype=bool), np.nan, 0.5),
    "infinite": np.where(np.eye(16, dtype=bool), np.inf, 0.5),
    "above one": np.full((16, 16), 1.5),
    "below zero": np.full((16, 16), -0.1),
    "uint8": np.full((16, 16), 128, dtype=np.uint8),
}


@pytest.mark.parametrize("function", [check_image, clahe_channels, highpass_residual, reveal_residual])
@pytest.mark.parametrize("case", INVALID_IMAGES)
def test_invalid_image_raises(function, case):
    with pytest.raises(ValueError):
        function(INVALID_IMAGES[case])


def test_check_image_adds_channel_axis():
    checked = check_image(np.full((16, 12), 0.5))

    assert checked.shape == (16, 12, 1)
    assert checked.dtype == np.float64


def test_check_image_drops_alpha():
    rgba = np.random.default_rng(0).random((16, 16, 4))

    checked = check_image(rgba)

    assert checked.shape == (16, 16, 3)
    np.testing.assert_array_equal(checked, rgba[:, :, :3])


def test_check_image_accepts_bounds():
    image = np.zeros((8, 8))
    image[0, 0] = 1.0

    checked = check_image(image)

    assert checked.min() == 0.0
    assert checked.max() == 1.0


def test_highpass_residual_flat_is_zero():
    residual = highpass_residual(np.full((32, 32, 3), 0.4))

    np.testing.assert_allclose(residual, 0.0, atol=1e-12)


def test_highpass_residual_keeps_shape():
    assert highpass_residual(np.full((20, 30), 0.4)).shape == (20, 30)
    assert highpass_residual(np.full((20, 30, 1), 0.4)).shape == (20, 30, 1)
    assert highpass_residual(np.full((20, 30, 3), 0.4)).shape == (20, 30, 3)
    assert highpass_residual(np.full((20, 30, 4), 0.4)).shape == (20, 30, 3)


def test_highpass_residual_ramp_interior_is_zero():
    # A Gaussian filter preserves linear functions, so only the reflected border differs.
    residual = highpass_residual(gradient(), sigma=1.0)
    margin = 5

    np.testing.assert_allclose(residual[margin:-margin, margin:-margin], 0.0, atol=1e-12)
    assert np.abs(residual).max() > CODE_AMPLITUDE / 10


def test_highpass_residual_passes_checkerboard():
    # The Gaussian's gain at the Nyquist frequency is about 0.014 per axis for sigma = 1, so
    # the residual of a checkerboard on a flat background is the checkerboard within 1e-3.
    code = checkerboard()
    residual = highpass_residual(0.5 + code, sigma=1.0)
    margin = 5
    interior = (slice(margin, -margin), slice(margin, -margin))

    np.testing.assert_allclose(residual[interior], code[interior], rtol=1e-3)


@pytest.mark.parametrize("sigma", [0.0, -1.0, np.nan, np.inf])
def test_highpass_residual_invalid_sigma(sigma):
    with pytest.raises(ValueError):
        highpass_residual(gradient(), sigma=sigma)


def test_stretch_maps_zero_to_half():
    residual = np.array([[-0.01, 0.0, 0.01], [0.005, -0.005, 0.0]])

    stretched = stretch(residual, percentile=100)

    np.testing.assert_allclose(stretched, [[0.0, 0.5, 1.0], [0.75, 0.25, 0.5]])


def test_stretch_clips_outliers():
    # 999 values of +-0.01 and one outlier: the 99.5th percentile of |r| is 0.01.
    residual = np.tile([0.01, -0.01], 500)
    residual[0] = 1.0

    stretched = stretch(residual)

    assert stretched[0] == 1.0
    assert stretched[1] == 0.0
    assert stretched[2] == 1.0


def test_stretch_sparse_code_uses_maximum():
    # Fewer than 0.5 % nonzero values make the percentile zero.
    residual = np.zeros((100, 100))
    residual[0, 0] = 0.002
    residual[0, 1] = -0.004

    stretched = stretch(residual)

    assert stretched[0, 0] == pytest.approx(0.75)
    assert stretched[0, 1] == pytest.approx(0.0)
    assert stretched[50, 50] == 0.5


def test_stretch_rounding_noise_is_zero():
    residual = np.full((16, 16), 1e-17)
    residual[::2] = -1e-17

    stretched = stretch(residual)

    np.testing.assert_array_equal(stretched, 0.5)


@pytest.mark.parametrize(
    "residual",
    [np.array([]), np.array([0.1, np.nan]), np.array([0.1, np.inf]), np.array([1, -1])],
    ids=["empty", "NaN", "infinite", "integer"],
)
def test_stretch_invalid_residual(residual):
    with pytest.raises(ValueError):
        stretch(residual)


@pytest.mark.parametrize("percentile", [0.0, -5.0, 100.5, np.nan])
def test_stretch_invalid_percentile(percentile):
    with pytest.raises(ValueError):
        stretch(np.array([0.1, -0.1]), percentile=percentile)


def test_stretch_invalid_atol():
    with pytest.raises(ValueError):
        stretch(np.array([0.1, -0.1]), atol=-1.0)


def test_clahe_channels_keeps_shape_and_range():
    image = np.random.default_rng(1).random((32, 40, 3))

    equalized = clahe_channels(image)

    assert equalized.shape == (32, 40, 3)
    assert equalized.min() >= 0.0
    assert equalized.max() <= 1.0


def test_clahe_channels_grayscale_shape():
    image = np.random.default_rng(2).random((32, 32))

    assert clahe_channels(image).shape == (32, 32)


def test_clahe_channels_channels_independent():
    rng = np.random.default_rng(3)
    image = rng.random((32, 32, 3))
    changed = image.copy()
    changed[:, :, 2] = rng.random((32, 32))

    original_output = clahe_channels(image)
    changed_output = clahe_channels(changed)

    np.testing.assert_array_equal(original_output[:, :, 0], changed_output[:, :, 0])
    np.testing.assert_array_equal(original_output[:, :, 1], changed_output[:, :, 1])
    assert not np.array_equal(original_output[:, :, 2], changed_output[:, :, 2])


def test_clahe_channels_matches_grayscale_clahe():
    # Each output channel equals skimage's CLAHE of that channel alone, not of the HSV value.
    image = np.random.default_rng(4).random((32, 32, 3))

    equalized = clahe_channels(image, clip_limit=0.02, kernel_size=8)

    for index in range(3):
        expected = exposure.equalize_adapthist(image[:, :, index], kernel_size=8, clip_limit=0.02)
        np.testing.assert_allclose(equalized[:, :, index], expected)


def test_clahe_channels_raises_contrast():
    # A low-contrast patch spanning 0.45 to 0.55 is spread over most of [0, 1].
    image = 0.45 + 0.1 * np.random.default_rng(5).random((32, 32))

    equalized = clahe_channels(image)

    assert np.ptp(equalized) > 0.9


def test_clahe_channels_constant_unchanged():
    image = np.random.default_rng(6).random((32, 32, 3))
    image[:, :, 1] = 0.3

    equalized = clahe_channels(image)

    np.testing.assert_array_equal(equalized[:, :, 1], 0.3)


@pytest.mark.parametrize("clip_limit", [-0.01, 1.5, 2.0, np.nan])
def test_clahe_channels_invalid_clip_limit(clip_limit):
    with pytest.raises(ValueError):
        clahe_channels(gradient(), clip_limit=clip_limit)


@pytest.mark.parametrize("kernel_size", [0, -4, 2.5, (8,), (8, 0), (8, 8, 8), "8", True])
def test_clahe_channels_invalid_kernel_size(kernel_size):
    with pytest.raises(ValueError):
        clahe_channels(gradient(), kernel_size=kernel_size)


def test_reveal_residual_shows_code():
    revealed = reveal_residual(coded_gradient())
    # Compare quadrant interiors, away from the image border and the code's edge.
    coded = revealed[8:28, 8:28]
    uncoded = revealed[36:56, 36:56]

    assert coded.std() > 0.2
    assert uncoded.std() < 0.02
    assert coded.std() > 20 * uncoded.std()


def test_reveal_residual_code_in_one_channel():
    base = gradient()
    image = np.stack([base, base + checkerboard(), base], axis=-1)

    revealed = reveal_residual(image)
    interior = (slice(8, -8), slice(8, -8))

    assert revealed[:, :, 1][interior].std() > 0.2
    assert revealed[:, :, 0][interior].std() < 0.02
    assert revealed[:, :, 2][interior].std() < 0.02


def test_reveal_residual_keeps_shape_and_range():
    revealed = reveal_residual(np.random.default_rng(7).random((32, 48, 4)))

    assert revealed.shape == (32, 48, 3)
    assert revealed.min() >= 0.0
    assert revealed.max() <= 1.0


def test_reveal_residual_flat_is_mid_gray():
    revealed = reveal_residual(np.full((32, 32, 3), 0.7))

    np.testing.assert_array_equal(revealed, 0.5)


def test_reveal_residual_small_image():
    # The default CLAHE contextual region is 8 x 8 pixels here, a quarter of each side.
    revealed = reveal_residual(0.5 + checkerboard(size=32))

    assert revealed.shape == (32, 32)
    assert revealed.std() > 0.2
