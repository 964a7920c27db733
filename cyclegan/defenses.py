"""Defenses against steganography in the cycle-consistency path.

Chu, Zhmoginov and Sandler, "CycleGAN, a Master of Steganography" (2017), show that a CycleGAN can
hide its input in a low-amplitude, high-frequency signal inside the translated image. Adding weak
noise to the translated image before the other generator reconstructs it makes such a signal useless.
These perturbations apply to the cycle path only: the adversarial and identity losses see the clean
translation.
"""

from __future__ import annotations

import torch


def cycle_perturb(
    fake: torch.Tensor, noise_std: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Perturb a translated image before it enters the reconstructing generator.

    Parameters
    ----------
    fake : torch.Tensor
        Translated images, N x C x H x W in [-1, 1].
    noise_std : float
        Standard deviation of added Gaussian noise on the [-1, 1] scale; 0 leaves ``fake`` unchanged.
    generator : torch.Generator, optional
        Random source for the noise.

    Returns
    -------
    torch.Tensor
        ``fake`` plus noise. Gradients flow through unchanged, so the translating generator is still
        trained by the cycle loss.
    """
    if noise_std <= 0:
        return fake
    noise = torch.randn(fake.shape, generator=generator, device=fake.device, dtype=fake.dtype)
    return fake + noise_std * noise
