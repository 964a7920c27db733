"""Shared fixtures: a tiny unpaired data set and a training config sized for a 2-core CPU."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cyclegan.checkpoint import save_checkpoint
from cyclegan.config import TrainConfig
from cyclegan.train import Networks, build_networks

# Tests share the machine with long trainings, so each test uses one thread.
torch.set_num_threads(1)

IMAGE_SIZE = 16


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an H x W x 3 uint8 RGB array as a PNG file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def save_new_checkpoint(path: Path, config: TrainConfig, step: int) -> Networks:
    """Save freshly initialized networks (seed 0) with ``config`` and ``step``; return the networks."""
    torch.manual_seed(0)
    nets = build_networks(config, torch.device("cpu"))
    state = {name: net.state_dict() for name, net in nets.items()}
    save_checkpoint(path, {**state, "config": config.to_dict(), "step": step})
    return nets


def random_rgb(rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    return rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)


@pytest.fixture
def dataroot(tmp_path: Path) -> Path:
    """Build a data set with 3 training and 2 test images of 16 x 16 px per domain."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for folder, count in (("trainA", 3), ("trainB", 3), ("testA", 2), ("testB", 2)):
        for i in range(count):
            write_png(root / folder / f"{i:03d}.png", random_rgb(rng))
    return root


@pytest.fixture
def tiny_config(dataroot: Path) -> TrainConfig:
    """Return a config with 16 px images, 4-filter networks and 4 training steps.

    The discriminator has 2 layers because 3 layers shrink a 16 px input to nothing.
    """
    return TrainConfig(
        dataroot=str(dataroot),
        size=IMAGE_SIZE,
        ngf=4,
        ndf=4,
        n_blocks=1,
        n_layers_d=2,
        pool_size=2,
        steps=4,
        flip=False,
        seed=5,
        sample_every=2,
        checkpoint_every=2,
        log_every=1,
        device="cpu",
        threads=1,
    )
