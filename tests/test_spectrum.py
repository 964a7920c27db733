"""Tests for stegdetect.spectrum on synthetic images with known spectra."""

from __future__ import annotations

import numpy as np
import pytest

from stegdetect.spectrum import (
    high_frequency_share,
    power_spectrum,
    radial_profile,
    tile_energy_map,
)

SIZE = 64
CODE_AMPLITUDE = 1 / 255


def sinusoid(frequency: float, size: int = SIZE, amplitude: float = 0.25) -> np.ndarray:
    """Return 0.5 plus a sinusoid along the columns at ``frequency`` cycles/pixel."""
    cols = np.arange(size)[np.newaxis, :]
    return np.broadcast_to(0.5 + amplitude * np.sin(2 * np.pi * frequency * cols), (size, size)).copy()


def gradient(size: int = SIZE) -> np.ndarray:
    """Return a linear ramp from 0.2 to 0.8 along the image diagonal."""
    rows, cols = np.mgrid[0:size, 0:size]
    return 0.2 + 0.6 * (rows + cols) / (2 * (size - 1))


def checkerboard(size: int = SIZE, amplitude: float = CODE_AMPLITUDE) -> np.ndarray:
    """Return a zero-mean +-amplitude checkerboard, the strongest code at the Nyquist frequency."""
    rows, cols = np.mgrid[0:size, 0:size]
    return np.where((rows + cols) % 2 == 0, amplitude, -amplitude)


INVALID_IMAGES = {
    "1-D": np.full(64, 0.5),
    "two channels": np.full((16, 16, 2), 0.5),
    "too small": np.full((16, 4), 0.5),
    "NaN": np.where(np.eye(16, dtype=bool), np.nan, 0.5),
    "above one": np.full((16, 16), 1.5),
    "below zero": np.full((16, 16), -0.1),
}


@pytest.mark.parametrize("function", [power_spectrum, high_frequency_share, tile_energy_map])
@pytest.mark.parametrize("case", INVALID_IMAGES)
def test_invalid_image_raises(function, case):
    with pytest.raises(ValueError):
        function(INVALID_IMAGES[case])


def test_power_spectrum_shape():
    assert power_spectrum(np.full((24, 40), 0.5)).shape == (24, 40)
    assert power_spectrum(np.full((24, 40, 3), 0.5)).shape == (24, 40)
    assert power_spectrum(np.full((24, 40, 4), 0.5)).shape == (24, 40)


def test_power_spectrum_flat_is_zero():
    np.testing.assert_allclose(power_spectrum(np.full((32, 32, 3), 0.3)), 0.0, atol=1e-25)


def test_power_spectrum_checkerboard_at_nyquist():
    # After fftshift, the frequency (-0.5, -0.5) of an even-sized spectrum sits at index (0, 0).
    spectrum = power_spectrum(0.5 + checkerboard())

    peak = np.unravel_index(np.argmax(spectrum), spectrum.shape)

    assert peak == (0, 0)


def test_power_spectrum_sum_is_mean_square():
    # The checkerboard's square is a**2 at every pixel, so any window gives mean square a**2.
    assert power_spectrum(0.5 + checkerboard()).sum() == pytest.approx(CODE_AMPLITUDE**2)


def test_power_spectrum_sinusoid_sum():
    # A sinusoid of amplitude A has mean square A**2 / 2.
    assert power_spectrum(sinusoid(0.125, amplitude=0.2)).sum() == pytest.approx(0.2**2 / 2)


def test_power_spectrum_averages_channels():
    gray = sinusoid(0.25)
    rgb = np.stack([gray, np.full_like(gray, 0.5), np.full_like(gray, 0.5)], axis=-1)

    np.testing.assert_allclose(power_spectrum(rgb), power_spectrum(gray) / 3, atol=1e-20)


def test_high_frequency_share_gradient_near_zero():
    # Without a window, the edge jump of a ramp spreads power up to the Nyquist frequency.
    assert high_frequency_share(gradient()) < 1e-4


def test_radial_profile_frequencies():
    frequencies, power = radial_profile(np.ones((32, 48)))

    np.testing.assert_allclose(frequencies, np.arange(17) / 32)
    assert frequencies[0] == 0.0
    assert frequencies[-1] == 0.5
    assert power.shape == frequencies.shape


def test_radial_profile_constant_spectrum():
    _, power = radial_profile(np.full((32, 32), 2.5))

    np.testing.assert_allclose(power, 2.5)


def test_radial_profile_single_coefficient():
    # One nonzero coefficient at radius 5/32 lands in ring 5 and no other.
    spectrum = np.zeros((32, 32))
    spectrum[16 + 3, 16 + 4] = 1.0

    frequencies, power = radial_profile(spectrum)

    assert np.flatnonzero(power).tolist() == [5]
    assert frequencies[5] == pytest.approx(5 / 32)


@pytest.mark.parametrize("frequency", [0.0625, 0.125, 0.3125, 0.4375])
def test_radial_profile_sinusoid_peak(frequency):
    frequencies, power = radial_profile(power_spectrum(sinusoid(frequency)))

    assert frequencies[np.argmax(power)] == pytest.approx(frequency)


def test_radial_profile_odd_size():
    frequencies, _ = radial_profile(np.ones((33, 33)))

    assert len(frequencies) == 17
    assert frequencies[-1] == pytest.approx(16 / 33)


@pytest.mark.parametrize(
    "spectrum",
    [np.ones(16), np.ones((1, 16)), np.ones((4, 4, 4)), np.full((8, 8), np.nan), -np.ones((8, 8))],
    ids=["1-D", "one row", "3-D", "NaN", "negative"],
)
def test_radial_profile_invalid_spectrum(spectrum):
    with pytest.raises(ValueError):
        radial_profile(spectrum)


def test_high_frequency_share_flat_is_zero():
    assert high_frequency_share(np.full((32, 32), 0.3)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("frequency", [0.3125, 0.375, 0.4])
def test_high_frequency_share_sinusoid_above_cutoff(frequency):
    assert high_frequency_share(sinusoid(frequency), cutoff=0.25) > 0.999


@pytest.mark.parametrize("frequency", [0.0625, 0.125, 0.2])
def test_high_frequency_share_sinusoid_below_cutoff(frequency):
    assert high_frequency_share(sinusoid(frequency), cutoff=0.25) < 0.001


def test_high_frequency_share_checkerboard():
    assert high_frequency_share(0.5 + checkerboard()) == pytest.approx(1.0)


def test_high_frequency_share_white_noise():
    # White noise has a flat spectrum, so the share is the area outside the cutoff circle.
    noise = np.random.default_rng(0).random((128, 128))

    assert high_frequency_share(noise, cutoff=0.25) == pytest.approx(1 - np.pi * 0.25**2, abs=0.02)


def test_high_frequency_share_code_raises_share():
    clean = gradient() + 0.05 * sinusoid(0.0625)
    coded = clean + checkerboard()

    assert high_frequency_share(coded) > high_frequency_share(clean) + 0.001


@pytest.mark.parametrize("cutoff", [0.0, 0.5, -0.1, 0.7, np.nan])
def test_high_frequency_share_invalid_cutoff(cutoff):
    with pytest.raises(ValueError):
        high_frequency_share(sinusoid(0.125), cutoff=cutoff)


def test_tile_energy_map_drops_partial_tiles():
    assert tile_energy_map(np.full((70, 50), 0.5), tile=8).shape == (8, 6)


def test_tile_energy_map_flat_is_zero():
    np.testing.assert_allclose(tile_energy_map(np.full((32, 32, 3), 0.6)), 0.0, atol=1e-20)


def test_tile_energy_map_gradient_is_zero():
    np.testing.assert_allclose(tile_energy_map(gradient()), 0.0, atol=1e-20)


def test_tile_energy_map_localizes_code():
    half = SIZE // 2
    image = gradient()
    image[:half, :half] += checkerboard()[:half, :half]

    energy = tile_energy_map(image, tile=8)
    coded = energy[:4, :4]
    uncoded_right = energy[:4, 4:]
    uncoded_bottom = energy[4:, :]

    np.testing.assert_allclose(coded, CODE_AMPLITUDE**2, rtol=1e-9)
    np.testing.assert_allclose(uncoded_right, 0.0, atol=1e-20)
    np.testing.assert_allclose(uncoded_bottom, 0.0, atol=1e-20)


@pytest.mark.parametrize("tile", [2, 4, 8, 16, 32])
def test_tile_energy_map_tile_size_invariant(tile):
    energy = tile_energy_map(0.5 + checkerboard(), tile=tile)

    np.testing.assert_allclose(energy, CODE_AMPLITUDE**2, rtol=1e-9)


def test_tile_energy_map_averages_channels():
    code = 0.5 + checkerboard()
    rgb = np.stack([code, np.full_like(code, 0.5), np.full_like(code, 0.5)], axis=-1)

    np.testing.assert_allclose(tile_energy_map(rgb), CODE_AMPLITUDE**2 / 3, rtol=1e-9)


def test_tile_energy_map_even_cosine_is_zero():
    # A cosine at 0.125 cycles/pixel, symmetric about each 8 px tile's center, has no linear
    # trend for the plane fit to remove and one whole period per tile, so nothing leaks.
    cols = np.arange(SIZE)[np.newaxis, :]
    wave = 0.5 + 0.25 * np.cos(2 * np.pi * 0.125 * (cols - 3.5))
    image = np.broadcast_to(wave, (SIZE, SIZE))

    np.testing.assert_allclose(tile_energy_map(image, tile=8), 0.0, atol=1e-20)


@pytest.mark.parametrize("frequency", [0.0625, 0.1, 0.125, 0.2])
def test_tile_energy_map_mid_frequency_leak(frequency):
    # Unwindowed 8 px tiles leak part of a sinusoid below the cutoff above it. The bound
    # is the one stated in tile_energy_map's docstring.
    mean_square = 0.25**2 / 2

    energy = tile_energy_map(sinusoid(frequency), tile=8)

    assert energy.max() < 0.1 * mean_square


@pytest.mark.parametrize("tile", [0, 1, 65, 8.0, True])
def test_tile_energy_map_invalid_tile(tile):
    with pytest.raises(ValueError):
        tile_energy_map(np.full((64, 64), 0.5), tile=tile)


@pytest.mark.parametrize("cutoff", [0.0, 0.5, np.nan])
def test_tile_energy_map_invalid_cutoff(cutoff):
    with pytest.raises(ValueError):
        tile_energy_map(np.full((64, 64), 0.5), cutoff=cutoff)
