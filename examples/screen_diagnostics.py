"""Look inside a screening checkpoint: which perturbations its reconstruction amplifies, which loss
wins over the translation, and the PSNR that a copy of the true rendering reaches.

``gains`` prints, for the A -> B -> A cycle on ``DATA/testA``, the chroma of the translation (mean
absolute difference between each channel and the mean of the three) and the gain of the
reconstruction for four kinds of noise, each rescaled to an RMS of exactly 0.01 and added to the
translation:

- *white*: independent Gaussian noise on every pixel and channel, the kind that ``stegdetect
  sensitivity`` uses (with another random draw, so its gain can differ slightly);
- *chroma-white*: the same with the mean over the channels removed, so that it changes colour only;
- *low*: white noise blurred with a Gaussian of sigma LOW_SIGMA px;
- *chroma-low*: white noise blurred, then made colour-only.

A decoder that reads a code by averaging over many pixels (a tint, a smooth pattern) has a low gain
for white noise and a higher one for low-frequency noise.

``balance`` loads the discriminator D_B as well and compares, on 16 test photos, the two terms of
the generator loss that act on the translation G_AB(photo). The adversarial term is the GAN weight
times the run's GAN loss (LSGAN or cross-entropy) of D_B's score on the translation, with target
"real". The cycle term is the cycle weight times the L1 between G_BA(translation) and the photo. It
prints the norm of each term's gradient with respect to the translation. It also prints the mean
over the images of the cosine between each term's descent direction (minus its gradient) and the
step that projects the translation onto domain B (see ``screen_eval.domain_projection``). Last
come the mean D_B scores of real B images, of the translation, of the projected translation and of
the photos. The cycle term uses the clean translation, also for runs trained with ``--cycle-noise``. D_B is scored as saved:
runs trained with noise added to the discriminator's inputs are scored here without it.

``overfit`` loads both discriminators and prints their mean scores on the first 200 training and
test images of their domain, and D_B's scores on the translations of training and test photos. A
discriminator that memorizes its training images scores the held-out real images lower than the
training ones.

``pretanh`` prints, for the A -> B -> A cycle on ``DATA/testA``, the clean reconstruction PSNR and
the PSNR with Gaussian noise of std NOISE_STD added to the translation (*pixel*) or added before
the translating generator's output tanh (*pre-tanh*). Near -1 and 1 the tanh is flat, so pre-tanh
noise changes saturated values far less than pixel noise does. A code carried before the tanh
survives it, and the residual generator's atanh skip reads such a code. For generators trained with ``--residual-g`` it
also prints the PSNR with the pixel noise reaching only the reconstructing generator's
convolutions (*convolutions only*) or only its atanh skip (*skip only*), which shows which of the
two reads the code.

``floor`` needs no checkpoint. It prints the mean PSNR of ``DATA/testA_truth`` taken as the
reconstruction of ``DATA/testA``, and the same after each image's per-channel mean of (photo -
truth) is added to the truth (a per-image tint, three numbers).

Usage::

    python examples/screen_diagnostics.py gains CHECKPOINT [CHECKPOINT ...] --data DATA
    python examples/screen_diagnostics.py balance CHECKPOINT [CHECKPOINT ...] --data DATA
    python examples/screen_diagnostics.py overfit CHECKPOINT [CHECKPOINT ...] --data DATA
    python examples/screen_diagnostics.py pretanh CHECKPOINT [CHECKPOINT ...] --data DATA
    python examples/screen_diagnostics.py floor --data DATA
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch
from scipy import ndimage
from torch.nn import functional

from cyclegan.checkpoint import CheckpointError, check_finite, first_problem, load_checkpoint, load_generators
from cyclegan.config import TrainConfig
from cyclegan.data import DataError, list_images, load_folder, read_rgb
from cyclegan.losses import GAN_LOSSES, lsgan_loss
from cyclegan.models import PatchDiscriminator, ResnetGenerator, residual_skip
from screen_eval import check_size, domain_projection, load_pairs
from stegdetect.projections import Projection, read_description
from stegdetect.sensitivity import psnr

NOISE_STD = 0.01
LOW_SIGMA = 3.0
NOISE_KINDS = ("white", "chroma-white", "low", "chroma-low")
BALANCE_IMAGES = 16
OVERFIT_IMAGES = 200


def make_noise(shape: torch.Size, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Draw noise of one of NOISE_KINDS, scaled to an RMS of exactly NOISE_STD."""
    noise = torch.randn(shape, generator=generator)
    if kind.endswith("low"):
        # Wrapping keeps the blurred noise stationary up to the image border.
        blurred = ndimage.gaussian_filter(noise.numpy(), sigma=(0, 0, LOW_SIGMA, LOW_SIGMA), mode="wrap")
        noise = torch.from_numpy(blurred)
    if kind.startswith("chroma"):
        noise = noise - noise.mean(dim=1, keepdim=True)
    return NOISE_STD * noise / noise.pow(2).mean().sqrt()


def chroma(images: torch.Tensor) -> float:
    """Return the mean absolute difference between each channel and the mean of the channels."""
    return float((images - images.mean(dim=1, keepdim=True)).abs().mean())


def subspace_gains(
    forward: torch.nn.Module, backward: torch.nn.Module, photos: torch.Tensor, seed: int = 0
) -> dict[str, float]:
    """Measure the translation's chroma and the reconstruction's gain for each kind of noise.

    Returns
    -------
    dict
        ``chroma`` and one gain per name in NOISE_KINDS: the RMS change of the reconstruction
        divided by the RMS of the noise added to the translation.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        translated = forward(photos)
        reconstructed = backward(translated)
        result = {"chroma": chroma(translated)}
        for kind in NOISE_KINDS:
            noise = make_noise(translated.shape, kind, generator)
            change = backward(translated + noise) - reconstructed
            result[kind] = float(change.pow(2).mean().sqrt() / noise.pow(2).mean().sqrt())
    return result


def pre_tanh_psnrs(
    logits: torch.Tensor, backward: Callable[[torch.Tensor], torch.Tensor], photos: torch.Tensor, seed: int = 0,
) -> dict[str, float]:
    """Compare Gaussian noise of std NOISE_STD added to the translation and added before its tanh.

    ``logits`` is the translating generator's output for ``photos`` before its final tanh (see
    :meth:`cyclegan.models.ResnetGenerator.pre_tanh`), so the translation is its tanh.

    Returns
    -------
    dict
        Mean reconstruction PSNR (dB) of ``clean``, ``pixel`` and ``pre-tanh``. Both noisy
        conditions use the same draw.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        translated = torch.tanh(logits)
        noise = NOISE_STD * torch.randn(translated.shape, generator=generator)
        conditions = {"clean": translated, "pixel": translated + noise, "pre-tanh": torch.tanh(logits + noise)}
        return {name: float(psnr(photos, backward(image)).mean()) for name, image in conditions.items()}


def decode_paths(backward: ResnetGenerator, convolution_input: torch.Tensor, skip_input: torch.Tensor) -> torch.Tensor:
    """Run a residual generator with one input for its convolutions and another for its atanh skip.

    With the same tensor for both it gives ``backward(input)``.
    """
    skip_change = residual_skip(skip_input) - residual_skip(convolution_input)
    return torch.tanh(backward.pre_tanh(convolution_input) + skip_change)


def skip_path_psnrs(
    translated: torch.Tensor, backward: ResnetGenerator, photos: torch.Tensor, seed: int = 0,
) -> dict[str, float]:
    """Send Gaussian noise of std NOISE_STD to one input path of a residual reconstructing generator.

    ``backward`` computes ``tanh(r(y) + atanh(y))`` from convolutions ``r`` and an atanh skip, and
    ``translated`` is the translation of ``photos``. The noise reaches one of the two paths, and the
    other gets the clean translation.

    Returns
    -------
    dict
        Mean reconstruction PSNR (dB) of ``convolutions only`` and ``skip only``, with the same draw.
    """
    if not backward.residual:
        raise ValueError("the reconstructing generator has no atanh skip; train with --residual-g")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        noisy = translated + NOISE_STD * torch.randn(translated.shape, generator=generator)
        return {
            "convolutions only": float(psnr(photos, decode_paths(backward, noisy, translated)).mean()),
            "skip only": float(psnr(photos, decode_paths(backward, translated, noisy)).mean()),
        }


def gradient_balance(
    forward: torch.nn.Module,
    backward: torch.nn.Module,
    discriminator: torch.nn.Module,
    photos: torch.Tensor,
    real_b: torch.Tensor,
    projection: Projection,
    lambda_gan: float,
    lambda_cycle: float,
    gan_loss: Callable[[torch.Tensor, bool], torch.Tensor] = lsgan_loss,
) -> dict[str, float]:
    """Compare the weighted adversarial and cycle gradients on the translation ``forward(photos)``.

    Returns
    -------
    dict
        The norm of each gradient, the mean over images of the cosine between each descent direction
        (minus the gradient) and ``projection(translation) - translation``, and mean D_B scores.
    """
    with torch.no_grad():
        # A copy, so that the gradient never flows into ``photos`` through a generator that returns
        # its input tensor itself (such as nn.Identity).
        translated = forward(photos).clone()
        projected = projection(translated)
    translated.requires_grad_(True)

    adversarial = lambda_gan * gan_loss(discriminator(translated), True)
    (adversarial_grad,) = torch.autograd.grad(adversarial, translated)
    cycle = lambda_cycle * functional.l1_loss(backward(translated), photos)
    (cycle_grad,) = torch.autograd.grad(cycle, translated)

    to_domain = (projected - translated.detach()).flatten(1)

    def cosine(gradient: torch.Tensor) -> float:
        return float(functional.cosine_similarity(-gradient.flatten(1), to_domain).mean())

    with torch.no_grad():
        scores = {
            "D_B(real B)": discriminator(real_b).mean(),
            "D_B(translation)": discriminator(translated).mean(),
            "D_B(projected translation)": discriminator(projected).mean(),
            "D_B(photo)": discriminator(photos).mean(),
        }
    return {
        "adversarial gradient norm": float(adversarial_grad.norm()),
        "cycle gradient norm": float(cycle_grad.norm()),
        "adversarial cosine to domain": cosine(adversarial_grad),
        "cycle cosine to domain": cosine(cycle_grad),
        **{name: float(value) for name, value in scores.items()},
    }


def load_discriminators(checkpoint: Path, config: TrainConfig, *names: str) -> list[PatchDiscriminator]:
    """Load the discriminators ``names`` ("D_A", "D_B") of a full training checkpoint, frozen, in eval mode.

    The file is read once. ``config`` is the run's config, as returned by ``load_generators`` for the
    same file.
    """
    state = load_checkpoint(checkpoint)
    discriminators = []
    for name in names:
        if name not in state:
            raise CheckpointError(f"{checkpoint}: has no discriminator {name} (a generators-only export); pass a full checkpoint")
        discriminator = PatchDiscriminator(ndf=config.ndf, n_layers=config.n_layers_d, norm=config.norm_d)
        try:
            discriminator.load_state_dict(state[name])
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{checkpoint}: {name} weights do not match the saved config ({first_problem(exc)})") from exc
        check_finite(discriminator, checkpoint, name)
        discriminators.append(discriminator.eval().requires_grad_(False))
    return discriminators


def loss_balance(checkpoint: Path, data: Path) -> dict[str, float]:
    """Run :func:`gradient_balance` on 16 test photos with the generators and D_B of a full checkpoint.

    The cycle term is measured on the clean translation, also for runs trained with ``--cycle-noise``.
    """
    forward, backward, config, _ = load_generators(checkpoint)
    check_size(data, config.size)
    (discriminator,) = load_discriminators(checkpoint, config, "D_B")
    projection = domain_projection(data)
    if projection is None:
        raise DataError(
            f"{data}: no projection onto domain B is known for this data set; balance needs a data set "
            "built by `cyclegan data` or screen_renderings.py"
        )

    photos = load_folder(data / "testA", config.size)[:BALANCE_IMAGES]
    real_b = load_folder(data / "testB", config.size)[:BALANCE_IMAGES]
    return gradient_balance(
        forward, backward, discriminator, photos, real_b, projection[1], config.lambda_gan, config.lambda_cycle,
        GAN_LOSSES[config.gan_mode],
    )


def memorization(checkpoint: Path, data: Path, limit: int = OVERFIT_IMAGES) -> dict[str, float]:
    """Return mean discriminator scores on training and test images, to show whether they memorize.

    Scores the first ``limit`` images (by name) of trainA, testA, trainB and testB with the
    discriminator of their domain, and the translations G_AB(trainA) and G_AB(testA) with D_B. A
    discriminator that generalizes scores training and test images alike. One that memorizes its
    training set scores held-out real images closer to "fake". LSGAN's targets are 1 (real) and 0
    (fake). With the cross-entropy loss, real images get positive raw scores and fakes negative ones.
    """
    forward, _, config, _ = load_generators(checkpoint)
    check_size(data, config.size)
    d_a, d_b = load_discriminators(checkpoint, config, "D_A", "D_B")
    result = {}
    with torch.no_grad():
        for split in ("train", "test"):
            photos = load_folder(data / f"{split}A", config.size, limit)
            result[f"D_A({split}A)"] = float(d_a(photos).mean())
            result[f"D_B({split}B)"] = float(d_b(load_folder(data / f"{split}B", config.size, limit)).mean())
            result[f"D_B(G_AB({split}A))"] = float(d_b(forward(photos)).mean())
    return result


def reconstruction_floors(photos: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Return the mean PSNR of ``truth`` as a reconstruction of ``photos``, without and with each image's tint.

    The tint is the mean of ``photos - truth`` over the pixels of each image and channel. PSNR is
    averaged over images, as in ``stegdetect sensitivity``.
    """
    tint = (photos - truth).mean(dim=(2, 3), keepdim=True)
    return {
        "truth": float(psnr(photos, truth).mean()),
        "truth + tint": float(psnr(photos, truth + tint).mean()),
    }


def main() -> None:
    first_paragraph = __doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(description=" ".join(first_paragraph.split()))
    parser.add_argument("command", choices=("gains", "balance", "overfit", "pretanh", "floor"), help="what to measure")
    parser.add_argument("checkpoints", nargs="*", type=Path, help="checkpoint files (checkpoints/step_N.pt or latest.pt)")
    parser.add_argument("--data", type=Path, required=True, help="data set folder with testA/, testB/ and testA_truth/")
    args = parser.parse_intermixed_args()
    torch.set_num_threads(1)
    if (args.command == "floor") == bool(args.checkpoints):
        parser.error("floor takes no checkpoint, and the other commands take at least one")

    if args.command == "floor":
        try:
            first = list_images(args.data / "testA")[0]
            size = read_rgb(first).shape[0]
            recorded = read_description(args.data).get("size")
            if isinstance(recorded, int) and recorded != size:
                raise DataError(f"{args.data}/dataset.json records {recorded} px images, but {first} is {size} px; rebuild the data set")
            photos, truth = load_pairs(args.data, size)
        except (DataError, OSError) as exc:
            sys.exit(f"screen_diagnostics: {exc}")
        print(" | ".join(f"{name} {value:.2f} dB" for name, value in reconstruction_floors(photos, truth).items()))
        return

    for checkpoint in args.checkpoints:
        try:
            if args.command == "gains":
                forward, backward, config, step = load_generators(checkpoint)
                check_size(args.data, config.size)
                values = subspace_gains(forward, backward, load_folder(args.data / "testA", config.size))
                fields = [f"{checkpoint}", f"step {step}", f"chroma {values.pop('chroma'):.3f}"]
                fields += [f"{kind} {gain:.2f}" for kind, gain in values.items()]
            elif args.command == "pretanh":
                forward, backward, config, step = load_generators(checkpoint)
                check_size(args.data, config.size)
                photos = load_folder(args.data / "testA", config.size)
                with torch.no_grad():
                    logits = forward.pre_tanh(photos)
                values = pre_tanh_psnrs(logits, backward, photos)
                if config.residual_g:
                    values.update(skip_path_psnrs(torch.tanh(logits), backward, photos))
                fields = [f"{checkpoint}", f"step {step}"] + [f"{name} {value:.2f} dB" for name, value in values.items()]
            else:
                measure = loss_balance if args.command == "balance" else memorization
                fields = [f"{checkpoint}"] + [f"{name} {value:.3f}" for name, value in measure(checkpoint, args.data).items()]
        except (CheckpointError, DataError, OSError, ValueError) as exc:
            sys.exit(f"screen_diagnostics: {exc}")
        print(" | ".join(fields), flush=True)


if __name__ == "__main__":
    main()
