"""The CycleGAN training loop (Zhu et al., "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", 2017).

One step updates both generators on the adversarial, cycle-consistency and identity losses, then both
discriminators on real images and on generated images drawn from the image pools.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import logging
import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from .checkpoint import NETWORKS, build_generator, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import UnpairedDataset, check_dataroot, load_folder, seed_worker, to_uint8
from .defenses import cycle_perturb
from .losses import GAN_LOSSES, r1_penalty
from .models import PatchDiscriminator, init_weights
from .pool import ImagePool
from .runlock import RunLock

logger = logging.getLogger(__name__)

LOSS_COLUMNS = ("D_A", "D_B", "G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B", "R1_A", "R1_B")
LOG_HEADER = ["step", "seconds", "lr", *LOSS_COLUMNS]


class RunError(ValueError):
    """A run folder that cannot be started or resumed; the message names the folder."""


@dataclass
class Networks:
    G_AB: nn.Module
    G_BA: nn.Module
    D_A: nn.Module
    D_B: nn.Module

    def items(self):
        return [(name, getattr(self, name)) for name in NETWORKS]


def _main_thread() -> bool:
    # Signal handlers can only be changed from the main thread.
    return threading.current_thread() is threading.main_thread()


def pick_device(name: str) -> torch.device:
    """Resolve ``"auto"`` to CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r}: this PyTorch build has no CUDA device available; use 'cpu'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name!r} is not supported; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return device


def build_networks(config: TrainConfig, device: torch.device) -> Networks:
    """Build and initialize the two generators and two discriminators."""

    def discriminator() -> PatchDiscriminator:
        return PatchDiscriminator(ndf=config.ndf, n_layers=config.n_layers_d, norm=config.norm_d)

    nets = Networks(build_generator(config), build_generator(config), discriminator(), discriminator())
    for _, net in nets.items():
        init_weights(net).to(device)
    return nets


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier: 1 until the last ``decay_steps`` steps, then linearly down to 0."""
    start = config.steps - config.decay_steps
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, config.decay_steps))


def _load_fixed_batch(root: Path, size: int, count: int = 4) -> dict[str, torch.Tensor]:
    batch = {}
    for domain in ("A", "B"):
        folder = root / f"test{domain}"
        # Sample grids show the images at the training size, so resizing them is expected.
        batch[domain] = load_folder(folder if folder.is_dir() else root / f"train{domain}", size, count, warn=False)
    return batch


@torch.no_grad()
def save_samples(nets: Networks, batch: dict[str, torch.Tensor], path: Path, device: torch.device) -> None:
    """Write a grid image: rows A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B), G_AB(G_BA(B)), one column per image.

    Images smaller than 128 px are enlarged by pixel repetition so that the grid is readable.
    """
    rows = []
    for domain, forward, backward in (("A", nets.G_AB, nets.G_BA), ("B", nets.G_BA, nets.G_AB)):
        real = batch[domain].to(device)
        fake = forward(real)
        rows += [real, fake, backward(fake)]
    grid = np.concatenate(
        [np.concatenate([to_uint8(image) for image in row], axis=1) for row in rows], axis=0
    )
    scale = max(1, 128 // batch["A"].shape[-1])
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


def _prepare_log(path: Path, step: int) -> float:
    """Prepare the loss log of a run resumed at ``step`` and return the seconds it last logged.

    Rows logged after ``step`` are dropped, because after a crash those steps are trained again
    from the last checkpoint. A log written with other columns (an older version) is rewritten with
    the current ones, and columns it lacks are left empty.
    """
    if not path.exists():
        return 0.0
    if step == 0:
        path.unlink()
        return 0.0
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0] if rows else LOG_HEADER
    kept_rows = [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) <= step]
    if header != LOG_HEADER:
        kept_rows = [[dict(zip(header, row)).get(name, "") for name in LOG_HEADER] for row in kept_rows]
    if header != LOG_HEADER or len(kept_rows) != len(rows) - 1:
        with open(path, "w", newline="") as handle:
            csv.writer(handle).writerows([LOG_HEADER, *kept_rows])
    try:
        return float(kept_rows[-1][1]) if kept_rows else 0.0
    except ValueError:
        return 0.0


# Settings that a resumed run may change: how it executes, and the learning-rate decay (which
# --steps also resets when it extends the run).
RESUME_CHANGEABLE = ("decay_steps", "device", "threads", "num_workers")


def _changed_option_text(name: str, value: Any, saved: Any) -> str:
    if name == "flip":
        return f"--no-flip (saved: {'flips' if saved else '--no-flip'})"
    return f"--{name.replace('_', '-')} {value} (saved: {saved})"


def _check_resume_options(config: TrainConfig, options: dict[str, Any], out: Path) -> None:
    """Raise ``RunError`` if a setting given again on resume differs from the saved ``config``."""
    unknown = [name for name in options if not hasattr(config, name)]
    if unknown:
        raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
    changed = [
        _changed_option_text(name, value, getattr(config, name)) for name, value in options.items()
        if name not in RESUME_CHANGEABLE and value != getattr(config, name)
    ]
    if changed:
        raise RunError(
            f"{out}: {', '.join(changed)} cannot change when resuming; the run keeps the config in "
            f"{out / 'config.json'}, and only --steps, --decay-steps, --device, --threads and "
            "--num-workers can change. Start a new --out for other settings"
        )


class Trainer:
    """Owns the networks, optimizers, pools and run folder of one training run.

    Parameters
    ----------
    config : TrainConfig
        Settings of the run.
    out : path
        Run folder. It receives ``config.json``, ``losses.csv``, ``samples/`` and
        ``checkpoints/latest.pt``.
    resume : bool
        Continue from ``checkpoints/latest.pt`` in ``out`` with the config saved there; ``config`` is
        then ignored. Without it, a run folder that already has a checkpoint is rejected rather than
        overwritten.
    steps : int, optional
        On resume, a new total number of steps, at least the step reached. A total other than the
        saved one makes the learning rate decay linearly over the last half of it, unless
        ``options`` sets ``decay_steps``.
    dataroot : path, optional
        On resume, a data folder that replaces the saved one.
    options : dict, optional
        On resume, settings given again, by ``TrainConfig`` field name. Each must equal the saved
        value, except those in ``RESUME_CHANGEABLE``, which replace it.
    """

    def __init__(
        self, config: TrainConfig | None, out: str | Path, resume: bool = False, steps: int | None = None,
        dataroot: str | Path | None = None, options: dict[str, Any] | None = None,
    ) -> None:
        self.out = Path(out)
        self._lock = RunLock(self.out)
        try:
            self._prepare(config, resume, steps, dataroot, options)
        except BaseException:
            # Leave no lock file or empty run folder behind a run that never started.
            self._lock.remove()
            raise

    def _prepare(
        self, config: TrainConfig | None, resume: bool, steps: int | None,
        dataroot: str | Path | None, options: dict[str, Any] | None,
    ) -> None:
        self.checkpoint_path = self.out / "checkpoints" / "latest.pt"
        if self.checkpoint_path.exists() and not resume:
            raise RunError(
                f"{self.out}: run folder already has a checkpoint; pass --resume to continue it or "
                "choose another --out"
            )
        if resume and not self.checkpoint_path.exists():
            raise RunError(f"{self.out}: nothing to resume (no checkpoints/latest.pt)")

        state = load_checkpoint(self.checkpoint_path) if resume else None
        if state is not None:
            missing = [key for key in (*NETWORKS, "opt_G", "opt_D", "schedulers", "pool_A", "pool_B", "torch_rng") if key not in state]
            if missing:
                raise RunError(
                    f"{self.checkpoint_path}: cannot resume, the checkpoint lacks {', '.join(missing)} "
                    "(a generators-only export holds no training state)"
                )
            config = state["config"]
            options = options or {}
            _check_resume_options(config, options, self.out)
            if steps is not None and steps < int(state["step"]):
                raise RunError(
                    f"{self.out}: --steps {steps} is below the step already reached "
                    f"({int(state['step'])}); pass a larger total to extend the run"
                )
            if steps is not None and steps != config.steps:
                config.steps, config.decay_steps = steps, steps // 2
            for name in RESUME_CHANGEABLE:
                if name in options:
                    setattr(config, name, options[name])
            if dataroot is not None:
                config.dataroot = str(Path(dataroot).resolve())
        config.validate()
        check_dataroot(config.dataroot)
        self.config = config
        for stale in self.checkpoint_path.parent.glob(f".{self.checkpoint_path.name}.*.tmp"):
            logger.info("removing %s, left by an interrupted save", stale)
            stale.unlink()

        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.device = pick_device(config.device)
        self.nets = build_networks(config, self.device)
        self.opt_G = torch.optim.Adam(
            itertools.chain(self.nets.G_AB.parameters(), self.nets.G_BA.parameters()),
            lr=config.lr, betas=(config.beta1, config.beta2),
        )
        self.opt_D = torch.optim.Adam(
            itertools.chain(self.nets.D_A.parameters(), self.nets.D_B.parameters()),
            lr=config.lr_d, betas=(config.beta1, config.beta2),
        )
        self.schedulers = [
            torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, self.config))
            for opt in (self.opt_G, self.opt_D)
        ]
        self.pool_A = ImagePool(config.pool_size, random.Random(config.seed))
        self.pool_B = ImagePool(config.pool_size, random.Random(config.seed + 1))
        self.step = 0
        self.log_sums: dict[str, float] = {}
        self.log_count = 0
        if state is not None:
            self._restore(state)

        (self.out / "config.json").write_text(config.to_json())

    def close(self) -> None:
        """Release the lock on the run folder, so that another trainer may resume it."""
        self._lock.release()

    def _restore(self, state: dict) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state[name])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self._restore_log_interval(state.get("log_interval"))
        # The saved optimizer contains the rate of the old schedule. A changed --steps changes the
        # schedule, so the rate for the next step is set from the new one.
        for optimizer, scheduler in zip((self.opt_G, self.opt_D), self.schedulers):
            for group, base_lr in zip(optimizer.param_groups, scheduler.base_lrs):
                group["lr"] = base_lr * lr_factor(self.step, self.config)
        logger.info("resumed %s at step %d", self.checkpoint_path, self.step)

    def _restore_log_interval(self, saved: Any) -> None:
        # Checkpoints written before the sums were saved lack them, and their first row after the
        # resume averages only the steps trained since the checkpoint.
        if saved is None:
            return
        sums = saved.get("sums") if isinstance(saved, dict) else None
        count = saved.get("count") if isinstance(saved, dict) else None
        valid = (
            isinstance(sums, dict)
            and all(key in LOSS_COLUMNS and isinstance(value, float) for key, value in sums.items())
            and isinstance(count, int) and not isinstance(count, bool) and count >= 0
        )
        if not valid:
            raise RunError(f"{self.checkpoint_path}: invalid log_interval in checkpoint; resume from an earlier checkpoint")
        self.log_sums, self.log_count = dict(sums), count

    def state_dict(self) -> dict:
        state = {name: net.state_dict() for name, net in self.nets.items()}
        state.update(
            config=self.config.to_dict(),
            step=self.step,
            opt_G=self.opt_G.state_dict(),
            opt_D=self.opt_D.state_dict(),
            schedulers=[s.state_dict() for s in self.schedulers],
            pool_A=self.pool_A.state_dict(),
            pool_B=self.pool_B.state_dict(),
            torch_rng=torch.get_rng_state(),
            # The loss sums since the last log row, so that the first row after a resume averages
            # over its whole interval.
            log_interval={"sums": dict(self.log_sums), "count": self.log_count},
        )
        return state

    def save(self) -> None:
        """Write ``checkpoints/latest.pt`` atomically, ignoring Ctrl-C until the file is in place."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
        try:
            save_checkpoint(self.checkpoint_path, self.state_dict())
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def train_step(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, float]:
        """Run one generator update and one discriminator update; return the loss values."""
        c = self.config
        nets = self.nets

        # Generators. The discriminators are not updated here, so their gradients are not needed.
        for net in (nets.D_A, nets.D_B):
            net.requires_grad_(False)
        fake_B = nets.G_AB(real_A)
        fake_A = nets.G_BA(real_B)
        rec_A = nets.G_BA(cycle_perturb(fake_B, c.cycle_noise))
        rec_B = nets.G_AB(cycle_perturb(fake_A, c.cycle_noise))
        gan_loss = GAN_LOSSES[c.gan_mode]
        losses = {
            "G_AB": gan_loss(nets.D_B(fake_B), True),
            "G_BA": gan_loss(nets.D_A(fake_A), True),
            "cycle_A": F.l1_loss(rec_A, real_A),
            "cycle_B": F.l1_loss(rec_B, real_B),
        }
        if c.lambda_identity > 0:
            losses["idt_A"] = F.l1_loss(nets.G_BA(real_A), real_A)
            losses["idt_B"] = F.l1_loss(nets.G_AB(real_B), real_B)
        loss_G = (
            c.lambda_gan * (losses["G_AB"] + losses["G_BA"])
            + c.lambda_cycle * (losses["cycle_A"] + losses["cycle_B"])
            + c.lambda_cycle * c.lambda_identity * (losses.get("idt_A", 0.0) + losses.get("idt_B", 0.0))
        )
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()

        # Discriminators: real images against a history of generated ones.
        for net in (nets.D_A, nets.D_B):
            net.requires_grad_(True)
        pooled_A = self.pool_A.query(fake_A)
        pooled_B = self.pool_B.query(fake_B)
        loss_D = 0.0
        for name, net, real, pooled in (("D_A", nets.D_A, real_A, pooled_A), ("D_B", nets.D_B, real_B, pooled_B)):
            if c.r1_gamma > 0:
                real_scores, penalty = r1_penalty(net, real)
                losses[f"R1_{name[-1]}"] = penalty
                loss_D = loss_D + 0.5 * c.r1_gamma * penalty
            else:
                real_scores = net(real)
            losses[name] = 0.5 * (gan_loss(real_scores, True) + gan_loss(net(pooled), False))
            loss_D = loss_D + losses[name]
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()

        for scheduler in self.schedulers:
            scheduler.step()
        self.step += 1
        return {name: float(value.detach()) for name, value in losses.items()}

    def _loader(self) -> DataLoader:
        c = self.config
        dataset = UnpairedDataset(
            c.dataroot, "train", c.size, c.load_size, c.flip, seed=c.seed + self.step
        )
        generator = torch.Generator().manual_seed(c.seed + self.step)
        return DataLoader(
            dataset, batch_size=c.batch_size, shuffle=True, drop_last=len(dataset) >= c.batch_size,
            num_workers=c.num_workers, worker_init_fn=functools.partial(seed_worker, lock=self._lock.identity()),
            generator=generator,
            pin_memory=self.device.type == "cuda",
        )

    def _batches(self):
        loader = self._loader()
        while True:
            yield from loader

    def train(self, progress: bool = True) -> Path:
        """Train until ``config.steps``, logging, sampling and checkpointing along the way.

        Returns the path of the last checkpoint. On ``KeyboardInterrupt`` the current state is saved
        before the exception propagates, so ``--resume`` continues from there.
        """
        if not self._lock.held:
            self._lock = RunLock(self.out)
        try:
            return self._train(progress)
        finally:
            self.close()

    def _train(self, progress: bool) -> Path:
        c = self.config
        fixed = _load_fixed_batch(Path(c.dataroot), c.size)
        log_path = self.out / "losses.csv"
        # Seconds continue from the last logged row, so that a resumed run's log shows its total time.
        logged_seconds = _prepare_log(log_path, self.step)
        new_log = not log_path.exists()
        with open(log_path, "a", newline="") as log_file:
            writer = csv.writer(log_file)
            if new_log:
                writer.writerow(LOG_HEADER)
            bar = tqdm(total=c.steps, initial=self.step, desc="train", unit="step", disable=not progress)
            start = time.perf_counter() - logged_seconds
            try:
                batches = self._batches()
                while self.step < c.steps:
                    batch = next(batches)
                    lr = self.opt_G.param_groups[0]["lr"]
                    losses = self.train_step(batch["A"].to(self.device), batch["B"].to(self.device))
                    for key, value in losses.items():
                        self.log_sums[key] = self.log_sums.get(key, 0.0) + value
                    self.log_count += 1
                    bar.update()
                    if self.step % c.log_every == 0 or self.step == c.steps:
                        means = {key: value / self.log_count for key, value in self.log_sums.items()}
                        writer.writerow(
                            [self.step, f"{time.perf_counter() - start:.1f}", f"{lr:.3g}"]
                            + [f"{means[k]:.5f}" if k in means else "" for k in LOSS_COLUMNS]
                        )
                        log_file.flush()
                        bar.set_postfix({k: f"{means[k]:.3f}" for k in ("D_B", "G_AB", "cycle_A", "cycle_B")})
                        self.log_sums, self.log_count = {}, 0
                    if self.step % c.sample_every == 0 or self.step == c.steps:
                        save_samples(self.nets, fixed, self.out / "samples" / f"step_{self.step:07d}.png", self.device)
                    if self.step % c.checkpoint_every == 0:
                        self.save()
                    if c.snapshot_every and self.step % c.snapshot_every == 0:
                        save_checkpoint(self.out / "checkpoints" / f"step_{self.step:07d}.pt", self.state_dict())
            except BaseException as exc:
                # Keep the steps trained so far, whatever stopped the loop (Ctrl-C, an unreadable
                # image, a full disk), so that --resume continues from here. The bar is closed
                # first so that the messages start on a line of their own.
                bar.close()
                logger.warning("stopped at step %d (%s); saving %s", self.step, type(exc).__name__, self.checkpoint_path)
                try:
                    self.save()
                except Exception as save_error:  # noqa: BLE001 - report and re-raise the original error
                    logger.error("could not save %s: %s", self.checkpoint_path, save_error)
                raise
            finally:
                bar.close()
        self.save()
        (self.out / "run.json").write_text(
            json.dumps({"step": self.step, "checkpoint": str(self.checkpoint_path)}, indent=2)
        )
        return self.checkpoint_path
