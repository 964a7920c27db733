"""Summary figures of one image's high-frequency content."""

from __future__ import annotations

import numpy as np

from .reveal import highpass_residual
from .spectrum import high_frequency_share, tile_energy_map


def image_statistics(image: np.ndarray, cutoff: float = 0.25, tile: int = 8, sigma: float = 1.0) -> dict[str, float]:
    """Measure the high-frequency content of an image in [0, 1] (H x W x C).

    Returns
    -------
    dict
        ``high_frequency_share``: share of spectral energy above ``cutoff`` cycles/pixel;
        ``residual_rms_8bit``: RMS of the high-pass residual in 8-bit levels, over all channels;
        ``residual_rms_8bit_per_channel``: the same per channel;
        ``tile_rms_median_8bit`` and ``tile_rms_max_8bit``: median and maximum over tiles of the
        RMS of components above ``cutoff``, in 8-bit levels. A maximum far above the median points
        to a localized code or to strong edges.
    """
    residual = highpass_residual(image, sigma=sigma)
    if residual.ndim == 2:
        residual = residual[..., None]
    tile_size = min(tile, *image.shape[:2])
    tile_rms = np.sqrt(tile_energy_map(image, tile=tile_size, cutoff=cutoff)) * 255
    return {
        "high_frequency_share": high_frequency_share(image, cutoff=cutoff),
        "residual_rms_8bit": float(np.sqrt(np.mean(residual**2)) * 255),
        "residual_rms_8bit_per_channel": [float(v) for v in np.sqrt(np.mean(residual**2, axis=(0, 1))) * 255],
        "tile_rms_median_8bit": float(np.median(tile_rms)),
        "tile_rms_max_8bit": float(np.max(tile_rms)),
    }
