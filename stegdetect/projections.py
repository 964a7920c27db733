"""Projections of a translation onto its target domain, used as strong perturbations.

A faithful translation into a domain of flat map colours or of gray images changes little when it is
snapped onto that domain. A translation that carries a hidden code in small deviations from the
domain loses the code. The projections are built from the ``dataset.json`` that
``cyclegan data`` writes beside the images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from torch.nn import functional

from cyclegan.data import DataError

Projection = Callable[[torch.Tensor], torch.Tensor]


def palette_projection(colours: list[list[int]]) -> Projection:
    """Snap every pixel to the nearest of ``colours`` (RGB, 0-255); images are N x 3 x H x W in [-1, 1]."""
    palette = torch.tensor(colours, dtype=torch.float32) / 127.5 - 1

    def project(images: torch.Tensor) -> torch.Tensor:
        centres = palette.to(images.device, images.dtype)
        distances = (images[:, None] - centres[None, :, :, None, None]).pow(2).sum(2)
        return centres[distances.argmin(1)].permute(0, 3, 1, 2)

    return project


def gray_projection(images: torch.Tensor) -> torch.Tensor:
    """Replace each pixel by the mean of its three channels, keeping three equal channels."""
    return images.mean(1, keepdim=True).expand_as(images).contiguous()


def block_mean_projection(images: torch.Tensor, block: int) -> torch.Tensor:
    """Replace every ``block`` x ``block`` square by its mean, as the photo2mosaic rendering does.

    Raises
    ------
    ValueError
        If ``images`` is not a floating-point 4-D tensor, ``block`` is not a positive integer, or
        the image sides are not positive multiples of ``block``.
    """
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"expected a floating-point N x C x H x W tensor, got {images.dtype} of shape {tuple(images.shape)}")
    if images.shape[-1] % block or images.shape[-2] % block or images.shape[-1] == 0 or images.shape[-2] == 0:
        raise ValueError(
            f"the block-mean projection needs images whose sides are multiples of {block} px, "
            f"got {tuple(images.shape[-2:])}"
        )
    return functional.interpolate(functional.avg_pool2d(images, block), scale_factor=block)


def read_description(data_root: Path) -> dict:
    """Return the contents of ``data_root/dataset.json``, or an empty dict if the data set has none.

    Raises
    ------
    DataError
        If the file is not a JSON object, or its ``kind`` is not a string.
    """
    meta_path = Path(data_root) / "dataset.json"
    if not meta_path.is_file():
        return {}
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("the top level is not an object")
        if not isinstance(meta.get("kind", ""), str):
            raise ValueError("kind is not a string")
    except ValueError as exc:  # also JSONDecodeError and UnicodeDecodeError
        raise DataError(f"{meta_path}: invalid data set description ({exc}); fix or delete it") from exc
    except RecursionError as exc:
        raise DataError(f"{meta_path}: invalid data set description (nested too deeply); fix or delete it") from exc
    return meta


def target_projections(data_root: Path, size: int | None = None) -> dict[str, Projection]:
    """Return the projections onto domain B described by ``data_root/dataset.json``, if any.

    The A -> B translation of a ``photo2map`` data set is snapped to its palette (and boundary colour),
    that of ``photo2gray`` is projected onto gray, and that of ``photo2mosaic`` is replaced by its
    block means. A folder without ``dataset.json``, such as a user's own data, gets none.

    Raises
    ------
    DataError
        If the description is invalid, or if ``size`` is given and differs from the image size it
        records: resized renderings are no longer in domain B (a 4 x 4 mosaic block would not stay
        one block), so the projections would measure the resizing.
    """
    meta = read_description(data_root)
    recorded = meta.get("size")
    if isinstance(recorded, bool) or not isinstance(recorded, int):
        recorded = None
    if size is not None and meta.get("kind") and recorded is not None and recorded != size:
        raise DataError(
            f"{Path(data_root) / 'dataset.json'}: the images are {recorded} px but would be resized to "
            f"{size} px; build the data set with --size {size}, or pass --size {recorded}"
        )
    try:
        if meta.get("kind") == "photo2map" and meta.get("palette"):
            colours = list(meta["palette"])
            if meta.get("boundary_colour"):
                colours.append(meta["boundary_colour"])
            if not all(isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c) for c in colours):
                raise ValueError("palette colours must be [R, G, B] lists of integers 0-255")
            return {"palette snap": palette_projection(colours)}
    except (ValueError, TypeError) as exc:
        meta_path = Path(data_root) / "dataset.json"
        raise DataError(f"{meta_path}: invalid data set description ({exc}); fix or delete it") from exc
    if meta.get("kind") == "photo2gray":
        return {"gray projection": gray_projection}
    if meta.get("kind") == "photo2mosaic":
        return {"block mean": _mosaic_projection(data_root, meta, size if size is not None else recorded)}
    return {}


def _mosaic_projection(data_root: Path, meta: dict, size: int | None) -> Projection:
    # Checked here, before a sweep does any work, because the projection runs last.
    block = meta.get("block")
    if "block" not in meta:
        problem = 'no block side; add "block": N'
    elif isinstance(block, bool) or not isinstance(block, int) or block < 2:
        problem = f"block {block!r} is not an integer of at least 2"
    elif size is not None and size % block:
        problem = f"block {block} does not divide the image size {size}"
    else:
        return lambda images: block_mean_projection(images, block)

    meta_path = Path(data_root) / "dataset.json"
    raise DataError(f"{meta_path}: invalid data set description ({problem}); fix or delete it")
