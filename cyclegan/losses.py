"""Loss terms of CycleGAN."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def lsgan_loss(prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al., "Least Squares Generative Adversarial Networks", 2017).

    The mean squared error between the discriminator's raw scores and 1 (real) or 0 (fake).
    """
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return F.mse_loss(prediction, target)
