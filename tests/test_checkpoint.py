"""Tests for saving and safely loading checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cyclegan.checkpoint as checkpoint_module
from cyclegan.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    export_generators,
    load_checkpoint,
    load_generators,
    save_checkpoint,
)
from cyclegan.config import TrainConfig
from cyclegan.train import build_networks
from conftest import save_new_checkpoint


class CustomObject:
    """A class that only a full unpickler can rebuild."""

    def __init__(self, value: int) -> None:
        self.value = value


class MarkerWriter:
    """An object whose unpickling creates the file at ``path``, as a malicious checkpoint would."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.fixture
def config() -> TrainConfig:
    return TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=10, seed=3)


@pytest.fixture
def state(config) -> dict:
    torch.manual_seed(0)
    nets = build_networks(config, torch.device("cpu"))
    state = {name: net.state_dict() for name, net in nets.items()}
    state.update(config=config.to_dict(), step=7, extra=torch.arange(5))
    return state


def written_checkpoint(path: Path, payload: dict) -> Path:
    torch.save(payload, path)
    return path


# Round trip


def test_save_load_round_trip(tmp_path, state, config):
    path = tmp_path / "ckpt.pt"

    save_checkpoint(path, state)
    loaded = load_checkpoint(path)

    assert loaded["format"] == FORMAT
    assert loaded["version"] == VERSION
    assert loaded["step"] == 7
    assert loaded["config"] == config
    assert isinstance(loaded["config"], TrainConfig)
    assert torch.equal(loaded["extra"], torch.arange(5))
    for name in ("G_AB", "G_BA", "D_A", "D_B"):
        assert loaded[name].keys() == state[name].keys()
        for key, value in state[name].items():
            assert torch.equal(loaded[name][key], value), f"{name}.{key}"


def test_save_creates_parent_folders(tmp_path, state):
    path = tmp_path / "run" / "checkpoints" / "latest.pt"

    save_checkpoint(path, state)

    assert path.is_file()


def test_save_leaves_no_temporary_files(tmp_path, state):
    path = tmp_path / "ckpt.pt"

    save_checkpoint(path, state)
    save_checkpoint(path, state)

    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_save_overwrites_previous(tmp_path, state):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, state)
    state["step"] = 9

    save_checkpoint(path, state)

    assert load_checkpoint(path)["step"] == 9


def test_failed_save_keeps_previous(tmp_path, state, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, state)
    previous = path.read_bytes()

    def partial_save(obj, f):
        f.write(b"PK\x03\x04 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", partial_save)
    state["step"] = 8

    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, state)

    assert path.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_interrupted_first_save_leaves_nothing(tmp_path, state, monkeypatch):
    path = tmp_path / "ckpt.pt"

    def interrupted_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", interrupted_save)

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, state)

    assert list(tmp_path.iterdir()) == []


# Generators


def test_load_generators_match_originals(tmp_path, config):
    path = tmp_path / "ckpt.pt"
    nets = save_new_checkpoint(path, config, step=4)
    x =  torch.rand(2, 3, 16, 16) * 2 - 1

    g_ab, g_ba, loaded_config, step = load_generators(path)

    assert not g_ab.training
    assert not g_ba.training
    assert loaded_config == config
    assert step == 4
    with torch.no_grad():
        assert torch.equal(g_ab(x), nets.G_AB(x))
        assert torch.equal(g_ba(x), nets.G_BA(x))
        assert not torch.equal(g_ab(x), g_ba(x))


def test_load_generators_builds_residual_generators(tmp_path):
    config = TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=10, residual_g=True)
    save_new_checkpoint(tmp_path / "ckpt.pt", config, step=1)
    x = torch.rand(1, 3, 16, 16) * 1.8 - 0.9

    g_ab, _, loaded_config, _ = load_generators(tmp_path / "ckpt.pt")

    assert loaded_config.residual_g
    assert g_ab.residual
    with torch.no_grad():
        # Freshly initialized residual generators are the identity.
        torch.testing.assert_close(g_ab(x), x, atol=1e-6, rtol=0)


def test_load_generators_rejects_mismatched_weights(tmp_path, state):
    # Weights of a generator with 4 filters cannot load into the 8-filter one the config describes.
    state["config"]["ngf"] = 8
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, state)

    with pytest.raises(CheckpointError, match="G_AB weights do not match") as excinfo:
        load_generators(path)

    assert str(path) in str(excinfo.value)
    # The message names the first offending key, not only torch's header line.
    assert "size mismatch for" in str(excinfo.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_load_generators_rejects_non_finite_weights(tmp_path, state, value):
    first_key = next(iter(state["G_BA"]))
    state["G_BA"][first_key] = state["G_BA"][first_key].clone()
    state["G_BA"][first_key].view(-1)[0] = value
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, state)

    with pytest.raises(CheckpointError, match="G_BA has NaN or infinite weights"):
        load_generators(path)


# Files that are not checkpoints


def test_load_missing_file(tmp_path):
    path = tmp_path / "missing.pt"

    with pytest.raises(CheckpointError, match="not found") as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


def test_load_folder_rejected(tmp_path):
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(tmp_path)

    assert str(tmp_path) in str(excinfo.value)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        bytes(range(256)) * 4,
        b"not a checkpoint",
        b"PK\x03\x04 truncated zip",
    ],
    ids=["empty", "binary", "text", "truncated_zip"],
)
def test_load_invalid_bytes(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)

    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize(
    "content",
    [b"hello world\n", b"step,loss\n1,0.5\n"],
    ids=["prose", "csv"],
)
def test_load_text_file(tmp_path, content):
    # The first bytes of these files are pickle opcodes that make torch.load (torch 2.13) raise
    # KeyError or IndexError rather than UnpicklingError.
    path = tmp_path / "notes.txt"
    path.write_bytes(content)

    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


def test_load_plain_dict_without_marker(tmp_path, state):
    path = written_checkpoint(tmp_path / "plain.pt", state)

    with pytest.raises(CheckpointError, match="format marker") as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


def test_load_non_dict_payload(tmp_path):
    path = written_checkpoint(tmp_path / "list.pt", [FORMAT, VERSION])

    with pytest.raises(CheckpointError, match="format marker"):
        load_checkpoint(path)


def test_load_wrong_version(tmp_path, state):
    path = written_checkpoint(tmp_path / "v2.pt", {**state, "format": FORMAT, "version": VERSION + 1})

    with pytest.raises(CheckpointError, match="version 2 is not supported") as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


def test_load_missing_generator(tmp_path, state):
    del state["G_BA"]
    path = written_checkpoint(tmp_path / "partial.pt", {**state, "format": FORMAT, "version": VERSION})

    with pytest.raises(CheckpointError, match="lacks G_BA") as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


def test_load_missing_step(tmp_path, state):
    del state["step"]
    path = written_checkpoint(tmp_path / "partial.pt", {**state, "format": FORMAT, "version": VERSION})

    with pytest.raises(CheckpointError, match="lacks step"):
        load_checkpoint(path)


# Generators-only export


def test_export_keeps_generators_only(tmp_path, state):
    source = tmp_path / "full.pt"
    save_checkpoint(source, state)

    target = export_generators(source, tmp_path / "slim.pt")
    exported = load_checkpoint(target)

    assert target == tmp_path / "slim.pt"
    assert set(exported) == {"format", "version", "config", "step", "G_AB", "G_BA"}
    assert exported["step"] == 7
    assert target.stat().st_size < source.stat().st_size
    for name in ("G_AB", "G_BA"):
        for key, value in state[name].items():
            assert torch.equal(exported[name][key], value), f"{name}.{key}"


def test_export_loads_as_generators(tmp_path, state, config):
    source = tmp_path / "full.pt"
    save_checkpoint(source, state)
    export_generators(source, tmp_path / "slim.pt")
    x = torch.rand(1, 3, 16, 16) * 2 - 1

    full_ab, full_ba, _, _ = load_generators(source)
    slim_ab, slim_ba, slim_config, step = load_generators(tmp_path / "slim.pt")

    assert slim_config == config
    assert step == 7
    with torch.no_grad():
        assert torch.equal(slim_ab(x), full_ab(x))
        assert torch.equal(slim_ba(x), full_ba(x))


@pytest.mark.parametrize(
    "bad_config",
    [
        {"unknown_setting": 1}, None, "size=16", {"residual_g": "yes"}, {"threads": 2.5},
        {"threads": True}, {"beta1": "0.5"}, {"log_every": True}, {"num_workers": 1.5},
    ],
)
def test_load_invalid_config(tmp_path, state, bad_config):
    state["config"] = bad_config
    path = written_checkpoint(tmp_path / "config.pt", {**state, "format": FORMAT, "version": VERSION})

    with pytest.raises(CheckpointError, match="invalid config") as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


# Unsafe pickles


def test_load_rejects_custom_class(tmp_path, state):
    state["extra"] = CustomObject(3)
    path = written_checkpoint(tmp_path / "custom.pt", {**state, "format": FORMAT, "version": VERSION})

    with pytest.raises(CheckpointError, match="rejected as unsafe") as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)


def test_load_does_not_run_pickled_code(tmp_path, state):
    marker = tmp_path / "marker.txt"
    state["extra"] = MarkerWriter(marker)
    path = written_checkpoint(tmp_path / "exploit.pt", {**state, "format": FORMAT, "version": VERSION})
    assert not marker.exists()

    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(path)

    assert str(path) in str(excinfo.value)
    assert not marker.exists()


def test_load_generators_does_not_run_pickled_code(tmp_path, state):
    marker = tmp_path / "marker.txt"
    state["G_AB"] = MarkerWriter(marker)
    path = written_checkpoint(tmp_path / "exploit.pt", {**state, "format": FORMAT, "version": VERSION})

    with pytest.raises(CheckpointError):
        load_generators(path)

    assert not marker.exists()
