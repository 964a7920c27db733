"""Matplotlib figures for reveal and sensitivity results, written as PNG or PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .sensitivity import MIN_GAIN, PROBE_NOISE, DirectionResult  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def reveal_figure(
    image: np.ndarray, clahe: np.ndarray, residual: np.ndarray, tile_map: np.ndarray,
    spectrum: np.ndarray, title: str, path: Path,
) -> Path:
    """Write a one-row figure: image, per-channel CLAHE, CLAHE of the high-pass residual, tile
    high-frequency energy (RMS in 8-bit levels) and the log power spectrum.

    Images are H x W x 3 floats in [0, 1]; ``tile_map`` is a mean square in squared [0, 1] units.
    """
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.6), layout="constrained")
    panels = [
        (image, "image"),
        (clahe, "CLAHE per channel"),
        (residual, "CLAHE of high-pass residual"),
    ]
    for ax, (picture, label) in zip(axes, panels):
        ax.imshow(np.clip(picture, 0, 1), interpolation="nearest")
        ax.set_title(label, fontsize=9)

    rms_levels = np.sqrt(tile_map) * 255
    energy_image = axes[3].imshow(rms_levels, cmap="magma", interpolation="nearest")
    axes[3].set_title("high-frequency RMS per tile\n(8-bit levels)", fontsize=9)
    fig.colorbar(energy_image, ax=axes[3], fraction=0.046)

    axes[4].imshow(np.log10(spectrum + 1e-12), cmap="viridis", extent=(-0.5, 0.5, 0.5, -0.5))
    axes[4].set_title("log10 power spectrum\n(cycles/pixel)", fontsize=9)
    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def sensitivity_figure(curves: dict[str, DirectionResult], title: str, path: Path) -> Path:
    """Plot reconstruction PSNR against the Gaussian noise added to the translation.

    ``curves`` maps a legend label to a result. The clean PSNR is drawn as a dotted line. The 8-bit
    PSNR is a square placed at the RMS change that uniform rounding causes, 2 / 255 / sqrt(12), which
    is about 0.0023 on the [-1, 1] scale.
    """
    fig, (ax_psnr, ax_gain) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for (label, result), colour in zip(curves.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        levels = [c.level for c in result.noise]
        marker = "x" if result.hidden_information_detected else "o"
        ax_psnr.plot(levels, [c.psnr for c in result.noise], marker=marker, color=colour, label=label)
        ax_psnr.axhline(result.clean.psnr, color=colour, linestyle=":", linewidth=1)
        ax_psnr.scatter([result.rounded_8bit.level * 2 / np.sqrt(12)], [result.rounded_8bit.psnr],
                        marker="s", color=colour, zorder=3)
        ax_gain.plot(levels, [c.gain for c in result.noise], marker=marker, color=colour, label=label)
    # A minimum span of 4 dB keeps differences of a few hundredths of a dB from looking like a collapse.
    low, high = ax_psnr.get_ylim()
    if high - low < 4:
        middle = (high + low) / 2
        ax_psnr.set_ylim(middle - 2, middle + 2)
    ax_psnr.axvline(PROBE_NOISE, color="gray", linestyle="--", linewidth=0.8)
    ax_psnr.set_xscale("log")
    ax_psnr.set_xlabel("Gaussian noise std added to the translation ([-1, 1] scale)")
    ax_psnr.set_ylabel("reconstruction PSNR (dB)")
    ax_psnr.set_title("dotted: unperturbed; square: rounded to 8 bits (placed at its RMS change);\n"
                      "dashed: std at which the verdict is made", fontsize=8)
    ax_gain.set_xscale("log")
    ax_gain.set_yscale("log")
    ax_gain.axhline(1.0, color="gray", linewidth=0.8, label="gain 1")
    ax_gain.axhline(MIN_GAIN, color="red", linestyle="--", linewidth=0.8, label=f"verdict threshold {MIN_GAIN:g}")
    ax_gain.axvline(PROBE_NOISE, color="gray", linestyle="--", linewidth=0.8)
    ax_gain.set_xlabel("Gaussian noise std added to the translation ([-1, 1] scale)")
    ax_gain.set_ylabel("RMS change of reconstruction / noise std")
    ax_gain.set_title("noise amplification by the reconstructing generator", fontsize=9)
    for ax in (ax_psnr, ax_gain):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def image_grid(rows: dict[str, np.ndarray], title: str, path: Path) -> Path:
    """Write a grid with one labelled row per entry of ``rows`` (each N x H x W x 3 in [0, 1])."""
    n_rows = len(rows)
    n_cols = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.3 * n_cols + 1.5, 1.3 * n_rows), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(np.clip(images[c], 0, 1), interpolation="nearest")
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, top=1 - 0.6 / (1.3 * n_rows))
    return _save(fig, path)
