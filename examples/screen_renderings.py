"""Build the extra domain B renderings used in the second round of screens in examples/README.md.

The crops are the ones ``cyclegan data photo2gray OUT --seed N`` cuts (same photos, same random
draws), and only the rendering of domain B differs:

- ``blur``: Gaussian blur with sigma 1.5 px;
- ``flat``: SLIC superpixels (about 40) filled with their mean colour;
- ``mosaic``: each 4 x 4 block replaced by its mean colour;
- ``blur-grain``, ``gray-grain`` and ``mosaic-grain``: the blur, gray or mosaic rendering plus
  Gaussian noise (std 2 levels of 8 bits unless ``--grain`` says otherwise) on every channel of every
  pixel, as a scanner or camera sensor would add.

``testA_truth/`` contains the noise-free rendering of every test photo. Train on the result with
``cyclegan train OUT --out RUN`` and measure it with ``examples/screen_eval.py``.

Usage::

    python examples/screen_renderings.py KIND OUT [--seed N] [--size PX] [--n-train N] [--n-test N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage import color, segmentation

from cyclegan.photos import MAX_IMAGES, MAX_SIZE, load_photos, render_gray, render_mosaic, split_crops

GRAIN_STD = 2.0
# Block side of the mosaic kinds: the screens recorded in examples/README.md used 4 x 4 blocks.
SCREEN_BLOCK = 4


def blur(photo: np.ndarray) -> np.ndarray:
    """Blur a crop with a Gaussian of sigma 1.5 px."""
    return cv2.GaussianBlur(photo, (0, 0), 1.5)


def flat(photo: np.ndarray) -> np.ndarray:
    """Fill each of about 40 SLIC superpixels with its mean colour, truncated to 8 bits."""
    labels = segmentation.slic(photo, n_segments=40, compactness=10, start_label=0)
    # label2rgb returns the means in the image's dtype, so they are truncated, not rounded.
    return color.label2rgb(labels, photo, kind="avg", bg_label=-1).astype(np.uint8)


def luminance(photo: np.ndarray) -> np.ndarray:
    """Return the unrounded ITU-R BT.709 luminance (0-255) of a crop in three equal channels."""
    return np.repeat(color.rgb2gray(photo)[..., None] * 255, 3, axis=2)


def mosaic(photo: np.ndarray) -> np.ndarray:
    """Render a crop as a mosaic of ``SCREEN_BLOCK`` x ``SCREEN_BLOCK`` blocks in their mean colours."""
    return render_mosaic(photo, SCREEN_BLOCK)


def add_grain(image: np.ndarray, rng: np.random.Generator, std: float = GRAIN_STD) -> np.ndarray:
    """Add Gaussian noise of ``std`` levels to every channel of every pixel and round to 8 bits."""
    noisy = image.astype(np.float64) + rng.normal(0.0, std, image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


# Noise-free rendering of each kind (also written to testA_truth/), and the image the grain is added to.
CLEAN = {"blur": blur, "flat": flat, "mosaic": mosaic, "blur-grain": blur, "gray-grain": render_gray,
         "mosaic-grain": mosaic}
GRAIN_BASE = {"blur-grain": blur, "gray-grain": luminance, "mosaic-grain": mosaic}


def write_folder(folder: Path, images: list[np.ndarray], final_folder: Path) -> None:
    """Write RGB images as numbered PNG files, stopping with an error if a file cannot be written.

    Errors name ``final_folder``, where the folder ends up, instead of the staging folder that is removed.
    """
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        sys.exit(f"{final_folder}: cannot create folder ({exc.strerror}); choose another OUT")
    for i, image in enumerate(images):
        path = folder / f"{i:05d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            sys.exit(f"{final_folder / path.name}: failed to write the image; check free space and permissions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=sorted(CLEAN), help="domain B rendering: " + ", ".join(sorted(CLEAN)))
    parser.add_argument("out", type=Path, help="new folder for the data set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops and the grain (default: 0)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels, a multiple of 4 (default: 32)")
    parser.add_argument("--n-train", type=int, default=500, help="training images per domain (default: 500)")
    parser.add_argument("--grain", type=float, default=None,
                        help=f"std of the grain in levels of 8 bits, for the *-grain kinds only (default: {GRAIN_STD:g})")
    parser.add_argument("--n-test", type=int, default=50, help="test images per domain (default: 50)")
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out}: already exists; choose a new folder")
    if not 8 <= args.size <= MAX_SIZE or args.size % SCREEN_BLOCK:
        sys.exit(f"--size {args.size} must be a multiple of {SCREEN_BLOCK} between 8 and {MAX_SIZE}")
    if not (1 <= args.n_train <= MAX_IMAGES and 1 <= args.n_test <= MAX_IMAGES):
        sys.exit(f"--n-train {args.n_train} and --n-test {args.n_test} must be between 1 and {MAX_IMAGES}")
    if args.grain is not None and args.kind not in GRAIN_BASE:
        sys.exit(f"--grain applies only to the kinds {', '.join(sorted(GRAIN_BASE))}, not to {args.kind}")
    grain = GRAIN_STD if args.grain is None else args.grain
    if not 0 <= grain <= 64:
        sys.exit(f"--grain {args.grain} must be between 0 and 64 levels")
    grain = abs(grain)  # -0.0 passes the check above, but numpy rejects it as a negative std
    if not 0 <= args.seed <= 2**32 - 1:
        sys.exit(f"--seed {args.seed} must be between 0 and {2**32 - 1}, as for `cyclegan data`")

    # The same draws as cyclegan.photos.build_dataset, so the crops match `cyclegan data`.
    train_a, train_b, test_a, test_b = split_crops(load_photos(), args.n_train, args.n_test, args.size, args.seed)

    clean = CLEAN[args.kind]
    grain_rng = np.random.default_rng(args.seed + 1000)

    def render(photo: np.ndarray) -> np.ndarray:
        if args.kind in GRAIN_BASE:
            return add_grain(GRAIN_BASE[args.kind](photo), grain_rng, grain)
        return clean(photo)

    # The data set is written to a hidden sibling folder and renamed to OUT only when complete, so a
    # failed run leaves no partial OUT behind.
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
        # mkdtemp makes the folder private (0700), so give it the permissions a plain mkdir would.
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
    except OSError as exc:
        sys.exit(f"{args.out}: cannot create folder ({exc.strerror}); choose another OUT")
    try:
        write_folder(staging / "trainA", train_a, args.out / "trainA")
        write_folder(staging / "trainB", [render(p) for p in train_b], args.out / "trainB")
        write_folder(staging / "testA", test_a, args.out / "testA")
        write_folder(staging / "testA_truth", [clean(p) for p in test_a], args.out / "testA_truth")
        write_folder(staging / "testB", [render(p) for p in test_b], args.out / "testB")
        meta = {"kind": f"screen-{args.kind}", "size": args.size, "seed": args.seed,
                "grain": grain if args.kind in GRAIN_BASE else None,
                "n_train": args.n_train, "n_test": args.n_test}
        (staging / "dataset.json").write_text(json.dumps(meta, indent=2))
        staging.rename(args.out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    print(f"wrote {args.kind} data set to {args.out}")


if __name__ == "__main__":
    main()
