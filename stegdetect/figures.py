"""Matplotlib figures for reveal and sensitivity results, written as PNG or PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .sensitivity import DirectionResult  # noqa: E402


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
    shown = axes[3].imshow(rms_levels, cmap="magma", interpolation="nearest")
    axes[3].set_title("high-frequency RMS per tile\n(8-bit levels)", fontsize=9)
    fig.colorbar(shown, ax=axes[3], fraction=0.046)

    axes[4].imshow(np.log10(spectrum + 1e-12), cmap="viridis", extent=(-0.5, 0.5, 0.5, -0.5))
    axes[4].set_title("log10 power spectrum\n(cycles/pixel)", fontsize=9)
    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def sensitivity_figure(curves: dict[str, DirectionResult], title: str, path: Path) -> Path:
    """Plot reconstruction PSNR against the Gaussian noise added to the translation.

    ``curves`` maps a legend label to a result; the clean and 8-bit PSNRs appear as markers at the
    left edge (rounding to 8 bits adds an RMS perturbation of about 0.0023 on the [-1, 1] scale).
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
    ax_psnr.set_xscale("log")
    ax_psnr.set_xlabel("Gaussian noise std added to the translation ([-1, 1] scale)")
    ax_psnr.set_ylabel("reconstruction PSNR (dB)")
    ax_psnr.set_title("dotted: unperturbed; square: rounded to 8 bits", fontsize=9)
    ax_gain.set_xscale("log")
    ax_gain.set_yscale("log")
    ax_gain.axhline(1.0, color="gray", linewidth=0.8)
    ax_gain.set_xlabel("Gaussian noise std added to the translation ([-1, 1] scale)")
    ax_gain.set_ylabel("RMS change of reconstruction / noise std")
    ax_gain.set_title("noise amplification by the reconstructing generator", fontsize=9)
    for ax in (ax_psnr, ax_gain):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
