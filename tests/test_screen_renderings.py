"""The screening scripts: examples/screen_renderings.py and examples/screen_eval.py."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import segmentation

from cyclegan.config import TrainConfig
from cyclegan.data import DataError, read_rgb
from conftest import save_new_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "screen_renderings.py"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def screens():
    return load_example("screen_renderings")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_grain_has_requested_std(screens):
    rng = np.random.default_rng(1)
    image = np.full((256, 256, 3), 128, dtype=np.uint8)

    noisy = screens.add_grain(image, rng).astype(float)

    # Rounding to 8 bits adds a uniform error of variance 1/12.
    assert noisy.std() == pytest.approx(np.sqrt(screens.GRAIN_STD**2 + 1 / 12), rel=0.02)
    assert noisy.mean() == pytest.approx(128, abs=0.05)


def test_grain_std_can_be_chosen(screens):
    rng = np.random.default_rng(3)
    image = np.full((256, 256, 3), 128, dtype=np.uint8)

    noisy = screens.add_grain(image, rng, std=5.0).astype(float)

    assert noisy.std() == pytest.approx(np.sqrt(25 + 1 / 12), rel=0.02)


def test_flat_fills_superpixels_with_mean_colour(screens):
    rng = np.random.default_rng(2)
    clean = np.zeros((32, 32, 3), dtype=np.uint8)
    clean[:, :16] = (200, 40, 40)
    clean[:, 16:] = (30, 60, 190)
    photo = np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8)
    labels = segmentation.slic(photo, n_segments=40, compactness=10, start_label=0)

    rendered = screens.flat(photo)

    assert len(np.unique(labels)) > 2
    for label in np.unique(labels):
        region = labels == label
        mean = photo[region].mean(axis=0)
        assert np.array_equal(rendered[region], np.broadcast_to(np.floor(mean), rendered[region].shape))


def test_gray_grain_data_set(tmp_path):
    out = tmp_path / "gray-grain"

    completed = run_script("gray-grain", str(out), "--size", "16", "--n-train", "3", "--n-test", "2")

    assert completed.returncode == 0, completed.stderr
    counts = {folder: len(list((out / folder).glob("*.png"))) for folder in ("trainA", "trainB", "testA", "testA_truth", "testB")}
    assert counts == {"trainA": 3, "trainB": 3, "testA": 2, "testA_truth": 2, "testB": 2}
    truth = read_rgb(out / "testA_truth" / "00000.png")
    assert np.array_equal(truth[..., 0], truth[..., 1])
    grainy = read_rgb(out / "trainB" / "00000.png").astype(int)
    assert 0 < np.abs(grainy[..., 0] - grainy[..., 1]).mean() < 6
    assert json.loads((out / "dataset.json").read_text())["kind"] == "screen-gray-grain"


def test_blur_grain_data_set(tmp_path, screens):
    out = tmp_path / "blur-grain"

    completed = run_script("blur-grain", str(out), "--size", "16", "--n-train", "2", "--n-test", "2", "--grain", "4")

    assert completed.returncode == 0, completed.stderr
    photo = read_rgb(out / "testA" / "00001.png")
    assert np.array_equal(read_rgb(out / "testA_truth" / "00001.png"), screens.blur(photo))
    meta = json.loads((out / "dataset.json").read_text())
    assert (meta["kind"], meta["grain"]) == ("screen-blur-grain", 4.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("blur-grain", "--grain", "-1"), "--grain -1"),
        (("blur", "--grain", "3"), "--grain applies only to the kinds"),
        (("mosaic", "--n-train", "100000000000"), "must be between 1 and"),
    ],
)
def test_invalid_arguments_rejected(tmp_path, args, message):
    completed = run_script(args[0], str(tmp_path / "out"), *args[1:])

    assert completed.returncode != 0
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_negative_zero_grain_means_none(tmp_path):
    grainy, plain = tmp_path / "blur-grain", tmp_path / "blur"

    completed = run_script("blur-grain", str(grainy), "--size", "16", "--n-train", "1", "--n-test", "1", "--grain=-0")
    assert run_script("blur", str(plain), "--size", "16", "--n-train", "1", "--n-test", "1").returncode == 0

    assert completed.returncode == 0, completed.stderr
    assert json.loads((grainy / "dataset.json").read_text())["grain"] == 0.0
    # Same seed, same crops: grain of std 0 leaves the plain blur rendering.
    assert np.array_equal(read_rgb(grainy / "trainB" / "00000.png"), read_rgb(plain / "trainB" / "00000.png"))


def test_data_set_written_without_leftovers(tmp_path):
    completed = run_script("mosaic", str(tmp_path / "out"), "--size", "8", "--n-train", "1", "--n-test", "1")

    assert completed.returncode == 0, completed.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask


def test_eval_rejects_unpaired_truth(tmp_path):
    data = tmp_path / "data"
    assert run_script("mosaic", str(data), "--size", "16", "--n-train", "1", "--n-test", "3").returncode == 0
    (data / "testA_truth" / "00002.png").unlink()
    save_new_checkpoint(tmp_path / "c.pt", TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=1), step=0)

    with pytest.raises(DataError, match="testA and testA_truth must hold the same file names"):
        load_example("screen_eval").evaluate(tmp_path / "c.pt", data)


@pytest.mark.parametrize("content", ["[1, 2]", '{"kind": 5}', "{not json", ""])
def test_eval_rejects_invalid_description(tmp_path, content):
    data = tmp_path / "data"
    assert run_script("mosaic", str(data), "--size", "16", "--n-train", "1", "--n-test", "1").returncode == 0
    (data / "dataset.json").write_text(content)

    with pytest.raises(DataError, match="dataset.json: invalid data set description"):
        load_example("screen_eval").domain_projection(data)


def test_eval_rejects_other_image_size(tmp_path):
    data = tmp_path / "data"
    assert run_script("mosaic", str(data), "--size", "32", "--n-train", "1", "--n-test", "1").returncode == 0
    save_new_checkpoint(tmp_path / "c.pt", TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=1), step=0)

    with pytest.raises(DataError, match="build the data set with --size 16"):
        load_example("screen_eval").evaluate(tmp_path / "c.pt", data)


def test_low_pass_projection_removes_checkerboard():
    low_pass = load_example("screen_eval").low_pass_projection
    rows, cols = np.indices((16, 16))
    checkerboard = 0.1 * (-1.0) ** (rows + cols)
    images = torch.from_numpy(np.stack([checkerboard + 0.3] * 3)[None]).float()

    projected = low_pass(images)

    # Away from the reflected borders the filter acts on an endless checkerboard, which a separable
    # kernel w (sigma 1, cut at 4 sigma) scales by (sum_k w_k (-1)^k)^2 and a constant keeps.
    offsets = np.arange(-4, 5)
    weights = np.exp(-(offsets**2) / 2) / np.exp(-(offsets**2) / 2).sum()
    kept = (weights * (-1.0) ** offsets).sum() ** 2
    inner = (slice(None), slice(None), slice(5, 11), slice(5, 11))
    expected = torch.from_numpy(checkerboard * kept + 0.3).float()
    assert projected.shape == images.shape
    assert torch.allclose(projected[inner], expected.expand_as(images)[inner], atol=1e-4)


def test_existing_folder_rejected(tmp_path):
    completed = run_script("mosaic", str(tmp_path))

    assert completed.returncode != 0
    assert "already exists" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_size_not_multiple_of_block_rejected(tmp_path):
    completed = run_script("mosaic", str(tmp_path / "out"), "--size", "18")

    assert completed.returncode != 0
    assert "--size 18" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_uncreatable_output_rejected(tmp_path):
    (tmp_path / "afile").write_text("")

    completed = run_script("blur", str(tmp_path / "afile" / "out"), "--size", "16", "--n-train", "1", "--n-test", "1")

    assert completed.returncode != 0
    assert "cannot create folder" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_eval_identity_pair(tmp_path):
    data = tmp_path / "data"
    completed = run_script("mosaic-grain", str(data), "--size", "16", "--n-train", "2", "--n-test", "3")
    assert completed.returncode == 0, completed.stderr
    # Untrained residual generators are the identity: the translation is the photo, the
    # reconstruction is exact, and added noise passes through (gain 1, a little less where the
    # output clamp of 0.999 cuts it off).
    config = TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=1, residual_g=True)
    save_new_checkpoint(tmp_path / "identity.pt", config, step=0)

    line = load_example("screen_eval").evaluate(tmp_path / "identity.pt", data)

    fields = line.split(" | ")
    assert fields[2] != "to truth 0.000"
    assert fields[3] == "to photo 0.000"
    assert 0.8 <= float(fields[5].split()[1]) <= 1.0
    assert fields[7].startswith("block mean drop")
    assert float(fields[7].split()[3]) > 1
    assert fields[8] == "not detected"


def test_mosaic_screen_matches_cyclegan_data(tmp_path):
    from cyclegan.photos import build_dataset

    screen, reference = tmp_path / "screen", tmp_path / "reference"
    build_dataset("photo2mosaic", reference, size=16, n_train=4, n_test=3, seed=7, block=4)

    completed = run_script("mosaic", str(screen), "--size", "16", "--n-train", "4", "--n-test", "3", "--seed", "7")

    assert completed.returncode == 0, completed.stderr
    for folder in ("trainA", "trainB", "testA", "testA_truth", "testB"):
        names = sorted(path.name for path in (reference / folder).glob("*.png"))
        assert names == sorted(path.name for path in (screen / folder).glob("*.png"))
        for name in names:
            assert np.array_equal(read_rgb(screen / folder / name), read_rgb(reference / folder / name)), f"{folder}/{name}"
