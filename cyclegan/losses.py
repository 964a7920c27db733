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


def r1_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Score real images and return ``(scores, penalty)``, the R1 penalty of Mescheder et al. (2018).

    The penalty is the squared norm of the gradient of the discriminator's score with respect to a
    real image, averaged over the batch ("Which Training Methods for GANs do actually Converge?").
    A PatchGAN scores many patches, and the score differentiated here is their mean, the same
    average the GAN loss takes. The penalty keeps its graph, so it can be added to the loss.
    """
    real = real.detach().requires_grad_(True)
    scores = discriminator(real)
    # Each image's mean score; the sum over the batch keeps each image's gradient its own.
    per_image = scores.flatten(1).mean(dim=1) if scores.dim() > 1 else scores
    (grad,) = torch.autograd.grad(per_image.sum(), real, create_graph=True)
    return scores, grad.pow(2).flatten(1).sum(1).mean()


GAN_LOSSES: dict[str, Callable[[torch.Tensor, bool], torch.Tensor]] = {
    "lsgan": lsgan_loss,
    "vanilla": vanilla_gan_loss,
}
