"""Measure how much of an image's energy lies at high spatial frequencies.

Chu, Zhmoginov and Sandler, "CycleGAN, a Master of Steganography" (2017), show that a CycleGAN can
hide information about its input in a low-amplitude, high-frequency signal inside the translated
image. Such a code raises the power spectrum near the Nyquist frequency, globally and in the tiles
that carry it.

All functions take images as float arrays in [0, 1], either H x W or H x W x C with C = 1, 3 or 4,
and validate them with `stegdetect.reveal.check_image`. A fourth channel is taken as alpha and
dropped. Frequencies are in cycles per pixel, and the radial frequency of a 2-D coefficient is
``hypot(fy, fx)``, which reaches about 0.71 in the corners of the spectrum.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.signal import windows

from .reveal import check_image


def _check_cutoff(cutoff: float) -> None:
    if not 0.0 < cutoff < 0.5:
        raise ValueError(f"cutoff is {cutoff}, expected a frequency in (0, 0.5) cycles/pixel")


def _radial_frequency(shape: tuple[int, int], shifted: bool) -> np.ndarray:
    """Return the radial frequency in cycles/pixel of each DFT coefficient of an array."""
    fy = np.fft.fftfreq(shape[0])
    fx = np.fft.fftfreq(shape[1])
    if shifted:
        fy = np.fft.fftshift(fy)
        fx = np.fft.fftshift(fx)
    return np.hypot(fy[:, np.newaxis], fx[np.newaxis, :])


def power_spectrum(image: np.ndarray) -> np.ndarray:
    """Compute the Hann-windowed 2-D power spectrum of an image, averaged over channels.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1], H x W or H x W x C with C = 1, 3 or 4.

    Returns
    -------
    numpy.ndarray
        H x W float64 power spectrum with the zero frequency at index ``(H // 2, W // 2)``, as
        ``numpy.fft.fftshift`` places it. Its sum is the window-weighted mean square of the
        mean-subtracted image, so for a stationary image it estimates the variance, in squared
        intensity units.

    Raises
    ------
    ValueError
        If the image fails `check_image`.

    Notes
    -----
    Each channel has its mean subtracted and is multiplied by a 2-D periodic Hann window (the outer
    product of ``scipy.signal.windows.hann(n, sym=False)`` over rows and columns) before the FFT.
    The window suppresses the leakage from the jump between opposite image edges, which would
    otherwise add high-frequency power to any image with a gradient. The price is a main lobe
    about two frequency bins wide on each side of a peak. Channel spectra are averaged with equal
    weights, so a code in one channel of an RGB image shows at a third of its single-channel
    power.
    """
    channels = check_image(image)
    height, width = channels.shape[:2]

    window = np.outer(windows.hann(height, sym=False), windows.hann(width, sym=False))
    centered = channels - channels.mean(axis=(0, 1))
    windowed = centered * window[:, :, np.newaxis]

    coefficients = np.fft.fft2(windowed, axes=(0, 1))
    power = np.abs(coefficients) ** 2
    # Parseval: sum |F|^2 = N * sum |x w|^2, so this scaling makes the spectrum sum to
    # sum |x w|^2 / sum w^2.
    power = power.mean(axis=2) / (height * width * np.sum(window**2))

    return np.fft.fftshift(power)


def radial_profile(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average a centered 2-D power spectrum over rings of equal radial frequency.

    Parameters
    ----------
    spectrum : numpy.ndarray
        H x W non-negative power spectrum with the zero frequency at ``(H // 2, W // 2)``, as
        returned by `power_spectrum`.

    Returns
    -------
    frequencies : numpy.ndarray
        Ring centers ``k / n`` in cycles/pixel for ``k = 0 .. n // 2``, where ``n = min(H, W)``.
        They run from 0 to 0.5, or to just below 0.5 when ``n`` is odd.
    power : numpy.ndarray
        Mean of the spectrum over the coefficients in each ring, in the spectrum's units.

    Raises
    ------
    ValueError
        If the spectrum is not a 2-D array of at least 2 x 2, or contains NaN, infinite or
        negative values.

    Notes
    -----
    A coefficient belongs to ring ``k`` when its radial frequency rounds to ``k / n``, so the
    rings are ``1 / n`` wide. Coefficients beyond 0.5 cycles/pixel, in the corners of the
    spectrum, are left out because no ring covers every direction there.
    """
    values = np.asarray(spectrum, dtype=np.float64)

    if values.ndim != 2 or min(values.shape) < 2:
        raise ValueError(f"spectrum has shape {values.shape}, expected a 2-D array of at least 2 x 2")
    if not np.all(np.isfinite(values)):
        raise ValueError("spectrum contains NaN or infinite values")
    if values.min() < 0:
        raise ValueError(f"spectrum has a negative value {values.min()}, but power must be non-negative")

    size = min(values.shape)
    ring_count = size // 2 + 1
    rings = np.rint(_radial_frequency(values.shape, shifted=True) * size).astype(np.intp)
    inside = rings < ring_count

    counts = np.bincount(rings[inside], minlength=ring_count)
    sums = np.bincount(rings[inside], weights=values[inside], minlength=ring_count)

    frequencies = np.arange(ring_count) / size
    return frequencies, sums / counts


def high_frequency_share(image: np.ndarray, cutoff: float = 0.25) -> float:
    """Compute the share of an image's spectral energy above a radial frequency.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1], H x W or H x W x C with C = 1, 3 or 4.
    cutoff : float
        Radial frequency in cycles/pixel, in (0, 0.5). Coefficients strictly above it count as
        high frequency.

    Returns
    -------
    float
        Energy above ``cutoff`` divided by the energy at all frequencies except zero, in [0, 1].
        It is 0.0 for an image with no energy outside the zero frequency, such as a flat image.

    Raises
    ------
    ValueError
        If the image fails `check_image` or ``cutoff`` is outside (0, 0.5).

    Notes
    -----
    The energies are sums of `power_spectrum`, so they use its Hann window and channel average.
    The corners of the spectrum, up to about 0.71 cycles/pixel, count as high frequency. White
    noise therefore has a share of about ``1 - pi * cutoff**2``, the part of the unit frequency
    square outside the cutoff circle.
    """
    _check_cutoff(cutoff)
    spectrum = power_spectrum(image)
    radius = _radial_frequency(spectrum.shape, shifted=True)

    total = float(spectrum[radius > 0].sum())
    if total == 0.0:
        return 0.0
    return float(spectrum[radius > cutoff].sum()) / total


def _detrend_tiles(tiles: np.ndarray) -> np.ndarray:
    """Subtract the least-squares plane from each tile of a ... x tile x tile array."""
    size = tiles.shape[-1]
    rows, cols = np.mgrid[0:size, 0:size]
    design = np.stack([np.ones(size * size), rows.ravel(), cols.ravel()], axis=1)

    samples = tiles.reshape(-1, size * size).T
    coefficients, *_ = np.linalg.lstsq(design, samples, rcond=None)
    planes = (design @ coefficients).T.reshape(tiles.shape)

    return tiles - planes


def tile_energy_map(image: np.ndarray, tile: int = 8, cutoff: float = 0.25) -> np.ndarray:
    """Map the high-frequency energy of each non-overlapping square tile of an image.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1], H x W or H x W x C with C = 1, 3 or 4.
    tile : int
        Tile side in pixels, at least 2 and at most ``min(H, W)``.
    cutoff : float
        Radial frequency in cycles/pixel, in (0, 0.5). DFT coefficients of a tile strictly above
        it count as high frequency.

    Returns
    -------
    numpy.ndarray
        ``(H // tile) x (W // tile)`` float64 array. Entry ``(i, j)`` covers rows
        ``i * tile`` to ``(i + 1) * tile - 1`` and the matching columns. Its value is the mean
        square, in squared intensity units, of the tile's components above ``cutoff``, averaged
        over channels. A code of amplitude ``a`` at the Nyquist frequency therefore gives ``a**2``
        at any tile size.

    Raises
    ------
    ValueError
        If the image fails `check_image`, ``tile`` is not an int in [2, min(H, W)], or ``cutoff``
        is outside (0, 0.5).

    Notes
    -----
    Rows and columns past the last whole tile are dropped. Each tile has its least-squares plane
    subtracted and gets no window, since a window would discard much of a tile of 8 pixels. The
    plane removes the jump between opposite tile edges that a smooth gradient would otherwise turn
    into high-frequency power. By Parseval's theorem, the energy is ``sum(|F_k|**2) / tile**4``
    over the coefficients ``F_k`` above ``cutoff``.

    NOTE: Without a window, content below the cutoff still leaks above it unless it fits whole
    periods into the tile symmetrically. With 8 px tiles and a cutoff of 0.25, a sinusoid between
    0.1 and 0.25 cycles/pixel puts up to about 10 % of its mean square above the cutoff. For strong
    image texture, that leak exceeds the ``(1/255)**2`` of a faint code.
    """
    channels = check_image(image)
    height, width, channel_count = channels.shape

    if not isinstance(tile, numbers.Integral) or isinstance(tile, bool):
        raise ValueError(f"tile is {tile!r}, expected an int number of pixels")
    if not 2 <= tile <= min(height, width):
        raise ValueError(
            f"tile is {tile}, expected a side in [2, {min(height, width)}] pixels for a "
            f"{height} x {width} image"
        )
    _check_cutoff(cutoff)

    tile_rows = height // tile
    tile_cols = width // tile
    cropped = channels[: tile_rows * tile, : tile_cols * tile]
    tiles = cropped.reshape(tile_rows, tile, tile_cols, tile, channel_count)
    tiles = tiles.transpose(0, 2, 4, 1, 3)

    detrended = _detrend_tiles(tiles)

    power = np.abs(np.fft.fft2(detrended, axes=(-2, -1))) ** 2
    high = _radial_frequency((tile, tile), shifted=False) > cutoff
    energy = power[..., high].sum(axis=-1) / tile**4

    return energy.mean(axis=-1)
