"""Argument checks of the demo script, which run before it writes or deletes anything."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_rejected(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), *args], capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--n-train", "0"), "--n-train 0 must be between 1 and 40000"),
        (("--steps", "-1"), "--steps -1 must be at least 1"),
        (("--data-seed", "-1"), "--data-seed -1 must be between 0 and 4294967295"),
        (("--seed", "4294967296"), "--seed 4294967296 must be between 0 and 4294967295"),
        (("--pretrained", "--steps", "5"), "--steps, --seed and --n-train set the training, which --pretrained skips"),
        (("--pretrained", "--n-train", "100"), "--steps, --seed and --n-train set the training, which --pretrained skips"),
    ],
)
def test_demo_rejects_arguments_before_deleting(tmp_path, args, message):
    out = tmp_path / "demo"
    out.mkdir()
    (out / ".stegdetect-demo").write_text("marker\n")
    (out / "summary.md").write_text("earlier results\n")

    completed = run_rejected("--out", str(out), *args)

    assert completed.returncode != 0
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
    assert (out / "summary.md").read_text() == "earlier results\n"


def test_demo_rejects_file_as_out(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep\n")

    completed = run_rejected("--out", str(target))

    assert completed.returncode != 0
    assert "is not a folder" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert target.read_text() == "keep\n"


def test_demo_keeps_foreign_files(tmp_path):
    out = tmp_path / "demo"
    (out / "runs").mkdir(parents=True)
    (out / ".stegdetect-demo").write_text("marker\n")
    (out / "notes.txt").write_text("keep\n")

    completed = run_rejected("--out", str(out), "--pretrained")

    assert completed.returncode != 0
    assert "notes.txt" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert (out / "notes.txt").read_text() == "keep\n"
    assert (out / "runs").is_dir()


def test_summary_markdown_shows_null_as_dash():
    """summary.json stores an infinite PSNR (a perfect reconstruction) as null."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo", ROOT / "examples" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    condition = {"name": "gaussian", "level": 0.01, "psnr": None, "l1": 0.0, "gain": None}
    direction = {
        "clean": {**condition, "name": "clean"}, "rounded_8bit": condition, "noise": [condition], "extra": [],
        "localized": [condition], "saturated_share": 0.5, "mean_image_psnr": None, "verdict": "inconclusive",
    }
    summary = {
        "dataset": "photo2mosaic", "retrained": False, "wall_seconds": 6.0, "peak_rss_mb": 1.0, "data_seed": 0,
        "models": {"undefended": {"cycle_noise": 0.0, "training_steps": 3, "directions": {"AB": direction}}},
    }

    table = [line for line in demo.summary_markdown(summary).splitlines() if line.startswith("| undefended")]

    assert table == ["| undefended | 0.0 | AB | - | - | - | - | - | - | 50.0% | - | - | - | inconclusive |"]
