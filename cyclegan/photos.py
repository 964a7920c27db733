"""Unpaired data sets built from the photographs that ship with scikit-image and scikit-learn.

Domain A contains crops of colour photographs. Domain B contains renderings of *other* crops that throw
information away (a flat-colour map, grayscale, or a mosaic of block means), so a CycleGAN that
reconstructs A from B well must get that information from somewhere other than the visible image. Nothing is downloaded.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tqdm import tqdm

# scikit-image, scikit-learn and scipy are imported where they are used, because together they add
# over a second to the start-up of every `cyclegan` command, which imports this module's constants.
if TYPE_CHECKING:
    from sklearn.cluster import KMeans

logger = logging.getLogger(__name__)

# Natural colour photographs only: skimage's retina and immunohistochemistry images have strong colour
# casts that pull generators towards their colours, and hubble_deep_field is almost black.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")

# Map colours (RGB, 0-255) ordered from dark to light, so that darker photo regions become darker map
# regions: water, forest, park, fields, sand, built-up area, paper, road.
MAP_COLOURS = np.array(
    [
        [70, 110, 170],
        [90, 140, 90],
        [150, 200, 130],
        [200, 210, 150],
        [225, 205, 165],
        [215, 190, 190],
        [240, 236, 226],
        [255, 255, 255],
    ],
    dtype=np.uint8,
)
BOUNDARY_COLOUR = np.array([60, 60, 60], dtype=np.uint8)
TEST_STRIP = 0.25
# The narrowest test strip is about 110 px (a quarter of the 451 px wide chelsea photo), so crops
# above this side would be upsampled.
MAX_SIZE = 128
# Largest --n-train or --n-test. Every crop is held in memory until the folders are written, and this
# many crops of MAX_SIZE px take about 2 GB per split and domain.
MAX_IMAGES = 40_000
# Default side of the square blocks of a photo2mosaic rendering, in pixels. At 32 px, 8 x 8 blocks
# keep less of a photo than 4 x 4 ones, so a hidden code gains the demo's undefended model more.
MOSAIC_BLOCK = 8
KINDS = ("photo2map", "photo2gray", "photo2mosaic")


def load_photos() -> list[tuple[str, np.ndarray]]:
    """Return the bundled colour photographs as ``(name, H x W x 3 uint8)`` pairs."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [(name, getattr(data, name)()) for name in SKIMAGE_PHOTOS]
    bunch = load_sample_images()
    for filename, image in zip(bunch.filenames, bunch.images):
        photos.append((Path(filename).stem, np.ascontiguousarray(image)))
    return photos


def random_crops(
    photos: list[tuple[str, np.ndarray]], n: int, size: int, rng: np.random.Generator, test: bool
) -> list[np.ndarray]:
    """Cut ``n`` random square crops and resize them to ``size`` pixels.

    Training crops come from the left ``1 - TEST_STRIP`` of each photo and test crops from the right
    strip, so no test pixel is seen in training. Crop sides are drawn between 3 and 8 times ``size``
    (less where the region is narrower), so each crop shows a scene rather than a texture.
    """
    crops = []
    for i in range(n):
        _, photo = photos[i % len(photos)]
        height, width = photo.shape[:2]
        split = int(round(width * (1 - TEST_STRIP)))
        x0, x1 = (split, width) if test else (0, split)
        max_side = min(height, x1 - x0, 8 * size)
        side = int(rng.integers(min(3 * size, max_side), max_side + 1))
        y = int(rng.integers(0, height - side + 1))
        x = int(rng.integers(x0, x1 - side + 1))
        crop = photo[y : y + side, x : x + side]
        crops.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return crops


def split_crops(
    photos: list[tuple[str, np.ndarray]], n_train: int, n_test: int, size: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Cut the photo crops of the four folders trainA, trainB, testA and testB.

    Each folder cycles through all the photos with its own random stream, spawned from ``seed``. The
    two domains then show the same scenes, so a discriminator cannot tell them apart by content, and
    the test crops do not depend on ``n_train``.

    Returns
    -------
    tuple of four lists of ``size x size x 3`` uint8 arrays
        The crops of trainA, trainB, testA and testB, in that order. Domain B's crops are the ones to
        render.
    """
    streams = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(4)]
    return (
        random_crops(photos, n_train, size, streams[0], test=False),
        random_crops(photos, n_train, size, streams[1], test=False),
        random_crops(photos, n_test, size, streams[2], test=True),
        random_crops(photos, n_test, size, streams[3], test=True),
    )


def fit_palette(crops: list[np.ndarray], n_colours: int, seed: int) -> KMeans:
    """Cluster photo colours in CIELAB into ``n_colours`` classes, ordered by lightness."""
    from skimage import color
    from sklearn.cluster import KMeans

    pixels = np.concatenate([color.rgb2lab(c).reshape(-1, 3) for c in crops])
    rng = np.random.default_rng(seed)
    sample = pixels[rng.choice(len(pixels), size=min(len(pixels), 20000), replace=False)]
    kmeans = KMeans(n_clusters=n_colours, n_init=4, random_state=seed).fit(sample)
    order = np.argsort(kmeans.cluster_centers_[:, 0])
    kmeans.cluster_centers_ = kmeans.cluster_centers_[order]
    return kmeans


def map_colours(n_colours: int) -> np.ndarray:
    """Pick ``n_colours`` map colours spread from dark to light, as an n x 3 uint8 array."""
    if not 2 <= n_colours <= len(MAP_COLOURS):
        raise ValueError(f"--palette {n_colours} must be between 2 and {len(MAP_COLOURS)}")
    index = np.round(np.linspace(0, len(MAP_COLOURS) - 1, n_colours)).astype(int)
    return MAP_COLOURS[index]


def render_map(photo: np.ndarray, palette: KMeans, colours: np.ndarray, boundaries: bool = True) -> np.ndarray:
    """Render a photo crop as a flat-colour map.

    The crop is smoothed (Gaussian, sigma 1 px) and every pixel is classified by its nearest palette
    centre in CIELAB. Isolated pixels are removed by a 3x3 median filter on the class labels
    (ordered by lightness). Then each class is painted in its map colour, and the boundaries between classes are drawn
    in dark gray. This is many-to-one: texture and exact colours are lost.
    """
    from scipy import ndimage
    from skimage import color, segmentation

    smooth = cv2.GaussianBlur(photo, (0, 0), 1.0)
    lab = color.rgb2lab(smooth).reshape(-1, 3)
    labels = palette.predict(lab).reshape(photo.shape[:2])
    labels = ndimage.median_filter(labels, size=3, mode="nearest")
    rendered = colours[labels]
    if boundaries:
        edge = segmentation.find_boundaries(labels, mode="inner")
        rendered[edge] = BOUNDARY_COLOUR
    return rendered


def render_gray(photo: np.ndarray) -> np.ndarray:
    """Render a photo crop as grayscale (ITU-R BT.709 luminance) stored in three equal channels."""
    from skimage import color

    gray = np.round(color.rgb2gray(photo) * 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def render_mosaic(photo: np.ndarray, block: int) -> np.ndarray:
    """Render a photo crop as a mosaic: every ``block`` x ``block`` square takes its mean colour.

    This is many-to-one: all detail inside a block is lost. The crop's sides must be multiples of
    ``block``.
    """
    height, width = photo.shape[:2]
    small = cv2.resize(photo, (width // block, height // block), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def _write(folder: Path, images: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def build_dataset(
    kind: str,
    out: str | Path,
    size: int = 32,
    n_train: int = 500,
    n_test: int = 50,
    seed: int = 0,
    palette_size: int = 5,
    boundaries: bool = True,
    block: int = MOSAIC_BLOCK,
) -> dict:
    """Write an unpaired data set in the ``trainA/ trainB/ testA/ testB/`` layout.

    Parameters
    ----------
    kind : {"photo2map", "photo2gray", "photo2mosaic"}
        Rendering used for domain B.
    out : path
        Output folder; created if missing.
    size : int
        Side of the square images in pixels.
    n_train, n_test : int
        Images per domain in each split.
    seed : int
        Seed for crops and palette; the same seed gives the same files.
    palette_size : int
        Number of map colours (photo2map only).
    boundaries : bool
        Draw class boundaries on maps (photo2map only).
    block : int
        Side in pixels of the squares that take their mean colour (photo2mosaic only). It must
        divide ``size``.

    Returns
    -------
    dict
        The metadata also written to ``dataset.json``: kind, size, seed, counts, and the palette
        colours of maps or the block side of mosaics.

    Notes
    -----
    ``testA_truth/`` contains the rendering of every ``testA`` photo (its true map, gray image or
    mosaic), so translation quality can be measured against ground truth.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown data set kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not 8 <= size <= MAX_SIZE:
        if size > MAX_SIZE:
            raise ValueError(f"--size {size} is outside [8, {MAX_SIZE}]: larger crops would only upsample the bundled photos")
        raise ValueError(f"--size {size} is outside [8, {MAX_SIZE}]: smaller images are too small for the generators")
    if not (1 <= n_train <= MAX_IMAGES and 1 <= n_test <= MAX_IMAGES):
        raise ValueError(f"--n-train {n_train} and --n-test {n_test} must be between 1 and {MAX_IMAGES}")
    if kind == "photo2map":
        map_colours(palette_size)
    if kind == "photo2mosaic":
        if isinstance(block, bool) or not isinstance(block, int) or not 2 <= block <= size:
            raise ValueError(f"--block {block!r} must be an integer between 2 and --size {size}")
        if size % block:
            raise ValueError(f"--size {size} must be a multiple of --block {block} for photo2mosaic")

    out = Path(out)
    photos = load_photos()
    logger.info("cutting %d crops of %d px from %d photos", 2 * (n_train + n_test), size, len(photos))
    train_a, train_b, test_a, test_b = split_crops(photos, n_train, n_test, size, seed)

    meta: dict = {"kind": kind, "size": size, "seed": seed, "n_train": n_train, "n_test": n_test}
    if kind == "photo2map":
        palette = fit_palette(train_a + train_b, palette_size, seed)
        colours = map_colours(palette_size)
        meta["palette"] = colours.tolist()
        meta["boundary_colour"] = BOUNDARY_COLOUR.tolist() if boundaries else None
        render = lambda photo: render_map(photo, palette, colours, boundaries)  # noqa: E731
    elif kind == "photo2mosaic":
        meta["block"] = block
        render = lambda photo: render_mosaic(photo, block)  # noqa: E731
    else:
        render = render_gray

    folders = {
        "trainA": lambda: train_a,
        "trainB": lambda: [render(p) for p in train_b],
        "testA": lambda: test_a,
        "testA_truth": lambda: [render(p) for p in test_a],
        "testB": lambda: [render(p) for p in test_b],
    }
    with tqdm(folders.items(), desc=f"writing {kind}", unit="folder", leave=False) as progress:
        for name, images in progress:
            _write(out / name, images())

    (out / "dataset.json").write_text(json.dumps(meta, indent=2))
    return meta
