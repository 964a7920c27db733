"""Training configuration, saved in every run folder and checkpoint."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from .losses import GAN_LOSSES
from .models import NORMS

# Inclusive ranges of the integer and weight settings. The upper bounds reject values that would
# allocate tens of GB (for example ngf 20000 in an untrusted checkpoint) before any shape check.
_BOUNDS = {
    "size": (1, 4096),
    "ngf": (1, 1024),
    "ndf": (1, 1024),
    "n_blocks": (0, 64),
    "n_downsampling": (0, 6),
    "n_layers_d": (1, 6),
    "lambda_cycle": (0.0, 1e6),
    "lambda_identity": (0.0, 1e6),
    "lambda_gan": (0.0, 1e6),
    "r1_gamma": (0.0, 1e6),
    "pool_size": (0, 100000),
    "batch_size": (1, 4096),
    "seed": (0, 2**32 - 1),
    "sample_every": (1, 2**40),
    "checkpoint_every": (1, 2**40),
    "snapshot_every": (0, 2**40),
    "log_every": (1, 2**40),
    "num_workers": (0, 256),
    "beta1": (0.0, 1.0),
    "beta2": (0.0, 1.0),
}
# A billion steps take weeks even at hundreds of steps per second, so larger values are typing mistakes.
MAX_STEPS = 10**9
_TYPES = {
    "dataroot": str, "size": int, "load_size": int, "ngf": int, "ndf": int, "n_blocks": int,
    "n_downsampling": int, "n_layers_d": int, "norm_g": str, "norm_d": str, "steps": int,
    "decay_steps": int, "batch_size": int, "seed": int, "pool_size": int, "device": str,
    "lambda_cycle": (int, float), "lambda_identity": (int, float), "lambda_gan": (int, float),
    "gan_mode": str, "r1_gamma": (int, float), "cycle_noise": (int, float), "lr": (int, float), "lr_d": (int, float),
    "beta1": (int, float), "beta2": (int, float), "sample_every": int, "checkpoint_every": int,
    "snapshot_every": int, "log_every": int, "num_workers": int, "threads": (int, type(None)),
}
_FLAGS = ("input_skip", "residual_g", "flip")


@dataclass
class TrainConfig:
    """All settings of one CycleGAN training run.

    Defaults are sized for a 2-core CPU (32 px images, small networks). The reference settings of
    Zhu et al. (2017) are ``size=256, ngf=64, ndf=64, n_blocks=9`` with about 200 epochs.
    Images are scaled to [-1, 1]; ``cycle_noise`` is a standard deviation on that scale.
    """

    dataroot: str = ""
    size: int = 32
    load_size: int | None = None
    ngf: int = 16
    ndf: int = 32
    n_blocks: int = 6
    n_downsampling: int = 2
    n_layers_d: int = 3
    norm_g: str = "instance"
    input_skip: bool = False
    residual_g: bool = False
    norm_d: str = "instance"
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_gan: float = 1.0
    gan_mode: str = "lsgan"
    r1_gamma: float = 0.0
    cycle_noise: float = 0.0
    pool_size: int = 50
    lr: float = 2e-4
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    steps: int = 6000
    decay_steps: int | None = None
    batch_size: int = 1
    flip: bool = True
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 1000
    snapshot_every: int = 0
    log_every: int = 50
    num_workers: int = 0
    device: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.load_size is None:
            self.load_size = self.size
        if self.decay_steps is None:
            self.decay_steps = self.steps // 2
        if self.lr_d is None:
            self.lr_d = self.lr

        # "-0" on the command line parses as -0.0; store it as 0.0 so config.json reads as the user meant.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and value == 0.0:
                setattr(self, field.name, 0.0)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot work."""
        for name, expected in _TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, expected):
                raise ValueError(f"{name} {value!r} has the wrong type")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} {getattr(self, name)!r} must be true or false")

        for name, (low, high) in _BOUNDS.items():
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name} {getattr(self, name)} is outside the supported range [{low}, {high}]")

        if self.norm_g not in NORMS or self.norm_d not in NORMS:
            raise ValueError(f"norm_g and norm_d must be one of {', '.join(NORMS)}")
        if self.gan_mode not in GAN_LOSSES:
            raise ValueError(f"gan_mode {self.gan_mode!r} must be one of {', '.join(GAN_LOSSES)}")
        if self.lr <= 0 or self.lr_d <= 0:
            raise ValueError(f"learning rates must be positive, got lr {self.lr} and lr_d {self.lr_d}")

        # _BOUNDS already keeps size, ngf, ndf and batch_size at 1 or more.
        factor = 2**self.n_downsampling
        if self.size % factor:
            raise ValueError(f"size {self.size} must be a multiple of {factor}")

        # Each of the PatchGAN's stride-2 layers halves the image and its last two 4x4 convolutions
        # remove one pixel each, so at least one score remains only from 3 * 2**n_layers_d pixels.
        min_size = 3 * 2**self.n_layers_d
        if self.size < min_size:
            raise ValueError(
                f"size {self.size} is too small for a PatchGAN with n_layers_d {self.n_layers_d}; "
                f"use size >= {min_size} or fewer discriminator layers"
            )

        if self.load_size < self.size:
            raise ValueError(f"load_size {self.load_size} must be at least size {self.size}")
        if self.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if self.steps > MAX_STEPS:
            raise ValueError(f"steps {self.steps} is above the supported maximum of {MAX_STEPS}")
        if not 0 <= self.decay_steps <= self.steps:
            raise ValueError(f"decay_steps {self.decay_steps} must be between 0 and steps {self.steps}")
        if self.cycle_noise < 0:
            raise ValueError(f"cycle_noise must be >= 0, got {self.cycle_noise}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build a config from a dict, rejecting keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
