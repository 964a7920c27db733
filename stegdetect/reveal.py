"""Make low-amplitude, high-frequency codes in images visible.

Chu, Zhmoginov and Sandler, "CycleGAN, a Master of Steganography" (2017), show that a CycleGAN can
hide information about its input in a low-amplitude, high-frequency signal inside the translated
image. A code with an amplitude of about 1/255 is invisible in the image itself. Subtracting a
Gaussian low-pass copy (the high-pass residual) and equalizing the residual with CLAHE makes it
visible.

All functions take images as float arrays in [0, 1], either H x W or H x W x C with C = 1, 3 or 4.
A fourth channel is taken as alpha and dropped, so RGBA input gives RGB output. The functions are
pure. They return new arrays and never modify their input.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage import exposure

# Smallest height and width accepted. Smaller images leave too few pixels for CLAHE's contextual
# regions and for the Gaussian low-pass filter.
MIN_IMAGE_SIZE = 8

# Magnitude at or below which `stretch` treats a residual value as zero. Codes stored in 8-bit or
# 16-bit images change pixels by at least 1/65535 (about 1.5e-5), while float64 rounding in the
# low-pass filter leaves residuals near 1e-16 on flat or linear regions.
RESIDUAL_ATOL = 1e-8


def check_image(image: np.ndarray, min_size: int = MIN_IMAGE_SIZE) -> np.ndarray:
    """Validate an image and return it as an H x W x C float64 array.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1], H x W or H x W x C with C = 1, 3 or 4.
    min_size : int
        Smallest accepted height and width in pixels.

    Returns
    -------
    numpy.ndarray
        The image as float64, H x W x 1 for 2-D input. A fourth (alpha) channel is dropped.

    Raises
    ------
    ValueError
        If the dtype is not floating point, the shape is not H x W or H x W x {1, 3, 4}, the height
        or width is below ``min_size``, or a value is NaN, infinite or outside [0, 1].
    """
    array = np.asarray(image)

    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"image dtype {array.dtype} is not floating point. "
            "Convert it to floats in [0, 1], for example with skimage.util.img_as_float"
        )

    if array.ndim not in (2, 3):
        raise ValueError(
            f"image has shape {array.shape}, expected H x W or H x W x C with C = 1, 3 or 4"
        )
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    channels = array.shape[2]
    if channels not in (1, 3, 4):
        raise ValueError(
            f"image has {channels} channels in shape {array.shape}, expected 1, 3 or 4"
        )
    if channels == 4:
        array = array[:, :, :3]

    height, width = array.shape[:2]
    if height < min_size or width < min_size:
        raise ValueError(
            f"image is {height} x {width} pixels, but height and width must be at least {min_size}"
        )

    if not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or infinite values")
    low = float(array.min())
    high = float(array.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"image values span [{low}, {high}], expected values in [0, 1]")

    return array.astype(np.float64, copy=False)


def _restore_ndim(channels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Drop the channel axis again when the caller passed an H x W image."""
    if np.ndim(image) == 2:
        return channels[:, :, 0]
    return channels


def _default_kernel_size(height: int, width: int) -> tuple[int, int]:
    # skimage's own default is 1/8 of each side. The floor of 8 px keeps at least 64 pixels in
    # each contextual region on small images such as 32 x 32 CIFAR-sized outputs.
    return max(8, height // 8), max(8, width // 8)


def _check_kernel_size(kernel_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(kernel_size, numbers.Integral) and not isinstance(kernel_size, bool):
        sizes = (int(kernel_size), int(kernel_size))
    elif isinstance(kernel_size, Sequence) and len(kernel_size) == 2 and all(
        isinstance(size, numbers.Integral) and not isinstance(size, bool) for size in kernel_size
    ):
        sizes = (int(kernel_size[0]), int(kernel_size[1]))
    else:
        raise ValueError(
            f"kernel_size is {kernel_size!r}, expected None, a positive int or a pair of them"
        )

    if min(sizes) < 1:
        raise ValueError(f"kernel_size is {kernel_size!r}, but sizes must be at least 1")
    return sizes


def clahe_channels(
    image: np.ndarray,
    clip_limit: float = 0.01,
    kernel_size: int | Sequence[int] | None = None,
) -> np.ndarray:
    """Apply CLAHE to each channel of an image separately.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1], H x W or H x W x C with C = 1, 3 or 4.
    clip_limit : float
        Clip limit in [0, 1], as a fraction of the pixels in a contextual region. 0 and 1 both
        disable clipping (plain adaptive histogram equalization). OpenCV's ``clipLimit`` uses a
        different scale, so its values such as 2.0 do not carry over.
    kernel_size : int or pair of int, optional
        Height and width of the contextual regions in pixels. The default is
        ``max(8, side // 8)`` for each side.

    Returns
    -------
    numpy.ndarray
        Float64 image of the input's shape, in [0, 1]. RGBA input gives an H x W x 3 result.

    Raises
    ------
    ValueError
        If the image fails `check_image`, or ``clip_limit`` or ``kernel_size`` is invalid.

    Notes
    -----
    ``skimage.exposure.equalize_adapthist`` equalizes only the HSV value channel of an RGB image,
    which would hide a code carried by one color channel. This function therefore calls it on each
    channel as a 2-D image. skimage first stretches each channel to its own [min, max] and
    stretches the output to [0, 1], so output levels are not comparable between channels. A
    constant channel is returned unchanged, because skimage would map it to 1.

    References
    ----------
    K. Zuiderveld, "Contrast Limited Adaptive Histogram Equalization", Graphics Gems IV,
    Academic Press, 1994. Implemented by ``skimage.exposure.equalize_adapthist``.
    """
    channels = check_image(image)

    if not np.isfinite(clip_limit) or not 0.0 <= clip_limit <= 1.0:
        raise ValueError(f"clip_limit is {clip_limit}, expected a value in [0, 1]")

    height, width = channels.shape[:2]
    if kernel_size is None:
        sizes = _default_kernel_size(height, width)
    else:
        sizes = _check_kernel_size(kernel_size)

    equalized = np.empty_like(channels)
    for index in range(channels.shape[2]):
        channel = channels[:, :, index]
        if channel.min() == channel.max():
            equalized[:, :, index] = channel
            continue
        equalized[:, :, index] = exposure.equalize_adapthist(
            channel, kernel_size=sizes, clip_limit=clip_limit
        )

    return _restore_ndim(equalized, image)


def highpass_residual(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Subtract a Gaussian low-pass copy from each channel of an image.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1], H x W or H x W x C with C = 1, 3 or 4.
    sigma : float
        Standard deviation of the Gaussian low-pass filter in pixels. Larger values keep more of
        the image's mid frequencies in the residual.

    Returns
    -------
    numpy.ndarray
        Float64 residual of the input's shape, in intensity units of the input, signed.
        RGBA input gives an H x W x 3 result.

    Raises
    ------
    ValueError
        If the image fails `check_image` or ``sigma`` is not a positive finite number.

    Notes
    -----
    The filter is ``scipy.ndimage.gaussian_filter`` with ``mode="reflect"``. It preserves linear
    ramps, so the residual of a linear gradient is zero (up to float rounding) except within
    about ``4 * sigma`` pixels of the border, where the reflection bends the ramp. A checkerboard
    at the Nyquist frequency passes almost unchanged for ``sigma >= 1``.
    """
    channels = check_image(image)

    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma is {sigma}, expected a positive number of pixels")

    lowpass = ndimage.gaussian_filter(channels, sigma=(sigma, sigma, 0.0), mode="reflect")
    residual = channels - lowpass

    return _restore_ndim(residual, image)


def stretch(
    residual: np.ndarray, percentile: float = 99.5, atol: float = RESIDUAL_ATOL
) -> np.ndarray:
    """Map a signed residual linearly to [0, 1], with zero at 0.5.

    Parameters
    ----------
    residual : numpy.ndarray
        Signed floating-point array of any shape, for example from `highpass_residual`.
    percentile : float
        Percentile of ``abs(residual)``, in (0, 100], that maps to 0 and 1. Values of larger
        magnitude are clipped, so a few strong edges do not compress a weak code.
    atol : float
        Magnitude at or below which a value counts as zero. It keeps float rounding error on flat
        regions from being stretched to full contrast.

    Returns
    -------
    numpy.ndarray
        Float64 array of the residual's shape in [0, 1]. The result is 0.5 everywhere when no
        value exceeds ``atol``.

    Raises
    ------
    ValueError
        If the residual is empty, not floating point, or contains NaN or infinite values, or if
        ``percentile`` or ``atol`` is out of range.

    Notes
    -----
    The scale is the ``percentile``-th percentile of the magnitudes. When more than
    ``100 - percentile`` percent of the values are zero, as for a code confined to a small patch,
    that percentile is zero and the maximum magnitude is used instead.
    """
    values = np.asarray(residual)

    if not np.issubdtype(values.dtype, np.floating):
        raise ValueError(f"residual dtype {values.dtype} is not floating point")
    if values.size == 0:
        raise ValueError("residual is empty")
    if not np.all(np.isfinite(values)):
        raise ValueError("residual contains NaN or infinite values")
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile is {percentile}, expected a value in (0, 100]")
    if not np.isfinite(atol) or atol < 0:
        raise ValueError(f"atol is {atol}, expected a non-negative number")

    values = values.astype(np.float64)
    values[np.abs(values) <= atol] = 0.0

    magnitude = np.abs(values)
    scale = float(np.percentile(magnitude, percentile))
    if scale == 0.0:
        scale = float(magnitude.max())
    if scale == 0.0:
        return np.full(values.shape, 0.5)

    return np.clip(0.5 + 0.5 * values / scale, 0.0, 1.0)


def reveal_residual(
    image: np.ndarray,
    sigma: float = 1.0,
    clip_limit: float = 0.01,
    kernel_size: int | Sequence[int] | None = None,
) -> np.ndarray:
    """Make a low-amplitude, high-frequency code visible by equalizing the high-pass residual.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1], H x W or H x W x C with C = 1, 3 or 4.
    sigma : float
        Standard deviation in pixels of the Gaussian low-pass filter, see `highpass_residual`.
    clip_limit : float
        CLAHE clip limit in [0, 1], see `clahe_channels`.
    kernel_size : int or pair of int, optional
        CLAHE contextual region size in pixels, see `clahe_channels`.

    Returns
    -------
    numpy.ndarray
        Float64 image of the input's shape in [0, 1]. RGBA input gives an H x W x 3 result.
        Mid-gray (0.5) everywhere in a channel means that the channel has no residual above
        `RESIDUAL_ATOL`.

    Raises
    ------
    ValueError
        If the image fails `check_image` or a parameter is invalid.

    Notes
    -----
    The steps are `highpass_residual`, then `stretch` with one scale shared by all channels,
    then `clahe_channels`. CLAHE stretches each channel to full contrast, so a code in one
    channel becomes visible even when another channel's residual is much stronger. The border
    effect described in `highpass_residual` shows as a bright or dark frame on sloped images.

    References
    ----------
    C. Chu, A. Zhmoginov and M. Sandler, "CycleGAN, a Master of Steganography", 2017.
    """
    residual = highpass_residual(image, sigma=sigma)
    stretched = stretch(residual)
    return clahe_channels(stretched, clip_limit=clip_limit, kernel_size=kernel_size)
