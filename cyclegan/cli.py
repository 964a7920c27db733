"""Command-line interface: ``cyclegan data`` builds data sets, ``cyclegan train`` trains."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from .errors import user_errors

from .config import TrainConfig
from .losses import GAN_LOSSES
from .models import NORMS
from .photos import MOSAIC_BLOCK


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Train CycleGANs, with defenses against hidden steganographic codes."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if verbose:
        logging.getLogger("cyclegan").setLevel(logging.DEBUG)


@main.group()
def data() -> None:
    """Build unpaired data sets from photographs bundled with scikit-image and scikit-learn."""


def _data_options(func):
    func = click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed for crops (and the map palette).")(func)
    func = click.option("--n-test", default=50, show_default=True, help="Test images per domain.")(func)
    func = click.option("--n-train", default=500, show_default=True, help="Training images per domain.")(func)
    func = click.option("--size", default=32, show_default=True, help="Image side in pixels.")(func)
    return click.argument("out", type=click.Path(file_okay=False, path_type=Path))(func)


def _build(kind: str, out: Path, **kwargs) -> None:
    from .photos import build_dataset

    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out}: folder exists and is not empty; choose a new OUT folder")
    try:
        meta = build_dataset(kind, out, **kwargs)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {kind} data set to {out}: {meta['n_train']} training and {meta['n_test']} test images per domain, {meta['size']} px")


@data.command("photo2map")
@_data_options
@click.option("--palette", "palette_size", default=5, show_default=True, help="Number of map colours (2-8).")
@click.option("--no-boundaries", is_flag=True, help="Do not draw region boundaries on maps.")
@user_errors
def data_photo2map(out: Path, size: int, n_train: int, n_test: int, seed: int, palette_size: int, no_boundaries: bool) -> None:
    """Photo crops (A) and flat-colour maps of other crops (B), written to OUT.

    testA_truth/ contains the true map of every testA photo.
    """
    _build("photo2map", out, size=size, n_train=n_train, n_test=n_test, seed=seed,
           palette_size=palette_size, boundaries=not no_boundaries)


@data.command("photo2gray")
@_data_options
@user_errors
def data_photo2gray(out: Path, size: int, n_train: int, n_test: int, seed: int) -> None:
    """Colour photo crops (A) and grayscale renderings of other crops (B), written to OUT."""
    _build("photo2gray", out, size=size, n_train=n_train, n_test=n_test, seed=seed)


@data.command("photo2mosaic")
@_data_options
@click.option("--block", default=MOSAIC_BLOCK, show_default=True, help="Side in pixels of the square blocks that each take their mean colour; must divide --size.")
@user_errors
def data_photo2mosaic(out: Path, size: int, n_train: int, n_test: int, seed: int, block: int) -> None:
    """Colour photo crops (A) and mosaics of other crops (B), each block in its mean colour, written to OUT.

    testA_truth/ contains the mosaic of every testA photo.
    """
    _build("photo2mosaic", out, size=size, n_train=n_train, n_test=n_test, seed=seed, block=block)


DEFAULTS = TrainConfig()


class Terminated(Exception):
    """Raised in the main thread when the process receives SIGTERM."""


def _raise_terminated(signum: int, frame) -> None:
    raise Terminated(signum)


@main.command()
@click.argument("dataroot", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder for config, losses, samples and checkpoints.")
@click.option("--resume", is_flag=True, help="Continue from the run folder's latest checkpoint.")
@click.option("--size", default=DEFAULTS.size, show_default=True, help="Training crop side in pixels (reference: 256).")
@click.option("--load-size", type=int, default=None, help="Resize images to this side before random cropping to --size [default: --size; reference: 286].")
@click.option("--ngf", default=DEFAULTS.ngf, show_default=True, help="Generator filters in the first layer (reference: 64).")
@click.option("--ndf", default=DEFAULTS.ndf, show_default=True, help="Discriminator filters in the first layer (reference: 64).")
@click.option("--n-blocks", default=DEFAULTS.n_blocks, show_default=True, help="Residual blocks in each generator (reference: 9).")
@click.option("--n-layers-d", default=DEFAULTS.n_layers_d, show_default=True, help="Stride-2 layers in the PatchGAN; 3 gives 70x70 patches.")
@click.option("--norm-g", type=click.Choice(NORMS), default=DEFAULTS.norm_g, show_default=True, help="Generator normalization; 'layer' is GroupNorm with one group.")
@click.option("--input-skip", is_flag=True, help="Concatenate the input image to the generator's last features (not in the reference CycleGAN).")
@click.option("--residual-g", is_flag=True, help="Generators output tanh(atanh(input) + r), where r is their last convolution and starts at zero, so they start as the identity (not in the reference CycleGAN).")
@click.option("--n-downsampling", default=DEFAULTS.n_downsampling, show_default=True, help="Stride-2 stages in each generator (reference: 2).")
@click.option("--norm-d", type=click.Choice(NORMS), default=DEFAULTS.norm_d, show_default=True, help="Discriminator normalization.")
@click.option("--lambda-cycle", default=DEFAULTS.lambda_cycle, show_default=True, help="Weight of the cycle-consistency L1 loss.")
@click.option("--lambda-identity", default=DEFAULTS.lambda_identity, show_default=True, help="Identity loss weight, as a fraction of --lambda-cycle; 0 disables it.")
@click.option("--lambda-gan", default=DEFAULTS.lambda_gan, show_default=True, help="Weight of the adversarial loss of the generators.")
@click.option("--gan-mode", type=click.Choice(tuple(GAN_LOSSES)), default=DEFAULTS.gan_mode, show_default=True, help="Adversarial loss: least squares (CycleGAN's choice) or the cross-entropy loss of the original GAN, non-saturating for the generators.")
@click.option("--r1-gamma", default=DEFAULTS.r1_gamma, show_default=True, help="Weight gamma of the R1 penalty, gamma/2 times the squared gradient of each discriminator at real images (Mescheder et al. 2018); 0 disables it (not in the reference CycleGAN).")
@click.option("--cycle-noise", default=0.0, show_default=True, help="Noise defense: std of Gaussian noise (on the [-1, 1] scale) added to each translation before reconstruction; 0 disables it.")
@click.option("--pool-size", default=DEFAULTS.pool_size, show_default=True, help="Generated images kept for discriminator updates; 0 disables the pool.")
@click.option("--lr", default=DEFAULTS.lr, show_default=True, help="Adam learning rate of the generators.")
@click.option("--lr-d", type=float, default=None, help="Adam learning rate of the discriminators [default: --lr].")
@click.option("--beta1", default=DEFAULTS.beta1, show_default=True, help="Adam beta1.")
@click.option("--steps", type=int, default=None, help=f"Total training steps, one batch each [default: {DEFAULTS.steps}; with --resume: the saved total].")
@click.option("--decay-steps", type=int, default=None, help="Final steps over which the learning rate decays linearly to 0 [default: half of --steps].")
@click.option("--batch-size", default=DEFAULTS.batch_size, show_default=True, help="Images per domain per step.")
@click.option("--no-flip", is_flag=True, help="Disable random left-right flips.")
@click.option("--seed", default=DEFAULTS.seed, show_default=True, help="Random seed.")
@click.option("--sample-every", default=DEFAULTS.sample_every, show_default=True, help="Steps between sample grids.")
@click.option("--checkpoint-every", default=DEFAULTS.checkpoint_every, show_default=True, help="Steps between writes of checkpoints/latest.pt.")
@click.option("--snapshot-every", default=0, show_default=True, help="Steps between kept checkpoints/step_N.pt files; 0 keeps none.")
@click.option("--log-every", default=DEFAULTS.log_every, show_default=True, help="Steps between rows of losses.csv.")
@click.option("--num-workers", default=0, show_default=True, help="DataLoader worker processes.")
@click.option("--device", default="auto", show_default=True, help="'auto', 'cpu', 'cuda' or 'cuda:N'.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch [default: torch's choice].")
@click.option("--quiet", is_flag=True, help="Hide the progress bar.")
@user_errors
def train(dataroot: Path, out: Path, resume: bool, no_flip: bool, quiet: bool, **options) -> None:
    """Train a CycleGAN on DATAROOT (folders trainA/ and trainB/) and write the run to --out.

    With --resume the run continues with the config saved in --out. DATAROOT replaces the saved
    data folder (so moved data can be found), --steps may extend the run, and --decay-steps,
    --device, --threads and --num-workers may change. Other options may be repeated but must keep
    their saved values.
    """
    from .train import Trainer

    steps = options.pop("steps")
    repeated_options = {}
    if resume:
        context = click.get_current_context()
        repeated_options = {
            name: value for name, value in options.items()
            if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        }
        if no_flip:
            repeated_options["flip"] = False
    config = None if resume else TrainConfig(
        dataroot=str(dataroot.resolve()), flip=not no_flip,
        steps=DEFAULTS.steps if steps is None else steps, **options,
    )
    trainer = Trainer(
        config, out, resume=resume, steps=steps, dataroot=dataroot if resume else None, options=repeated_options,
    )
    # A scheduler or `kill` stops a job with SIGTERM. Raising an exception for it lets the trainer save
    # its state on the way out, as it does for Ctrl-C.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        checkpoint = trainer.train(progress=not quiet)
    except KeyboardInterrupt:
        click.echo(f"interrupted; state saved to {trainer.checkpoint_path}, continue with --resume", err=True)
        sys.exit(130)
    except Terminated:
        click.echo(f"terminated; state saved to {trainer.checkpoint_path}, continue with --resume", err=True)
        sys.exit(128 + signal.SIGTERM)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    click.echo(f"finished {trainer.step} steps; checkpoint {checkpoint}")


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@user_errors
def export(checkpoint: Path, target: Path, force: bool) -> None:
    """Write the generators, config and step of CHECKPOINT to a smaller file TARGET."""
    from .checkpoint import export_generators

    if target.exists() and not force:
        raise click.ClickException(f"{target}: file exists; pass --force to replace it")
    export_generators(checkpoint, target)
    click.echo(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")


@main.command()
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path), help="Checkpoint written by 'cyclegan train' or 'cyclegan export'.")
@click.option("--images", required=True, type=click.Path(path_type=Path), help="Folder of source-domain images.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the translated PNGs.")
@click.option("--direction", type=click.Choice(["AB", "BA"]), default="AB", show_default=True, help="AB uses G_AB (A to B), BA uses G_BA.")
@click.option("--size", type=click.IntRange(min=1), default=None, help="Resize inputs to this side in pixels [default: the training size].")
@click.option("--device", default="cpu", show_default=True, help="'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available).")
@user_errors
def translate(checkpoint: Path, images: Path, out: Path, direction: str, size: int | None, device: str) -> None:
    """Translate every image in --images and save the results as 8-bit PNGs in --out."""
    import cv2
    import torch
    from tqdm import tqdm

    from .checkpoint import check_size, load_generators
    from .data import list_images, read_rgb, resize_square, to_tensor, to_uint8, warn_resized
    from .train import pick_device

    torch_device = pick_device(device)
    G_AB, G_BA, config, _ = load_generators(checkpoint, torch_device)
    files = list_images(images)
    if out.exists() and out.resolve() == images.resolve():
        raise click.ClickException(f"{out}: --out must differ from --images, or the inputs would be overwritten")
    stems = [path.stem for path in files]
    clashes = sorted({stem for stem in stems if stems.count(stem) > 1})
    if clashes:
        raise click.ClickException(
            f"{images}: several images share the name {clashes[0]!r} (e.g. .png and .jpg); "
            "their translations would overwrite each other, so rename them"
        )
    size = check_size(size or config.size, config)
    net = G_AB if direction == "AB" else G_BA
    out.mkdir(parents=True, exist_ok=True)
    resized = 0
    # The context closes the bar before an error is printed, so the message gets a line of its own.
    with tqdm(files, desc=f"translate {direction}", unit="image") as bar:
        for path in bar:
            pixels = read_rgb(path)
            resized += pixels.shape[:2] != (size, size)
            image = to_tensor(resize_square(pixels, size)).to(torch_device)
            with torch.no_grad():
                result = to_uint8(net(image[None])[0])
            target = out / f"{path.stem}.png"
            if not cv2.imwrite(str(target), cv2.cvtColor(result, cv2.COLOR_RGB2BGR)):
                raise click.ClickException(f"{target}: could not write the image")
    warn_resized(images, resized, len(files), size)
    click.echo(f"wrote {len(files)} images to {out}")


if __name__ == "__main__":
    main()
