"""Run the sensitivity sweep of a generator pair over image folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from cyclegan.data import load_folder

from .projections import Projection
from .sensitivity import DEFAULT_NOISE_LEVELS, PROBE_NOISE, DirectionResult, judge, sweep


@dataclass
class DirectionSpec:
    """One cycle to test: ``"AB"`` (A -> B -> A) or ``"BA"``, on images of its source domain."""

    direction: str
    folder: Path
    projections: dict[str, Projection] = field(default_factory=dict)


def run_sensitivity(
    G_AB: torch.nn.Module,
    G_BA: torch.nn.Module,
    specs: list[DirectionSpec],
    size: int,
    noise_levels: tuple[float, ...] = DEFAULT_NOISE_LEVELS,
    limit: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> list[DirectionResult]:
    """Sweep and judge each direction; see :func:`stegdetect.sensitivity.sweep` and :func:`judge`.

    The verdict's probe std (``PROBE_NOISE``) is added to ``noise_levels`` if it is missing.
    """
    noise_levels = tuple(sorted({*noise_levels, PROBE_NOISE}))
    results = []
    for spec in specs:
        images = load_folder(spec.folder, size, limit).to(device)
        forward, backward = (G_AB, G_BA) if spec.direction == "AB" else (G_BA, G_AB)
        result = sweep(
            forward, backward, images, noise_levels, projections=spec.projections,
            direction=spec.direction, seed=seed, progress=progress,
        )
        results.append(judge(result))
    return results
