"""History of generated images for the discriminator update."""

from __future__ import annotations

import random

import torch


class ImagePool:
    """Buffer of past generated images (Shrivastava et al., "Learning from Simulated and Unsupervised
    Images through Adversarial Training", 2017).

    Until the pool is full each image is stored and returned as is. Afterwards each incoming image is,
    with probability 1/2, swapped with a random stored image (the stored one is returned), and
    otherwise returned as is. Updating the discriminator on this history reduces oscillation.

    Parameters
    ----------
    size : int
        Number of images kept; 0 disables the pool.
    rng : random.Random, optional
        Random source, for reproducible runs.
    """

    def __init__(self, size: int = 50, rng: random.Random | None = None) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = rng or random.Random()

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape, mixing ``images`` with stored ones (detached)."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() < 0.5:
                index = self.rng.randrange(self.size)
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        stacked = torch.cat(self.images, 0).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stacked}

    def load_state_dict(self, state: dict, device: torch.device | str | None = None) -> None:
        """Restore the pool from :meth:`state_dict`, moving the stored images to ``device`` if given."""
        self.size = int(state["size"])
        images = state["images"] if device is None else state["images"].to(device)
        self.images = [image.unsqueeze(0) for image in images] if images.numel() else []
