"""Measure one screening checkpoint as in the tables of examples/README.md.

For the A -> B -> A cycle on ``DATA/testA`` it prints one line with:

- *to truth*: L1 between G_AB(photo) and ``DATA/testA_truth`` ([-1, 1] scale);
- *to photo*: L1 between G_AB(photo) and the photo;
- *clean PSNR* of the reconstruction, its *gain* and *drop* under Gaussian noise of std 0.01
  (see ``stegdetect.sensitivity``), and the verdict;
- *projection drop*: PSNR lost when the translation is projected onto domain B before
  reconstruction. The projection is the palette, gray or block-mean one of
  ``stegdetect.projections`` for ``cyclegan data`` sets (with the block side that ``dataset.json``
  records), the 4 x 4 block mean for mosaic renderings of ``screen_renderings.py``,
  gray for its gray renderings, and a Gaussian low-pass with sigma 1 px for its blur renderings.
  The low-pass also changes a true blur rendering a little, so part of its drop can be honest.

Usage::

    python examples/screen_eval.py CHECKPOINT [CHECKPOINT ...] --data DATA
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from scipy import ndimage

from cyclegan.checkpoint import CheckpointError, load_generators
from cyclegan.data import DataError, list_images, load_folder
from stegdetect import projections
from stegdetect.projections import Projection, block_mean_projection, gray_projection, target_projections
from stegdetect.sensitivity import judge, sweep

LOW_PASS_SIGMA = 1.0


def low_pass_projection(images: torch.Tensor) -> torch.Tensor:
    """Blur every channel with a Gaussian of sigma LOW_PASS_SIGMA px, removing what a blur rendering lacks."""
    blurred = ndimage.gaussian_filter(images.numpy(), sigma=(0, 0, LOW_PASS_SIGMA, LOW_PASS_SIGMA), mode="reflect")
    return torch.from_numpy(blurred)


def read_description(data: Path) -> dict:
    """Return the contents of ``data/dataset.json`` (empty if there is none), checking ``data`` exists."""
    if not data.is_dir():
        raise DataError(f"{data}: data folder not found")
    return projections.read_description(data)


def check_size(data: Path, size: int) -> None:
    """Raise ``DataError`` if ``data/dataset.json`` records an image size other than ``size``.

    The images would otherwise be resized to the checkpoint's size, which changes what the
    renderings and their projections mean (a 4 x 4 mosaic block would become 2 x 2).
    """
    recorded = read_description(data).get("size")
    if isinstance(recorded, int) and recorded != size:
        raise DataError(
            f"{data}: images are {recorded} px but the checkpoint was trained at {size} px; "
            f"build the data set with --size {size}"
        )


def load_pairs(data: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Load ``data/testA`` and ``data/testA_truth``, which must hold the same file names."""
    photo_names = [path.name for path in list_images(data / "testA")]
    truth_names = [path.name for path in list_images(data / "testA_truth")]
    if photo_names != truth_names:
        missing = sorted(set(photo_names) ^ set(truth_names))
        raise DataError(
            f"{data}: testA and testA_truth must hold the same file names ({len(photo_names)} and "
            f"{len(truth_names)} images; first difference {missing[0] if missing else 'in order'})"
        )
    return load_folder(data / "testA", size), load_folder(data / "testA_truth", size)


def domain_projection(data: Path) -> tuple[str, Projection] | None:
    """Return the name and function of the projection onto domain B of ``data``, if it has one."""
    kind = read_description(data).get("kind", "")
    if kind.startswith("screen-mosaic"):
        # screen_renderings.py draws its mosaics with 4 x 4 blocks.
        return "block mean", lambda images: block_mean_projection(images, 4)
    if kind.startswith("screen-blur"):
        return "low-pass", low_pass_projection
    if kind == "screen-gray-grain":
        return "gray projection", gray_projection
    projections = target_projections(data)
    return next(iter(projections.items()), None)


def evaluate(checkpoint: Path, data: Path) -> str:
    """Return the measurement line of one checkpoint."""
    forward, backward, config, step = load_generators(checkpoint)
    check_size(data, config.size)
    photos, truth = load_pairs(data, config.size)
    projection = domain_projection(data)

    with torch.no_grad():
        translated = forward(photos)
    # The record was measured with these four levels; the noise drawn at 0.01 depends on them.
    result = sweep(
        forward, backward, photos, noise_levels=(0.003, 0.01, 0.03, 0.1),
        projections=dict([projection]) if projection else None,
    )
    result = judge(result)
    probe = result.noise[1]

    fields = [
        f"{checkpoint}",
        f"step {step}",
        f"to truth {float((translated - truth).abs().mean()):.3f}",
        f"to photo {float((translated - photos).abs().mean()):.3f}",
        f"clean PSNR {result.clean.psnr:.2f} dB",
        f"gain {probe.gain:.1f}",
        f"drop at 0.01 {result.clean.psnr - probe.psnr:.2f} dB",
    ]
    if projection:
        fields.append(f"{projection[0]} drop {result.clean.psnr - result.extra[0].psnr:.2f} dB")
    fields.append(result.verdict)
    return " | ".join(fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint files (checkpoints/step_N.pt or latest.pt)")
    parser.add_argument("--data", type=Path, required=True, help="data set folder with testA/ and testA_truth/")
    args = parser.parse_args()
    torch.set_num_threads(1)

    for checkpoint in args.checkpoints:
        try:
            print(evaluate(checkpoint, args.data), flush=True)
        except (CheckpointError, DataError, OSError, ValueError) as exc:
            sys.exit(f"screen_eval: {exc}")


if __name__ == "__main__":
    main()
