"""The demo script, end to end. Marked slow: each test takes about a minute on 2 cores."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "examples" / "pretrained"

pytestmark = pytest.mark.slow


def run_demo(out: Path, *args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(out), *args],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "report:" in completed.stdout
    return json.loads((out / "summary.json").read_text())


def test_demo_training_writes_report(tmp_path):
    summary = run_demo(tmp_path / "demo", "--steps", "20", "--n-train", "20", "--seed", "3")

    assert summary["retrained"] is True
    assert summary["training_seed"] == 3
    assert summary["n_train"] == 20
    assert set(summary["models"]) == {"undefended", "defended"}
    assert summary["models"]["defended"]["cycle_noise"] == 0.1
    for model in summary["models"].values():
        assert set(model["directions"]) == {"AB", "BA"}
        assert isinstance(model["hidden_information_detected"], bool)
        assert len(model["reveal"]) == 3
    report = (tmp_path / "demo" / "summary.md").read_text()
    assert report.startswith("# stegdetect demo")
    assert "| 0.01 on saturated | 0.01 on others |" in report
    assert (tmp_path / "demo" / "comparison.png").is_file()
    assert (tmp_path / "demo" / "runs" / "defended" / "config.json").is_file()
    config = json.loads((tmp_path / "demo" / "runs" / "defended" / "config.json").read_text())
    assert config["cycle_noise"] == 0.1
    assert config["steps"] == 20
    assert config["seed"] == 3
    assert config["gan_mode"] == "vanilla"
    assert config["lambda_cycle"] == 30
    assert len(list((tmp_path / "demo" / "data" / "trainA").glob("*.png"))) == 20
    assert json.loads((tmp_path / "demo" / "data" / "dataset.json").read_text())["block"] == 8


@pytest.mark.skipif(not (PRETRAINED / "measured.json").is_file(), reason="no shipped weights")
def test_demo_pretrained_reproduces_record(tmp_path):
    """The shipped weights give the verdicts and PSNRs recorded beside them in measured.json."""
    record = json.loads((PRETRAINED / "measured.json").read_text())
    summary = run_demo(tmp_path / "demo", "--pretrained")

    assert summary["retrained"] is False
    # Only the test split is used, so one training crop per domain is built.
    assert summary["n_train"] == 1
    assert len(list((tmp_path / "demo" / "data" / "trainA").glob("*.png"))) == 1
    for name, expected in record["models"].items():
        for direction, values in expected.items():
            result = summary["models"][name]["directions"][direction]
            assert result["verdict"] == values["verdict"]
            assert result["clean"]["psnr"] == pytest.approx(values["clean_psnr"], abs=0.05)
            assert result["noise_psnr"][-1] == pytest.approx(values["noise_0.1_psnr"], abs=0.1)
            assert result["saturated_share"] == pytest.approx(values["saturated_share"], abs=0.005)
            saturated, others = (c["psnr"] for c in result["localized"])
            assert saturated == pytest.approx(values["noise_0.01_saturated_psnr"], abs=0.1)
            assert others == pytest.approx(values["noise_0.01_others_psnr"], abs=0.1)
