"""Loss terms of CycleGAN."""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F


def lsgan_loss(prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al., "Least Squares Generative Adversarial Networks", 2017).

    The mean squared error between the discriminator's raw scores and 1 (real) or 0 (fake).
    """
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return F.mse_loss(prediction, target)


def vanilla_gan_loss(prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Cross-entropy GAN loss (Goodfellow et al., "Generative Adversarial Nets", 2014).

    The binary cross-entropy between the sigmoid of the discriminator's raw scores and 1 (real) or
    0 (fake). Generators are trained with target "real", which is the non-saturating form: its
    gradient stays large when the discriminator rejects their images with confidence.
    """
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return F.binary_cross_entropy_with_logits(prediction, target)


GAN_LOSSES: dict[str, Callable[[torch.Tensor, bool], torch.Tensor]] = {
    "lsgan": lsgan_loss,
    "vanilla": vanilla_gan_loss,
}
