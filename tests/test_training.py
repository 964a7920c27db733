"""Tests for the image pool, the learning-rate schedule and the Trainer run folder."""

from __future__ import annotations

import copy
import os
import csv
import json
import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import cyclegan.train as train_module
from cyclegan.checkpoint import export_generators, load_checkpoint
from cyclegan.config import TrainConfig
from cyclegan.data import load_image_tensor
from cyclegan.pool import ImagePool
from cyclegan.train import LOSS_COLUMNS, RunError, Trainer, lr_factor


def make_images(count: int, start: int = 0) -> torch.Tensor:
    """Return ``count`` 1 x 2 x 2 images whose pixels all equal their index, so each is recognisable."""
    values = torch.arange(start, start + count, dtype=torch.float32)
    return values.view(count, 1, 1, 1).expand(count, 1, 2, 2).clone()


def image_ids(batch: torch.Tensor) -> list[int]:
    return [int(image[0, 0, 0].item()) for image in batch]


def fixed_batch(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    root = Path(config.dataroot)
    real_a = load_image_tensor(root / "trainA" / "000.png").unsqueeze(0)
    real_b = load_image_tensor(root / "trainB" / "000.png").unsqueeze(0)
    return real_a, real_b


def read_losses(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def optimizer_steps(optimizer: torch.optim.Optimizer) -> set[int]:
    return {int(state["step"]) for state in optimizer.state_dict()["state"].values()}


# Image pool


def test_pool_size_zero_returns_input():
    pool = ImagePool(0)
    images = make_images(3)

    out = pool.query(images)

    assert torch.equal(out, images)
    assert pool.images == []


def test_pool_filling_returns_input():
    pool = ImagePool(5, random.Random(0))

    first = pool.query(make_images(2))
    second = pool.query(make_images(3, start=2))

    assert image_ids(first) == [0, 1]
    assert image_ids(second) == [2, 3, 4]
    assert image_ids(torch.cat(pool.images)) == [0, 1, 2, 3, 4]


def test_pool_full_returns_input_or_stored():
    pool = ImagePool(4, random.Random(1))
    pool.query(make_images(4))
    seen = {0, 1, 2, 3}
    swapped = 0

    for step in range(20):
        incoming = 4 + 2 * step
        stored_before = set(image_ids(torch.cat(pool.images)))
        out = image_ids(pool.query(make_images(2, start=incoming)))
        for position, image_id in enumerate(out):
            assert image_id == incoming + position or image_id in stored_before
            swapped += image_id != incoming + position
        seen.update(range(incoming, incoming + 2))
        assert set(image_ids(torch.cat(pool.images))) <= seen

    # Each of the 40 queried images is swapped with probability 1/2, so 0 or 40 swaps mean a broken pool.
    assert swapped > 0
    assert swapped < 40


def test_pool_never_exceeds_size():
    pool = ImagePool(3, random.Random(0))

    for start in range(0, 20, 4):
        pool.query(make_images(4, start=start))
        assert len(pool.images) == 3


def test_pool_output_shape_and_detached():
    pool = ImagePool(2, random.Random(0))
    images = make_images(3).requires_grad_(True)

    out = pool.query(images * 2)

    assert out.shape == images.shape
    assert not out.requires_grad


def test_pool_state_dict_round_trip():
    pool = ImagePool(3, random.Random(0))
    pool.query(make_images(2))
    restored = ImagePool(50)

    restored.load_state_dict(pool.state_dict())

    assert restored.size == 3
    assert len(restored.images) == 2
    for saved, loaded in zip(pool.images, restored.images):
        assert torch.equal(saved, loaded)


def test_pool_state_moves_to_device():
    pool = ImagePool(3, random.Random(0))
    pool.query(make_images(2))
    restored = ImagePool(3)

    # The meta device replaces a GPU here. Its tensors have a device but no data.
    restored.load_state_dict(pool.state_dict(), torch.device("meta"))

    assert len(restored.images) == 2
    assert all(image.device.type == "meta" for image in restored.images)


def test_pool_empty_state_round_trip():
    restored = ImagePool(7)
    restored.images = list(make_images(2).unsqueeze(1))

    restored.load_state_dict(ImagePool(4).state_dict())

    assert restored.size == 4
    assert restored.images == []


def test_pool_restored_queries_match():
    original = ImagePool(3, random.Random(2))
    original.query(make_images(3))
    restored = ImagePool(3, random.Random(2))
    restored.load_state_dict(original.state_dict())

    out_original = original.query(make_images(6, start=10))
    out_restored = restored.query(make_images(6, start=10))

    assert torch.equal(out_original, out_restored)


# Learning-rate schedule


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 1.0), (49, 1.0), (50, 1.0), (60, 0.8), (75, 0.5), (99, 0.02), (100, 0.0), (130, 0.0)],
)
def test_lr_factor_linear_decay(step, expected):
    config = TrainConfig(steps=100, decay_steps=50)

    assert lr_factor(step, config) == pytest.approx(expected)


@pytest.mark.parametrize(("step", "expected"), [(0, 1.0), (5, 0.5), (9, 0.1), (10, 0.0)])
def test_lr_factor_decay_from_start(step, expected):
    config = TrainConfig(steps=10, decay_steps=10)

    assert lr_factor(step, config) == pytest.approx(expected)


def test_lr_factor_without_decay():
    config = TrainConfig(steps=10, decay_steps=0)

    assert [lr_factor(step, config) for step in range(10)] == [1.0] * 10


def test_trainer_applies_lr_schedule(tiny_config, tmp_path):
    tiny_config.lr = 1e-3
    tiny_config.lr_d = 4e-4
    tiny_config.decay_steps = 2
    trainer = Trainer(tiny_config, tmp_path / "run")
    real_a, real_b = fixed_batch(tiny_config)
    used_g = []
    used_d = []

    for _ in range(4):
        used_g.append(trainer.opt_G.param_groups[0]["lr"])
        used_d.append(trainer.opt_D.param_groups[0]["lr"])
        trainer.train_step(real_a, real_b)

    factors = [lr_factor(step, tiny_config) for step in range(4)]
    assert factors == [1.0, 1.0, 1.0, 0.5]
    assert used_g == pytest.approx([1e-3 * f for f in factors])
    assert used_d == pytest.approx([4e-4 * f for f in factors])


# Cycle-path defense inside train_step


def test_train_step_perturbs_translations(tiny_config, tmp_path, monkeypatch):
    tiny_config.cycle_noise = 0.25
    trainer = Trainer(tiny_config, tmp_path / "run")
    real_a, real_b = fixed_batch(tiny_config)
    with torch.no_grad():
        expected_fake_b = copy.deepcopy(trainer.nets.G_AB)(real_a)
        expected_fake_a = copy.deepcopy(trainer.nets.G_BA)(real_b)
    calls = []
    original = train_module.cycle_perturb

    def recording_perturb(fake, noise_std=0.0, generator=None):
        calls.append((fake.detach().clone(), noise_std))
        return original(fake, noise_std, generator)

    monkeypatch.setattr(train_module, "cycle_perturb", recording_perturb)

    trainer.train_step(real_a, real_b)

    assert len(calls) == 2
    assert torch.allclose(calls[0][0], expected_fake_b, atol=1e-6)
    assert torch.allclose(calls[1][0], expected_fake_a, atol=1e-6)
    assert calls[0][1] == 0.25
    assert calls[1][1] == 0.25


def test_train_step_perturbs_twice_per_step(tiny_config, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config, tmp_path / "run")
    real_a, real_b = fixed_batch(tiny_config)
    calls = []
    original = train_module.cycle_perturb

    def counting_perturb(fake, noise_std=0.0, generator=None):
        calls.append(noise_std)
        return original(fake, noise_std, generator)

    monkeypatch.setattr(train_module, "cycle_perturb", counting_perturb)

    for _ in range(3):
        trainer.train_step(real_a, real_b)

    assert len(calls) == 6


def test_cycle_loss_uses_perturbed_images(tiny_config, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config, tmp_path / "run")
    real_a, real_b = fixed_batch(tiny_config)
    blank = torch.zeros_like(real_a)
    with torch.no_grad():
        expected_cycle_a = (copy.deepcopy(trainer.nets.G_BA)(blank) - real_a).abs().mean().item()
        expected_cycle_b = (copy.deepcopy(trainer.nets.G_AB)(blank) - real_b).abs().mean().item()
    monkeypatch.setattr(train_module, "cycle_perturb", lambda fake, noise_std: torch.zeros_like(fake))

    losses = trainer.train_step(real_a, real_b)

    assert losses["cycle_A"] == pytest.approx(expected_cycle_a, rel=1e-5)
    assert losses["cycle_B"] == pytest.approx(expected_cycle_b, rel=1e-5)


def test_cycle_noise_leaves_other_losses_clean(tiny_config, tmp_path):
    clean = Trainer(tiny_config, tmp_path / "clean")
    noisy_config = copy.deepcopy(tiny_config)
    noisy_config.cycle_noise = 100.0
    noisy = Trainer(noisy_config, tmp_path / "noisy")
    for name, net in clean.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, getattr(noisy.nets, name).state_dict()[key]), f"{name}.{key}"
    real_a, real_b = fixed_batch(tiny_config)

    clean_losses = clean.train_step(real_a, real_b)
    noisy_losses = noisy.train_step(real_a, real_b)

    for name in ("G_AB", "G_BA", "idt_A", "idt_B", "D_A", "D_B"):
        assert noisy_losses[name] == pytest.approx(clean_losses[name], rel=1e-6), name
    # Instance norm after the first convolution rescales the noisy input, so at initialization the
    # cycle losses change only slightly rather than growing with the noise.
    assert abs(noisy_losses["cycle_A"] - clean_losses["cycle_A"]) > 1e-4
    assert abs(noisy_losses["cycle_B"] - clean_losses["cycle_B"]) > 1e-4


def test_train_step_uses_cross_entropy_gan_loss(tiny_config, tmp_path):
    tiny_config.gan_mode = "vanilla"
    trainer = Trainer(tiny_config, tmp_path / "run")
    real_a, real_b = fixed_batch(tiny_config)
    with torch.no_grad():
        score = trainer.nets.D_B(trainer.nets.G_AB(real_a)).double()
    # The generator's target is "real": the mean of -log(sigmoid(score)).
    expected = float(torch.nn.functional.softplus(-score).mean())

    losses = trainer.train_step(real_a, real_b)

    assert losses["G_AB"] == pytest.approx(expected, rel=1e-5)
    assert losses["G_AB"] != pytest.approx(float((score - 1).pow(2).mean()), rel=1e-3)


def test_train_step_r1_changes_only_discriminators(tiny_config, tmp_path):
    plain = Trainer(copy.deepcopy(tiny_config), tmp_path / "plain")
    tiny_config.r1_gamma = 10.0
    penalized = Trainer(tiny_config, tmp_path / "penalized")
    batch = fixed_batch(tiny_config)

    plain_losses = plain.train_step(*batch)
    penalized_losses = penalized.train_step(*batch)

    # The generators step first, so they and the logged losses are unchanged.
    assert {k: v for k, v in penalized_losses.items() if not k.startswith("R1")} == pytest.approx(plain_losses, rel=1e-6)
    assert penalized_losses["R1_A"] > 0
    assert penalized_losses["R1_B"] > 0
    for name in ("G_AB", "G_BA"):
        for a, b in zip(getattr(plain.nets, name).parameters(), getattr(penalized.nets, name).parameters()):
            assert torch.equal(a, b)
    for name in ("D_A", "D_B"):
        changed = [not torch.equal(a, b) for a, b in zip(getattr(plain.nets, name).parameters(), getattr(penalized.nets, name).parameters())]
        assert any(changed), name


def test_config_rejects_negative_r1_gamma():
    config = TrainConfig(r1_gamma=-1.0)

    with pytest.raises(ValueError, match="r1_gamma -1.0 is outside"):
        config.validate()


def test_config_stores_negative_zero_as_zero():
    config = TrainConfig(r1_gamma=-0.0, cycle_noise=-0.0, lambda_identity=-0.0)

    saved = json.loads(config.to_json())

    assert [math.copysign(1.0, saved[name]) for name in ("r1_gamma", "cycle_noise", "lambda_identity")] == [1.0, 1.0, 1.0]


def test_config_rejects_huge_steps():
    config = TrainConfig(steps=10**20)

    with pytest.raises(ValueError, match="above the supported maximum of 1000000000"):
        config.validate()


def test_config_rejects_unknown_gan_mode():
    config = TrainConfig(gan_mode="wgan")

    with pytest.raises(ValueError, match="gan_mode 'wgan' must be one of lsgan, vanilla"):
        config.validate()


def test_train_step_without_identity(tiny_config, tmp_path):
    tiny_config.lambda_identity = 0.0
    trainer = Trainer(tiny_config, tmp_path / "run")

    losses = trainer.train_step(*fixed_batch(tiny_config))

    assert set(losses) == set(LOSS_COLUMNS) - {"idt_A", "idt_B", "R1_A", "R1_B"}
    assert trainer.step == 1


# Training runs


def test_train_writes_run_folder(tiny_config, tmp_path):
    out = tmp_path / "run"

    checkpoint = Trainer(tiny_config, out).train(progress=False)

    assert checkpoint == out / "checkpoints" / "latest.pt"
    assert checkpoint.is_file()
    assert load_checkpoint(checkpoint)["step"] == 4
    assert json.loads((out / "config.json").read_text()) == tiny_config.to_dict()
    assert json.loads((out / "run.json").read_text())["step"] == 4
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest.pt"]


def test_train_writes_losses_csv(tiny_config, tmp_path):
    out = tmp_path / "run"

    Trainer(tiny_config, out).train(progress=False)
    rows = read_losses(out / "losses.csv")

    assert rows[0] == ["step", "seconds", "lr", *LOSS_COLUMNS]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4"]
    for row in rows[1:]:
        assert len(row) == 3 + len(LOSS_COLUMNS)
        # Without --r1-gamma the R1 columns stay empty.
        assert row[-2:] == ["", ""]
        assert all(float(value) >= 0 for value in row[3:-2])


def test_train_logs_last_step(tiny_config, tmp_path):
    tiny_config.log_every = 3
    out = tmp_path / "run"

    Trainer(tiny_config, out).train(progress=False)
    rows = read_losses(out / "losses.csv")

    assert [row[0] for row in rows[1:]] == ["3", "4"]


def test_train_writes_samples(tiny_config, tmp_path):
    out = tmp_path / "run"

    Trainer(tiny_config, out).train(progress=False)
    samples = sorted((out / "samples").glob("*.png"))

    assert [p.name for p in samples] == ["step_0000002.png", "step_0000004.png"]
    grid = cv2.imread(str(samples[-1]))
    # Six rows (A, G_AB(A), its reconstruction, and the same for B) and one column per test image,
    # each 16 px image enlarged 8 times to 128 px.
    assert grid.shape == (6 * 128, 2 * 128, 3)
    assert np.array_equal(grid[:8, :8], np.broadcast_to(grid[0, 0], (8, 8, 3)))


def test_train_writes_snapshots(tiny_config, tmp_path):
    tiny_config.snapshot_every = 2
    out = tmp_path / "run"

    Trainer(tiny_config, out).train(progress=False)
    names = sorted(p.name for p in (out / "checkpoints").iterdir())

    assert names == ["latest.pt", "step_0000002.pt", "step_0000004.pt"]
    assert load_checkpoint(out / "checkpoints" / "step_0000002.pt")["step"] == 2


def test_train_same_seed_reproducible(tiny_config, tmp_path):
    tiny_config.steps = 2
    first = Trainer(tiny_config, tmp_path / "first")
    first.train(progress=False)
    second = Trainer(copy.deepcopy(tiny_config), tmp_path / "second")
    second.train(progress=False)

    for key, value in first.nets.G_AB.state_dict().items():
        assert torch.equal(value, second.nets.G_AB.state_dict()[key]), key


def test_train_interrupt_saves_checkpoint(tiny_config, tmp_path, monkeypatch):
    out = tmp_path / "run"
    tiny_config.checkpoint_every = 100
    trainer = Trainer(tiny_config, out)
    original = Trainer.train_step

    def interrupted_step(self, real_a, real_b):
        if self.step == 3:
            raise KeyboardInterrupt
        return original(self, real_a, real_b)

    monkeypatch.setattr(Trainer, "train_step", interrupted_step)

    with pytest.raises(KeyboardInterrupt):
        trainer.train(progress=False)

    assert load_checkpoint(out / "checkpoints" / "latest.pt")["step"] == 3


# Resuming


@pytest.fixture
def two_step_run(tiny_config, tmp_path) -> Path:
    """Train 2 of 2 steps and return the run folder."""
    tiny_config.steps = 2
    tiny_config.decay_steps = 1
    out = tmp_path / "run"
    Trainer(tiny_config, out).train(progress=False)
    return out


def test_resume_restores_saved_state(two_step_run):
    saved = load_checkpoint(two_step_run / "checkpoints" / "latest.pt")

    trainer = Trainer(None, two_step_run, resume=True, steps=4)

    assert trainer.step == 2
    for name, net in trainer.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, saved[name][key]), f"{name}.{key}"
    assert optimizer_steps(trainer.opt_G) == {2}
    assert optimizer_steps(trainer.opt_D) == {2}
    assert len(trainer.pool_A.images) == 2
    assert torch.equal(torch.cat(trainer.pool_A.images), saved["pool_A"]["images"])


def test_resume_rescales_schedule(two_step_run):
    trainer = Trainer(None, two_step_run, resume=True, steps=10)

    assert trainer.config.steps == 10
    assert trainer.config.decay_steps == 5
    assert json.loads((two_step_run / "config.json").read_text())["steps"] == 10


def test_resume_keeps_steps_by_default(two_step_run):
    trainer = Trainer(None, two_step_run, resume=True)

    assert trainer.config.steps == 2
    assert trainer.config.decay_steps == 1


def test_resume_options_equal_saved_pass(two_step_run, tiny_config):
    trainer = Trainer(None, two_step_run, resume=True, options={"ngf": tiny_config.ngf, "threads": 3})

    assert trainer.config.ngf == tiny_config.ngf
    assert trainer.config.threads == 3
    assert json.loads((two_step_run / "config.json").read_text())["threads"] == 3


def test_resume_options_changed_rejected(two_step_run, tiny_config):
    with pytest.raises(RunError, match=rf"--ngf {tiny_config.ngf + 1} \(saved: {tiny_config.ngf}\)"):
        Trainer(None, two_step_run, resume=True, options={"ngf": tiny_config.ngf + 1})


def test_resume_same_steps_keeps_decay(tiny_config, tmp_path):
    tiny_config.steps = 2
    tiny_config.decay_steps = 2
    Trainer(tiny_config, tmp_path / "run").train(progress=False)

    trainer = Trainer(None, tmp_path / "run", resume=True, steps=2)

    assert trainer.config.decay_steps == 2


def test_resume_new_steps_with_decay(two_step_run):
    trainer = Trainer(None, two_step_run, resume=True, steps=6, options={"decay_steps": 5})

    assert trainer.config.steps == 6
    assert trainer.config.decay_steps == 5


def test_resume_lr_follows_new_schedule(two_step_run):
    trainer = Trainer(None, two_step_run, resume=True, steps=4)
    expected = trainer.config.lr * lr_factor(2, trainer.config)

    assert expected == pytest.approx(2e-4)
    assert trainer.opt_G.param_groups[0]["lr"] == pytest.approx(expected)


def test_resume_continues_to_new_total(two_step_run):
    trainer = Trainer(None, two_step_run, resume=True, steps=4)

    trainer.train(progress=False)
    rows = read_losses(two_step_run / "losses.csv")

    assert trainer.step == 4
    assert load_checkpoint(two_step_run / "checkpoints" / "latest.pt")["step"] == 4
    assert rows[0][0] == "step"
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4"]
    assert optimizer_steps(trainer.opt_G) == {4}


def test_new_run_rejects_existing_checkpoint(two_step_run, tiny_config):
    with pytest.raises(RunError, match="already has a checkpoint") as excinfo:
        Trainer(tiny_config, two_step_run)

    assert str(two_step_run) in str(excinfo.value)


def test_resume_without_checkpoint_raises(tmp_path):
    out = tmp_path / "empty_run"

    with pytest.raises(RunError, match="nothing to resume") as excinfo:
        Trainer(None, out, resume=True)

    assert str(out) in str(excinfo.value)


def test_resume_from_export_raises(two_step_run, tmp_path):
    out = tmp_path / "exported_run"
    export_generators(two_step_run / "checkpoints" / "latest.pt", out / "checkpoints" / "latest.pt")

    with pytest.raises(RunError, match="lacks D_A, D_B, opt_G"):
        Trainer(None, out, resume=True)


def test_unreadable_image_mid_run_keeps_progress(two_step_run):
    from cyclegan.data import DataError

    trainer = Trainer(None, two_step_run, resume=True, steps=6)
    for path in (Path(trainer.config.dataroot) / "trainA").iterdir():
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)

    with pytest.raises(DataError):
        trainer.train(progress=False)

    assert load_checkpoint(two_step_run / "checkpoints" / "latest.pt")["step"] == 2


def test_stop_message_starts_its_own_line(two_step_run, capsys):
    import logging
    import sys

    from cyclegan.data import DataError

    trainer = Trainer(None, two_step_run, resume=True, steps=6)
    for path in (Path(trainer.config.dataroot) / "trainA").iterdir():
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger("cyclegan.train").addHandler(handler)
    try:
        with pytest.raises(DataError):
            trainer.train(progress=True)
    finally:
        logging.getLogger("cyclegan.train").removeHandler(handler)

    # The bar redraws itself with carriage returns, so only newlines separate lines here.
    lines = capsys.readouterr().err.split("\n")
    assert any(line.startswith("stopped at step 2") for line in lines), lines


def test_resume_drops_log_rows_after_checkpoint(two_step_run):
    log = two_step_run / "losses.csv"
    with open(log, "a") as handle:
        handle.write("3,0.1,0.0002,1,1,1,1,1,1,1,1\n")

    trainer = Trainer(None, two_step_run, resume=True, steps=4)
    trainer.train(progress=False)
    steps = [row[0] for row in read_losses(log)[1:]]

    assert steps == ["1", "2", "3", "4"]


def test_resume_upgrades_older_log_columns(two_step_run):
    log = two_step_run / "losses.csv"
    rows = read_losses(log)
    old_header = rows[0][:-2]
    with open(log, "w", newline="") as handle:
        csv.writer(handle).writerows([old_header, *[row[:-2] for row in rows[1:]]])

    Trainer(None, two_step_run, resume=True, steps=3).train(progress=False)
    upgraded = read_losses(log)

    assert upgraded[0] == ["step", "seconds", "lr", *LOSS_COLUMNS]
    assert upgraded[1][:-2] == rows[1][:-2]
    assert upgraded[1][-2:] == ["", ""]
    assert [row[0] for row in upgraded[1:]] == ["1", "2", "3"]


def test_resume_row_averages_whole_interval(tiny_config, tmp_path, monkeypatch):
    """A run stopped between two log rows logs the mean over the whole interval after the resume."""
    out = tmp_path / "run"
    tiny_config.steps = 6
    tiny_config.log_every = 5
    tiny_config.checkpoint_every = 100
    original = Trainer.train_step
    recorded = []
    interrupt = [True]

    def recording_step(self, real_a, real_b):
        if self.step == 3 and interrupt:
            interrupt.clear()
            raise KeyboardInterrupt
        losses = original(self, real_a, real_b)
        recorded.append(losses)
        return losses

    monkeypatch.setattr(Trainer, "train_step", recording_step)
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_config, out).train(progress=False)
    Trainer(None, out, resume=True).train(progress=False)

    rows = read_losses(out / "losses.csv")
    assert [row[0] for row in rows[1:]] == ["5", "6"]
    column = rows[0].index("D_A")
    expected = sum(losses["D_A"] for losses in recorded[:5]) / 5
    assert float(rows[1][column]) == pytest.approx(expected, abs=1e-5)


def test_resume_rejects_invalid_log_interval(two_step_run):
    path = two_step_run / "checkpoints" / "latest.pt"
    state = torch.load(path, weights_only=True)
    state["log_interval"] = {"sums": {"D_A": "1.0"}, "count": 1}
    torch.save(state, path)

    with pytest.raises(RunError, match="invalid log_interval"):
        Trainer(None, two_step_run, resume=True, steps=4)


def test_resume_continues_logged_seconds(two_step_run):
    log = two_step_run / "losses.csv"
    rows = read_losses(log)
    rows[-1][1] = "1000.0"
    with open(log, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)

    Trainer(None, two_step_run, resume=True, steps=3).train(progress=False)

    assert float(read_losses(log)[-1][1]) >= 1000.0


# Run folder lock


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("close", [True, False])
def test_forked_child_lock_copy(tmp_path, close):
    """A forked child that closes its copy of the lock file no longer keeps the folder locked."""
    from cyclegan.runlock import RunLock, RunLockedError, close_inherited

    lock = RunLock(tmp_path / "run")
    identity = lock.identity()
    ready_read, ready_write = os.pipe()
    done_read, done_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if close:
                close_inherited(identity)
            os.write(ready_write, b"1")
            os.read(done_read, 1)
        finally:
            os._exit(0)

    try:
        os.read(ready_read, 1)
        with pytest.raises(RunLockedError):
            RunLock(tmp_path / "run")
        lock.release()
        if close:
            RunLock(tmp_path / "run").release()
        else:
            # The child's copy keeps the lock after its parent let go, as an orphaned worker would.
            with pytest.raises(RunLockedError):
                RunLock(tmp_path / "run")
    finally:
        os.write(done_write, b"1")
        os.waitpid(pid, 0)
        for descriptor in (ready_read, ready_write, done_read, done_write):
            os.close(descriptor)


def test_close_inherited_skips_other_file(tmp_path):
    from cyclegan.runlock import close_inherited

    with open(tmp_path / "other", "w") as other:
        stat = os.fstat(other.fileno())
        close_inherited((other.fileno(), stat.st_dev, stat.st_ino + 1))

        assert os.fstat(other.fileno()).st_ino == stat.st_ino


def test_loader_workers_get_lock_identity(tiny_config, tmp_path):
    trainer = Trainer(tiny_config, tmp_path / "run")

    init = trainer._loader().worker_init_fn

    assert init.keywords["lock"] == trainer._lock.identity()
    trainer.close()


def test_second_trainer_on_same_folder_rejected(two_step_run):
    from cyclegan.runlock import RunLockedError

    first = Trainer(None, two_step_run, resume=True, steps=4)
    config_before = (two_step_run / "config.json").read_text()

    with pytest.raises(RunLockedError, match="another trainer") as excinfo:
        Trainer(None, two_step_run, resume=True, steps=8)

    assert str(two_step_run) in str(excinfo.value)
    assert "--out" in str(excinfo.value)
    # The rejected trainer changed nothing in the run folder.
    assert (two_step_run / "config.json").read_text() == config_before
    first.train(progress=False)
    assert load_checkpoint(two_step_run / "checkpoints" / "latest.pt")["step"] == 4


def test_lock_released_after_training(two_step_run):
    trainer = Trainer(None, two_step_run, resume=True, steps=3)
    trainer.train(progress=False)

    resumed = Trainer(None, two_step_run, resume=True, steps=4)
    resumed.train(progress=False)

    assert resumed.step == 4


def test_lock_released_when_resume_fails(two_step_run, tiny_config):
    with pytest.raises(RunError):
        Trainer(None, two_step_run, resume=True, options={"ngf": tiny_config.ngf + 1})

    assert Trainer(None, two_step_run, resume=True, steps=3).step == 2


def test_failed_new_run_leaves_no_folder(tmp_path, tiny_config):
    config = copy.deepcopy(tiny_config)
    config.dataroot = str(tmp_path / "missing_data")
    out = tmp_path / "run"

    with pytest.raises(ValueError):
        Trainer(config, out)

    assert not out.exists()


def test_lock_file_names_holder(tmp_path):
    import os

    from cyclegan.runlock import RunLock, RunLockedError

    lock = RunLock(tmp_path / "run")

    assert (tmp_path / "run" / ".lock").read_text().strip() == str(os.getpid())
    with pytest.raises(RunLockedError, match=f"PID {os.getpid()}"):
        RunLock(tmp_path / "run")
    lock.release()
    lock.release()
    assert not lock.held
    RunLock(tmp_path / "run").release()


def test_lock_rejects_symlinked_lock_file(tmp_path):
    from cyclegan.runlock import RunFolderError, RunLock

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(precious)

    with pytest.raises(RunFolderError, match="cannot open the run folder's lock file"):
        RunLock(tmp_path / "run")

    assert precious.read_text() == "keep me\n"


def test_lock_rejects_dangling_symlink_folder(tmp_path):
    from cyclegan.runlock import RunFolderError, RunLock

    (tmp_path / "run").symlink_to(tmp_path / "missing")

    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        RunLock(tmp_path / "run")


def test_lock_remove_deletes_created_folders(tmp_path):
    from cyclegan.runlock import RunLock

    lock = RunLock(tmp_path / "a" / "b" / "run")
    lock.remove()

    assert list(tmp_path.iterdir()) == []
    assert not lock.held


def test_lock_remove_keeps_existing_folder(tmp_path):
    from cyclegan.runlock import RunLock

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")

    RunLock(tmp_path / "run").remove()

    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["notes.txt"]


def test_lock_remove_keeps_older_lock_file(tmp_path):
    from cyclegan.runlock import RunLock

    RunLock(tmp_path / "run").release()

    RunLock(tmp_path / "run").remove()

    assert (tmp_path / "run" / ".lock").is_file()


def test_lock_retaken_after_file_replaced(tmp_path, monkeypatch):
    import cyclegan.runlock as runlock

    calls = []
    real_open = runlock.RunLock._open

    def open_then_replace(self):
        handle = real_open(self)
        if not calls:
            # Another process deletes and recreates the lock file between open and flock.
            self.path.unlink()
            self.path.touch()
        calls.append(handle)
        return handle

    monkeypatch.setattr(runlock.RunLock, "_open", open_then_replace)

    lock = runlock.RunLock(tmp_path / "run")

    assert len(calls) == 2
    assert calls[0].closed
    assert os.path.samestat(os.fstat(calls[1].fileno()), os.stat(lock.path))


def test_failed_resume_leaves_no_lock_file(tmp_path):
    out = tmp_path / "run"
    out.mkdir()

    with pytest.raises(RunError, match="nothing to resume"):
        Trainer(None, out, resume=True)

    assert list(out.iterdir()) == []
