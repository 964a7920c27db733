"""Saving and loading training checkpoints.

A checkpoint is a plain dict of state dicts, the step and the config, written with ``torch.save``.
Loading uses ``torch.load(weights_only=True)``, whose restricted unpickler accepts only tensors,
containers and primitive values, so an untrusted file cannot run code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .models import ResnetGenerator

FORMAT = "cyclegan-stegdetect-checkpoint"
VERSION = 1
NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint of this project; the message names the file."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically.

    The data goes to a temporary file in the same folder, is flushed to disk, and then replaces
    ``path`` in one rename, so an interrupted save leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file readable by its owner only; give it the usual umask permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, without unpickling arbitrary objects.

    Raises
    ------
    CheckpointError
        If the file is missing, is not a torch file, contains objects other than tensors and plain
        containers, or lacks this project's format marker, config, step or generators. A
        generators-only file (see :func:`export_generators`) loads; resuming training from it is
        rejected by the trainer.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; expected a checkpoint file such as checkpoints/latest.pt")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files (KeyError for text)
        # torch's own message may advise weights_only=False, which is the unsafe path, so only the
        # exception type is shown.
        raise CheckpointError(
            f"{path}: not a cyclegan checkpoint or rejected as unsafe ({type(exc).__name__}); expected "
            "a .pt file written by 'cyclegan train' or 'cyclegan export'"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a cyclegan checkpoint (format marker {FORMAT!r} missing)")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {state.get('version')!r} is not supported; expected {VERSION}"
        )
    missing = [key for key in ("config", "step", "G_AB", "G_BA") if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if not isinstance(state["step"], int) or isinstance(state["step"], bool) or state["step"] < 0:
        raise CheckpointError(f"{path}: invalid step {state['step']!r} in checkpoint")
    try:
        if not isinstance(state["config"], dict):
            raise ValueError("config is not a dict")
        state["config"] = TrainConfig.from_dict(state["config"])
        state["config"].validate()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid config in checkpoint ({exc})") from exc
    return state


def first_problem(exc: Exception, max_chars: int = 200) -> str:
    """Return the first specific line of a state-dict loading error, cut to ``max_chars``.

    torch's message starts with a header ("Error(s) in loading state_dict for ...:") and lists the
    missing, unexpected or wrong-shaped keys on the lines after it.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[0]
    if len(lines) > 1 and line.startswith("Error(s) in loading state_dict"):
        line = lines[1]
    # A "Missing key(s)" line lists every key, so it is cut to stay a one-line message.
    return line if len(line) <= max_chars else line[: max_chars - 3] + "..."


def check_finite(net: torch.nn.Module, path: str | Path, name: str) -> None:
    """Raise ``CheckpointError`` if network ``name`` loaded from ``path`` has NaN or infinite weights."""
    if not all(torch.isfinite(tensor).all() for tensor in net.state_dict().values() if tensor.is_floating_point()):
        raise CheckpointError(f"{path}: {name} has NaN or infinite weights (the run diverged); use an earlier checkpoint")


def build_generator(config: TrainConfig) -> ResnetGenerator:
    """Build an untrained generator with the architecture described by ``config``."""
    return ResnetGenerator(
        ngf=config.ngf, n_blocks=config.n_blocks, norm=config.norm_g,
        n_downsampling=config.n_downsampling, input_skip=config.input_skip,
        residual=config.residual_g,
    )


def load_generators(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[ResnetGenerator, ResnetGenerator, TrainConfig, int]:
    """Load both generators of a checkpoint in evaluation mode.

    Returns
    -------
    G_AB, G_BA : ResnetGenerator
        The A-to-B and B-to-A generators.
    config : TrainConfig
        The training config saved with them.
    step : int
        Training step at which the checkpoint was written.
    """
    # Loading on the CPU first keeps errors about the device apart from errors about the file.
    state = load_checkpoint(path)
    config = state["config"]
    generators = []
    for key in ("G_AB", "G_BA"):
        net = build_generator(config)
        try:
            net.load_state_dict(state[key])
        except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{path}: {key} weights do not match the saved config ({first_problem(exc)})") from exc
        check_finite(net, path, key)
        generators.append(net.to(device).eval())
    return generators[0], generators[1], config, int(state["step"])


def export_generators(source: str | Path, target: str | Path) -> Path:
    """Write a small checkpoint with only the two generators, the config and the step of ``source``.

    Such a file is about a third of a full checkpoint (no discriminators, optimizer moments or image
    pools) and is enough for translation and for ``stegdetect sensitivity``.
    """
    source, target = Path(source), Path(target)
    if target.exists() and target.resolve() == source.resolve():
        raise CheckpointError(f"{target}: the export must not replace its own source checkpoint")
    state = load_checkpoint(source)
    slim = {
        "config": state["config"].to_dict(),
        "step": int(state["step"]),
        "G_AB": state["G_AB"],
        "G_BA": state["G_BA"],
    }
    save_checkpoint(target, slim)
    return Path(target)


def check_size(size: int, config: TrainConfig) -> int:
    """Return ``size`` if the generators of ``config`` accept images of that side, else raise ``ValueError``."""
    factor = 2**config.n_downsampling
    if size < factor * 2 or size % factor:
        raise ValueError(
            f"--size {size} does not fit the generators: use a multiple of {factor} of at least {2 * factor}"
        )
    return size
