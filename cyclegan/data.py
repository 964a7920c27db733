"""Image folders in the unpaired ``trainA/ trainB/ testA/ testB/`` layout."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .runlock import close_inherited

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# OpenCV logs its own decoder errors to stderr before returning None; read_rgb reports them instead.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


class DataError(ValueError):
    """A data folder or image file that cannot be used; the message names the path."""


def list_images(folder: str | Path) -> list[Path]:
    """Return the image files in ``folder``, sorted by name.

    Raises
    ------
    DataError
        If the folder is missing or contains no file with an image suffix.
    """
    folder = Path(folder)
    if folder.is_file():
        raise DataError(f"{folder}: is a file; expected a folder of images")
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files)")
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an H x W x 3 uint8 RGB array.

    Gray images are repeated over three channels and an alpha channel is dropped; 16-bit images are
    scaled to 8 bits.

    Raises
    ------
    DataError
        If the file is missing or cannot be decoded as an image.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{path}: not a readable image (expected PNG, JPEG, BMP, TIFF or WebP)")
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DataError(f"{path}: unsupported pixel type {image.dtype}; expected 8- or 16-bit")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """Convert an H x W x 3 uint8 array to a 3 x H x W float tensor in [-1, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div(127.5).sub(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Convert a 3 x H x W tensor in [-1, 1] to an H x W x 3 uint8 array, rounding to nearest."""
    array = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return array.byte().permute(1, 2, 0).cpu().numpy()


def load_image_tensor(path: str | Path, size: int | None = None) -> torch.Tensor:
    """Read an image as a 3 x H x W tensor in [-1, 1], resized to ``size`` x ``size`` if given."""
    image = read_rgb(path)
    return to_tensor(image if size is None else resize_square(image, size))


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an image to ``size`` x ``size`` pixels (area interpolation) unless it has that size."""
    if image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def warn_resized(folder: str | Path, resized: int, total: int, size: int) -> None:
    """Log a warning that ``resized`` of the ``total`` images of ``folder`` were resized to ``size``."""
    if resized:
        logger.warning(
            "%s: resized %d of %d images to %d x %d px; non-square images are also stretched to a square",
            folder, resized, total, size, size,
        )


def load_folder(folder: str | Path, size: int, limit: int | None = None, warn: bool = True) -> torch.Tensor:
    """Read the first ``limit`` images of a folder (by name) as an N x 3 x size x size tensor in [-1, 1].

    Images of another size are resized to ``size`` x ``size``. With ``warn``, a warning gives their
    number.
    """
    files = list_images(folder)[:limit]
    images = [read_rgb(f) for f in files]
    if warn:
        warn_resized(folder, sum(image.shape[:2] != (size, size) for image in images), len(images), size)
    return torch.stack([to_tensor(resize_square(image, size)) for image in images])


def check_dataroot(root: str | Path) -> None:
    """Raise ``DataError`` unless ``root`` has image folders ``trainA`` and ``trainB``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    missing = [name for name in ("trainA", "trainB") if not (root / name).is_dir()]
    if missing:
        raise DataError(
            f"{root}: missing {' and '.join(missing)}; expected the unpaired layout "
            "trainA/ trainB/ (testA/ testB/ optional), e.g. from 'cyclegan data photo2map'"
        )
    for name in ("trainA", "trainB"):
        for path in list_images(root / name):
            # Reads only the file signature, so a folder of thousands of images is checked quickly.
            if not cv2.haveImageReader(str(path)):
                raise DataError(f"{path}: not a readable image; remove it from {root / name}")


class UnpairedDataset(Dataset):
    """Pairs of one image from domain A and one random image from domain B.

    Each image is resized to ``load_size``, randomly cropped to ``size`` and randomly flipped
    left-right, as in CycleGAN's default preprocessing. Item ``i`` uses A image ``i mod len(A)`` and a
    B image drawn at random, so the pairing is different every epoch.
    """

    def __init__(
        self, root: str | Path, phase: str = "train", size: int = 32, load_size: int | None = None,
        flip: bool = True, seed: int = 0,
    ) -> None:
        root = Path(root)
        self.files_a = list_images(root / f"{phase}A")
        self.files_b = list_images(root / f"{phase}B")
        self.size = size
        self.load_size = load_size or size
        self.flip = flip
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def _prepare(self, path: Path) -> torch.Tensor:
        image = read_rgb(path)
        if image.shape[:2] != (self.load_size, self.load_size):
            image = cv2.resize(image, (self.load_size, self.load_size), interpolation=cv2.INTER_AREA)
        if self.load_size > self.size:
            y, x = self.rng.integers(0, self.load_size - self.size + 1, size=2)
            image = image[y : y + self.size, x : x + self.size]
        if self.flip and self.rng.random() < 0.5:
            image = image[:, ::-1]
        return to_tensor(np.ascontiguousarray(image))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path_a = self.files_a[index % len(self.files_a)]
        path_b = self.files_b[int(self.rng.integers(len(self.files_b)))]
        return {"A": self._prepare(path_a), "B": self._prepare(path_b)}


def seed_worker(worker_id: int, lock: tuple[int, int, int] | None = None) -> None:
    """Give each DataLoader worker its own random stream, derived from the loader's seed.

    ``lock`` is the trainer's :meth:`~cyclegan.runlock.RunLock.identity`. The worker closes its
    inherited copy of the lock file, so that it cannot keep the run folder locked after the
    trainer dies.
    """
    close_inherited(lock)
    dataset = torch.utils.data.get_worker_info().dataset
    dataset.rng = np.random.default_rng(torch.initial_seed() % 2**32)
