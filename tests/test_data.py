"""Tests for image reading, the unpaired data set and the bundled-photo data set builder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import random_rgb, write_png

from cyclegan.data import (
    DataError,
    UnpairedDataset,
    check_dataroot,
    list_images,
    load_image_tensor,
    read_rgb,
    to_tensor,
    to_uint8,
)
from cyclegan.photos import BOUNDARY_COLOUR, MAP_COLOURS, build_dataset, map_colours, render_mosaic
from stegdetect.projections import block_mean_projection, target_projections

SPLITS = {"trainA": 4, "trainB": 4, "testA": 2, "testB": 2, "testA_truth": 2}


def colour_set(image: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in pixel) for pixel in image.reshape(-1, 3)}


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# Listing and reading


def test_list_images_sorted_and_filtered(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("b.png", "a.JPG", "c.bmp"):
        write_png(tmp_path / name, random_rgb(rng, 8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "folder.png").mkdir()

    files = list_images(tmp_path)

    assert [p.name for p in files] == ["a.JPG", "b.png", "c.bmp"]


def test_list_images_missing_folder(tmp_path):
    folder = tmp_path / "absent"

    with pytest.raises(DataError, match="folder not found") as excinfo:
        list_images(folder)

    assert str(folder) in str(excinfo.value)


def test_list_images_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")

    with pytest.raises(DataError, match="no images found") as excinfo:
        list_images(tmp_path)

    assert str(tmp_path) in str(excinfo.value)


def test_read_rgb_colour_order(tmp_path):
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = 30
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), rgb[..., ::-1])

    image = read_rgb(path)

    assert image.shape == (4, 6, 3)
    assert image.dtype == np.uint8
    assert np.array_equal(image, rgb)


def test_read_rgb_gray(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), gray)

    image = read_rgb(path)

    assert image.shape == (4, 5, 3)
    for channel in range(3):
        assert np.array_equal(image[..., channel], gray)


def test_read_rgb_drops_alpha(tmp_path):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8)
    path = tmp_path / "rgba.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))

    image = read_rgb(path)

    assert image.shape == (5, 4, 3)
    assert np.array_equal(image, rgba[..., :3])


def test_read_rgb_scales_16_bit(tmp_path):
    values = np.array([0, 257, 65535, 32896], dtype=np.uint16)
    rgb16 = np.repeat(values.reshape(2, 2, 1), 3, axis=2)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), rgb16)

    image = read_rgb(path)

    assert image.dtype == np.uint8
    assert image[..., 0].tolist() == [[0, 1], [255, 128]]


def test_read_rgb_non_image(tmp_path):
    path = tmp_path / "fake.png"
    path.write_text("this is text, not a PNG")

    with pytest.raises(DataError, match="not a readable image") as excinfo:
        read_rgb(path)

    assert str(path) in str(excinfo.value)


def test_read_rgb_missing_file(tmp_path):
    path = tmp_path / "absent.png"

    with pytest.raises(DataError, match="file not found") as excinfo:
        read_rgb(path)

    assert str(path) in str(excinfo.value)


# Tensor conversion


def test_tensor_round_trip_exact():
    values = np.arange(256, dtype=np.uint8)
    image = np.stack([values, values[::-1], np.roll(values, 7)], axis=-1).reshape(16, 16, 3)

    restored = to_uint8(to_tensor(image))

    assert restored.dtype == np.uint8
    assert np.array_equal(restored, image)


def test_to_tensor_layout_and_range():
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0, 1] = (255, 0, 128)

    tensor = to_tensor(image)

    assert tensor.shape == (3, 2, 3)
    assert tensor.dtype == torch.float32
    assert tensor[0, 0, 1].item() == 1.0
    assert tensor[1, 0, 1].item() == -1.0
    assert tensor[2, 0, 1].item() == pytest.approx(128 / 127.5 - 1, abs=1e-6)
    assert tensor[0, 1, 2].item() == -1.0


def test_to_uint8_clamps_and_rounds():
    tensor = torch.tensor([-3.0, -1.0, 0.0, 0.004, 1.0, 5.0]).view(1, 1, 6).expand(3, 1, 6)

    image = to_uint8(tensor)

    # 0 maps to 127.5, which rounds half to even (128), and 0.004 maps to 128.01.
    assert image[0, :, 0].tolist() == [0, 0, 128, 128, 255, 255]


def test_load_image_tensor_resizes(tmp_path):
    path = tmp_path / "image.png"
    write_png(path, random_rgb(np.random.default_rng(2), 32))

    tensor = load_image_tensor(path, 16)

    assert tensor.shape == (3, 16, 16)
    assert tensor.min().item() >= -1.0
    assert tensor.max().item() <= 1.0


def test_load_folder_warns_about_resized_images(tmp_path, caplog):
    from cyclegan.data import load_folder

    rng = np.random.default_rng(5)
    small = random_rgb(rng, 16)
    write_png(tmp_path / "a.png", small)
    write_png(tmp_path / "b.png", random_rgb(rng, 32))

    with caplog.at_level("WARNING", logger="cyclegan.data"):
        images = load_folder(tmp_path, 16)

    assert images.shape == (2, 3, 16, 16)
    assert torch.equal(images[0], load_image_tensor(tmp_path / "a.png"))
    assert "resized 1 of 2 images to 16 x 16 px" in caplog.text
    assert str(tmp_path) in caplog.text


def test_load_folder_warning_can_be_disabled(tmp_path, caplog):
    from cyclegan.data import load_folder

    write_png(tmp_path / "a.png", random_rgb(np.random.default_rng(7), 32))

    with caplog.at_level("WARNING", logger="cyclegan.data"):
        images = load_folder(tmp_path, 16, warn=False)

    assert images.shape == (1, 3, 16, 16)
    assert caplog.text == ""


def test_load_folder_silent_when_sizes_match(tmp_path, caplog):
    from cyclegan.data import load_folder

    write_png(tmp_path / "a.png", random_rgb(np.random.default_rng(6), 16))

    with caplog.at_level("WARNING", logger="cyclegan.data"):
        load_folder(tmp_path, 16)

    assert caplog.text == ""


# Data folders


def test_check_dataroot_accepts_layout(dataroot):
    check_dataroot(dataroot)


def test_check_dataroot_missing_train_b(tmp_path):
    write_png(tmp_path / "trainA" / "0.png", random_rgb(np.random.default_rng(0), 8))

    with pytest.raises(DataError, match="missing trainB") as excinfo:
        check_dataroot(tmp_path)

    assert str(tmp_path) in str(excinfo.value)
    assert "missing trainB;" in str(excinfo.value)


def test_check_dataroot_missing_both(tmp_path):
    with pytest.raises(DataError, match="missing trainA and trainB"):
        check_dataroot(tmp_path)


def test_check_dataroot_missing_root(tmp_path):
    root = tmp_path / "absent"

    with pytest.raises(DataError, match="data folder not found") as excinfo:
        check_dataroot(root)

    assert str(root) in str(excinfo.value)


def test_check_dataroot_empty_train_b(tmp_path):
    write_png(tmp_path / "trainA" / "0.png", random_rgb(np.random.default_rng(0), 8))
    (tmp_path / "trainB").mkdir()

    with pytest.raises(DataError, match="no images found") as excinfo:
        check_dataroot(tmp_path)

    assert str(tmp_path / "trainB") in str(excinfo.value)


# Unpaired data set


def test_dataset_item_shapes(dataroot):
    dataset = UnpairedDataset(dataroot, "train", size=16, seed=0)

    item = dataset[1]

    assert len(dataset) == 3
    assert set(item) == {"A", "B"}
    for domain in ("A", "B"):
        assert item[domain].shape == (3, 16, 16)
        assert item[domain].dtype == torch.float32
        assert item[domain].min().item() >= -1.0
        assert item[domain].max().item() <= 1.0


def test_dataset_length_is_larger_domain(dataroot):
    for i in range(3, 7):
        write_png(dataroot / "trainB" / f"{i:03d}.png", random_rgb(np.random.default_rng(i)))

    dataset = UnpairedDataset(dataroot, "train", size=16)

    assert len(dataset) == 7
    assert dataset[6]["A"].shape == (3, 16, 16)


def test_dataset_without_flip_returns_image(dataroot):
    dataset = UnpairedDataset(dataroot, "test", size=16, flip=False)
    expected = to_tensor(read_rgb(dataroot / "testA" / "001.png"))

    item = dataset[1]

    assert torch.equal(item["A"], expected)


def test_dataset_resizes_to_size(dataroot):
    dataset = UnpairedDataset(dataroot, "train", size=8, flip=False)

    assert dataset[0]["A"].shape == (3, 8, 8)


def test_dataset_crops_load_size(tmp_path):
    rng = np.random.default_rng(4)
    for domain in ("A", "B"):
        write_png(tmp_path / f"train{domain}" / "0.png", random_rgb(rng, 24))
    full = read_rgb(tmp_path / "trainA" / "0.png")
    dataset = UnpairedDataset(tmp_path, "train", size=16, load_size=24, flip=False, seed=1)
    windows = [
        to_tensor(np.ascontiguousarray(full[y : y + 16, x : x + 16]))
        for y in range(9)
        for x in range(9)
    ]

    offsets = set()
    for _ in range(10):
        crop = dataset[0]["A"]
        assert crop.shape == (3, 16, 16)
        matches = [i for i, window in enumerate(windows) if torch.equal(window, crop)]
        assert len(matches) == 1
        offsets.add(matches[0])

    # Ten random offsets out of 81 are all the same only if cropping is not random.
    assert len(offsets) > 1


def test_dataset_flip_mirrors_width(tmp_path):
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[:, :4] = 255
    for domain in ("A", "B"):
        write_png(tmp_path / f"train{domain}" / "0.png", image)
    dataset = UnpairedDataset(tmp_path, "train", size=8, flip=True, seed=0)
    original = to_tensor(image)
    mirrored = to_tensor(np.ascontiguousarray(image[:, ::-1]))

    results = [dataset[0]["A"] for _ in range(16)]

    assert all(torch.equal(r, original) or torch.equal(r, mirrored) for r in results)
    assert any(torch.equal(r, mirrored) for r in results)
    assert any(torch.equal(r, original) for r in results)


def test_dataset_same_seed_same_items(dataroot):
    first = UnpairedDataset(dataroot, "train", size=16, seed=7)
    second = UnpairedDataset(dataroot, "train", size=16, seed=7)

    for index in range(3):
        assert torch.equal(first[index]["B"], second[index]["B"])
        assert torch.equal(first[index]["A"], second[index]["A"])


# Data sets built from bundled photographs


@pytest.fixture(scope="module")
def photo2map(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("photo2map")
    meta = build_dataset("photo2map", root, size=16, n_train=4, n_test=2, seed=3)
    return root, meta


@pytest.fixture(scope="module")
def photo2gray(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photo2gray")
    build_dataset("photo2gray", root, size=16, n_train=4, n_test=2, seed=3)
    return root


def test_photo2map_layout(photo2map):
    root, _ = photo2map

    for folder, count in SPLITS.items():
        files = sorted(p.name for p in (root / folder).iterdir())
        assert files == [f"{i:05d}.png" for i in range(count)], folder
        for name in files:
            assert read_rgb(root / folder / name).shape == (16, 16, 3), f"{folder}/{name}"


def test_photo2map_metadata(photo2map):
    root, meta = photo2map

    assert json.loads((root / "dataset.json").read_text()) == meta
    assert meta["kind"] == "photo2map"
    assert meta["size"] == 16
    assert meta["n_train"] == 4
    assert meta["n_test"] == 2
    assert meta["boundary_colour"] == BOUNDARY_COLOUR.tolist()
    assert len(meta["palette"]) == 5
    assert len({tuple(c) for c in meta["palette"]}) == 5
    assert all(colour in MAP_COLOURS.tolist() for colour in meta["palette"])


def test_photo2map_uses_map_colours(photo2map):
    root, meta = photo2map
    allowed = {tuple(c) for c in meta["palette"]} | {tuple(meta["boundary_colour"])}

    for folder in ("trainB", "testB", "testA_truth"):
        for path in sorted((root / folder).iterdir()):
            colours = colour_set(read_rgb(path))
            assert colours <= allowed, f"{folder}/{path.name}: {colours - allowed}"


def test_photo2map_photos_are_not_maps(photo2map):
    root, meta = photo2map
    allowed = {tuple(c) for c in meta["palette"]} | {tuple(meta["boundary_colour"])}
    colours = set()
    for path in (root / "trainA").iterdir():
        colours |= colour_set(read_rgb(path))

    assert len(colours - allowed) > 100


def test_photo2map_same_seed_identical(photo2map, tmp_path):
    root, _ = photo2map

    build_dataset("photo2map", tmp_path, size=16, n_train=4, n_test=2, seed=3)

    assert file_bytes(tmp_path) == file_bytes(root)


def test_photo2map_other_seed_differs(photo2map, tmp_path):
    root, _ = photo2map

    build_dataset("photo2map", tmp_path, size=16, n_train=4, n_test=2, seed=4)

    for folder in ("trainA", "testA"):
        for path in (tmp_path / folder).iterdir():
            assert path.read_bytes() != (root / folder / path.name).read_bytes(), f"{folder}/{path.name}"


def test_photo2gray_layout(photo2gray):
    for folder, count in SPLITS.items():
        assert len(list((photo2gray / folder).glob("*.png"))) == count, folder
    assert json.loads((photo2gray / "dataset.json").read_text())["kind"] == "photo2gray"


def test_photo2gray_equal_channels(photo2gray):
    for folder in ("trainB", "testB", "testA_truth"):
        for path in sorted((photo2gray / folder).iterdir()):
            image = read_rgb(path)
            assert np.array_equal(image[..., 0], image[..., 1]), f"{folder}/{path.name}"
            assert np.array_equal(image[..., 0], image[..., 2]), f"{folder}/{path.name}"


def test_photo2gray_truth_is_luminance(photo2gray):
    # ITU-R BT.709 luminance weights, as used by skimage.color.rgb2gray.
    weights = np.array([0.2125, 0.7154, 0.0721])

    for path in sorted((photo2gray / "testA").iterdir()):
        photo = read_rgb(path).astype(np.float64)
        truth = read_rgb(photo2gray / "testA_truth" / path.name)[..., 0].astype(np.int64)
        expected = np.round(photo @ weights).astype(np.int64)
        assert np.abs(truth - expected).max() <= 1, path.name


def test_photo2gray_photos_keep_colour(photo2gray):
    image = read_rgb(photo2gray / "trainA" / "00000.png")

    assert not np.array_equal(image[..., 0], image[..., 1])


def test_mosaic_is_block_means():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    block_means = photo.reshape(4, 4, 4, 4, 3).mean(axis=(1, 3))
    expected = np.repeat(np.repeat(block_means, 4, axis=0), 4, axis=1)

    rendered = render_mosaic(photo, 4)

    assert rendered.shape == photo.shape
    assert np.abs(rendered.astype(float) - expected).max() <= 0.5


def test_photo2mosaic_truth_is_mosaic(tmp_path):
    meta = build_dataset("photo2mosaic", tmp_path, size=16, n_train=2, n_test=2, seed=3, block=4)

    assert meta["kind"] == "photo2mosaic"
    assert meta["block"] == 4
    for path in sorted((tmp_path / "testA").iterdir()):
        photo = read_rgb(path).astype(float)
        truth = read_rgb(tmp_path / "testA_truth" / path.name).astype(float)
        block_means = photo.reshape(4, 4, 4, 4, 3).mean(axis=(1, 3))
        assert np.abs(truth - np.repeat(np.repeat(block_means, 4, axis=0), 4, axis=1)).max() <= 0.5, path.name
    for path in sorted((tmp_path / "trainB").iterdir()):
        image = read_rgb(path)
        assert np.array_equal(image, np.repeat(np.repeat(image[::4, ::4], 4, axis=0), 4, axis=1)), path.name


def test_photo2mosaic_block_option(tmp_path):
    meta = build_dataset("photo2mosaic", tmp_path, size=16, n_train=2, n_test=2, seed=3, block=8)

    assert meta["block"] == 8
    assert json.loads((tmp_path / "dataset.json").read_text())["block"] == 8
    for path in sorted((tmp_path / "testA").iterdir()):
        photo = read_rgb(path).astype(float)
        truth = read_rgb(tmp_path / "testA_truth" / path.name).astype(float)
        block_means = photo.reshape(2, 8, 2, 8, 3).mean(axis=(1, 3))
        assert np.abs(truth - np.repeat(np.repeat(block_means, 8, axis=0), 8, axis=1)).max() <= 0.5, path.name


def flat_photos() -> list[tuple[str, np.ndarray]]:
    """Six uniformly coloured 'photos', so that every crop shows which photo it came from."""
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]
    return [(f"flat{i}", np.full((160, 200, 3), colour, dtype=np.uint8)) for i, colour in enumerate(colours)]


def folder_colours(folder: Path) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in read_rgb(path)[0, 0]) for path in folder.iterdir()}


def test_photo2mosaic_domains_share_photos(tmp_path, monkeypatch):
    monkeypatch.setattr("cyclegan.photos.load_photos", flat_photos)
    build_dataset("photo2mosaic", tmp_path, size=16, n_train=12, n_test=6, seed=0)

    every_photo = {colour for _, photo in flat_photos() for colour in [tuple(int(v) for v in photo[0, 0])]}
    for folder in ("trainA", "trainB", "testA", "testB"):
        assert folder_colours(tmp_path / folder) == every_photo, folder


def test_test_crops_independent_of_n_train(tmp_path):
    build_dataset("photo2gray", tmp_path / "small", size=16, n_train=2, n_test=3, seed=5)
    build_dataset("photo2gray", tmp_path / "large", size=16, n_train=7, n_test=3, seed=5)

    for folder in ("testA", "testB"):
        for path in sorted((tmp_path / "small" / folder).iterdir()):
            assert np.array_equal(read_rgb(path), read_rgb(tmp_path / "large" / folder / path.name)), path


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "photo2sketch"}, "unknown data set kind"),
        ({"kind": "photo2mosaic", "size": 18, "block": 4}, "--size 18 must be a multiple of --block 4 for photo2mosaic"),
        ({"kind": "photo2mosaic", "size": 16, "block": 1}, "--block 1 must be an integer between 2 and --size 16"),
        ({"kind": "photo2mosaic", "size": 16, "block": 32}, "--block 32 must be an integer between 2 and --size 16"),
        ({"kind": "photo2mosaic", "size": 16, "block": 4.0}, "--block 4.0 must be an integer"),
        ({"kind": "photo2map", "size": 4}, r"--size 4 is outside \[8, 128\]"),
        ({"kind": "photo2map", "size": 129}, r"--size 129 is outside"),
        ({"kind": "photo2map", "n_train": 0}, "--n-train 0 and --n-test 50 must be between 1 and 40000"),
        ({"kind": "photo2map", "palette_size": 1}, "--palette 1 must be between 2 and 8"),
    ],
)
def test_build_dataset_rejects_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_dataset(out=tmp_path, **kwargs)


@pytest.mark.parametrize(
    ("n_colours", "expected_rows"),
    [(2, [0, 7]), (5, [0, 2, 4, 5, 7]), (8, list(range(8)))],
)
def test_map_colours_spread(n_colours, expected_rows):
    assert map_colours(n_colours).tolist() == MAP_COLOURS[expected_rows].tolist()


@pytest.mark.parametrize("n_colours", [1, 9])
def test_map_colours_rejects_size(n_colours):
    with pytest.raises(ValueError, match=f"--palette {n_colours} must be between 2 and 8"):
        map_colours(n_colours)


def test_block_mean_projection_matches_rendering():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    images = torch.from_numpy(photo.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]

    projected = block_mean_projection(images, 4)[0].permute(1, 2, 0).numpy()

    expected = render_mosaic(photo, 4).astype(np.float32) / 127.5 - 1
    # The rendering is rounded to 8 bits and the projection is not, so they differ by up to half a level.
    assert np.abs(projected - expected).max() <= 0.5 / 127.5 + 1e-6


@pytest.mark.parametrize(
    ("images", "block", "message"),
    [
        (torch.zeros((1, 3, 14, 14)), 4, "multiples of 4"),
        (torch.zeros((3, 8, 8)), 4, "N x C x H x W"),
        (torch.zeros((1, 3, 8, 8), dtype=torch.uint8), 4, "floating-point"),
        (torch.zeros((1, 3, 0, 0)), 4, "multiples of 4"),
        (torch.zeros((1, 3, 8, 8)), 0, "positive integer"),
        (torch.zeros((1, 3, 8, 8)), 2.0, "positive integer"),
    ],
)
def test_block_mean_projection_rejects_input(images, block, message):
    with pytest.raises(ValueError, match=message):
        block_mean_projection(images, block)


def test_projections_reject_other_size(tmp_path):
    build_dataset("photo2mosaic", tmp_path, size=16, n_train=1, n_test=1, seed=0)

    with pytest.raises(DataError, match="the images are 16 px but would be resized to 32 px"):
        target_projections(tmp_path, size=32)


def test_photo2mosaic_has_block_mean_projection(tmp_path):
    build_dataset("photo2mosaic", tmp_path, size=16, n_train=1, n_test=1, seed=0)

    assert list(target_projections(tmp_path)) == ["block mean"]
    assert list(target_projections(tmp_path, size=16)) == ["block mean"]


@pytest.mark.parametrize("block", [4, 8])
def test_mosaic_projection_uses_recorded_block(tmp_path, block):
    build_dataset("photo2mosaic", tmp_path, size=16, n_train=1, n_test=1, seed=0, block=block)
    images = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16) / 1536 - 1

    projected = target_projections(tmp_path)["block mean"](images)

    expected = images.reshape(2, 3, 16 // block, block, 16 // block, block).mean(dim=(3, 5))
    expected = expected.repeat_interleave(block, dim=2).repeat_interleave(block, dim=3)
    assert torch.allclose(projected, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("description", "size", "message"),
    [
        ({"size": 16}, None, 'no block side; add "block": N'),
        ({"size": 16, "block": 0}, None, "block 0 is not an integer of at least 2"),
        ({"size": 16, "block": 1}, None, "block 1 is not an integer of at least 2"),
        ({"size": 16, "block": "8"}, None, "block '8' is not an integer of at least 2"),
        ({"size": 16, "block": True}, None, "block True is not an integer of at least 2"),
        ({"size": 16, "block": 2.5}, None, "block 2.5 is not an integer of at least 2"),
        ({"size": 32, "block": 3}, None, "block 3 does not divide the image size 32"),
        ({"size": 32, "block": 64}, 32, "block 64 does not divide the image size 32"),
        ({"block": 3}, 16, "block 3 does not divide the image size 16"),
    ],
)
def test_mosaic_projection_rejects_block(tmp_path, description, size, message):
    (tmp_path / "dataset.json").write_text(json.dumps({"kind": "photo2mosaic", **description}))

    with pytest.raises(DataError) as raised:
        target_projections(tmp_path, size=size)

    assert str(tmp_path / "dataset.json") in str(raised.value)
    assert f"({message}); fix or delete it" in str(raised.value)


def test_description_rejects_deep_nesting(tmp_path):
    (tmp_path / "dataset.json").write_text('{"kind": "photo2mosaic", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")

    with pytest.raises(DataError, match="nested too deeply"):
        target_projections(tmp_path)


def test_projections_ignore_boolean_size(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"kind": "photo2gray", "size": True}))

    assert list(target_projections(tmp_path, size=16)) == ["gray projection"]
