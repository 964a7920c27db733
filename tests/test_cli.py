"""Command-line behaviour: outputs of a tiny end-to-end run and one-line errors for bad input."""

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cyclegan.cli import main as cyclegan_cli
from stegdetect.cli import main as stegdetect_cli

TINY_TRAIN = ["--size", "16", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--n-layers-d", "2",
              "--steps", "3", "--sample-every", "3", "--checkpoint-every", "3", "--threads", "1", "--quiet"]


def invoke(cli, args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_clean_error(result, *fragments):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert message.startswith("Error:")
    assert len(message.splitlines()) == 1
    for fragment in fragments:
        assert str(fragment) in message


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Data set, a 3-step training run and its checkpoint, built once through the CLI."""
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    result = invoke(cyclegan_cli, ["data", "photo2map", data, "--size", "16", "--n-train", "6", "--n-test", "3"])
    assert result.exit_code == 0, result.output
    run = root / "run"
    result = invoke(cyclegan_cli, ["train", data, "--out", run, *TINY_TRAIN])
    assert result.exit_code == 0, result.output
    return {"root": root, "data": data, "run": run, "checkpoint": run / "checkpoints" / "latest.pt"}


def test_train_writes_run_folder(tiny_run):
    run = tiny_run["run"]
    assert (run / "config.json").is_file()
    assert json.loads((run / "config.json").read_text())["size"] == 16
    rows = (run / "losses.csv").read_text().splitlines()
    assert rows[0].startswith("step,seconds,lr,D_A")
    assert rows[-1].startswith("3,")
    assert (run / "samples" / "step_0000003.png").is_file()
    assert tiny_run["checkpoint"].is_file()


def test_translate_then_reveal(tiny_run):
    out = tiny_run["root"] / "translated"
    result = invoke(cyclegan_cli, ["translate", "--checkpoint", tiny_run["checkpoint"],
                                   "--images", tiny_run["data"] / "testA", "--out", out])
    assert result.exit_code == 0, result.output
    translated = sorted(out.glob("*.png"))
    assert len(translated) == 3
    assert cv2.imread(str(translated[0])).shape == (16, 16, 3)

    figures = tiny_run["root"] / "reveal"
    result = invoke(stegdetect_cli, ["reveal", translated[0], "--out", figures, "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert 0.0 <= stats["high_frequency_share"] <= 1.0
    assert (figures / f"{translated[0].stem}_reveal.png").is_file()


def test_sensitivity_json_both_directions(tiny_run):
    out = tiny_run["root"] / "sensitivity"
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"],
                                     "--images", tiny_run["data"], "--out", out, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "sensitivity.json").read_text())
    assert json.loads(result.output) == payload
    assert set(payload["directions"]) == {"AB", "BA"}
    for direction in payload["directions"].values():
        assert direction["noise_levels"][0] == 0.001
        assert direction["noise_levels"][-1] == 0.1
        assert len(direction["noise_psnr"]) == len(direction["noise_levels"])
        assert isinstance(direction["hidden_information_detected"], bool)
        assert direction["n_images"] == 3
        assert [c["name"] for c in direction["localized"]] == ["gaussian, saturated values", "gaussian, unsaturated values"]
        assert 0 <= direction["saturated_share"] <= 1
        assert direction["saturation"] == 0.95
    assert (out / "sensitivity.png").is_file()


def test_sensitivity_plain_folder_single_direction(tiny_run):
    out = tiny_run["root"] / "sensitivity_ba"
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"],
                                     "--images", tiny_run["data"] / "testB", "--direction", "BA",
                                     "--noise", "0.01,0.1", "--out", out])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "sensitivity.json").read_text())
    assert list(payload["directions"]) == ["BA"]
    assert payload["directions"]["BA"]["noise_levels"] == [0.01, 0.1]
    assert "noise std 0.01 on the " in result.output
    assert "of translation values at |y| >= 0.95 only: " in result.output


def test_resume_continues_to_new_total(tiny_run, tmp_path):
    run = tmp_path / "run"
    assert invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", run, *TINY_TRAIN]).exit_code == 0
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", run, "--resume", "--steps", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert state["step"] == 5


def test_train_existing_run_needs_resume(tiny_run):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tiny_run["run"], *TINY_TRAIN])
    assert_clean_error(result, tiny_run["run"], "--resume")


def test_train_missing_trainB(tmp_path):
    (tmp_path / "trainA").mkdir()
    result = invoke(cyclegan_cli, ["train", tmp_path, "--out", tmp_path / "run"])
    assert_clean_error(result, tmp_path, "trainB")


def test_train_missing_dataroot(tmp_path):
    result = invoke(cyclegan_cli, ["train", tmp_path / "nowhere", "--out", tmp_path / "run"])
    assert_clean_error(result, tmp_path / "nowhere", "not found")


def test_train_size_too_small_for_discriminator(tiny_run, tmp_path):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tmp_path / "run", "--size", "16", "--n-layers-d", "3"])
    assert_clean_error(result, "size 16", "n_layers_d 3")


def test_reveal_missing_file(tmp_path):
    result = invoke(stegdetect_cli, ["reveal", tmp_path / "missing.png"])
    assert_clean_error(result, tmp_path / "missing.png", "not found")


def test_reveal_not_an_image(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    result = invoke(stegdetect_cli, ["reveal", fake])
    assert_clean_error(result, fake, "not a readable image")


def test_reveal_empty_folder(tmp_path):
    result = invoke(stegdetect_cli, ["reveal", tmp_path])
    assert_clean_error(result, tmp_path, "no images")


def test_reveal_image_too_small(tmp_path):
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((4, 4, 3), np.uint8))
    result = invoke(stegdetect_cli, ["reveal", tiny, "--out", tmp_path / "out"])
    assert_clean_error(result, tiny)


def test_sensitivity_foreign_checkpoint(tiny_run, tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", foreign, "--images", tiny_run["data"]])
    assert_clean_error(result, foreign, "not a cyclegan checkpoint")


def test_sensitivity_text_file_checkpoint(tiny_run, tmp_path):
    text = tmp_path / "model.pt"
    text.write_text("hello")
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", text, "--images", tiny_run["data"]])
    assert_clean_error(result, text)


def test_sensitivity_images_folder_missing(tiny_run, tmp_path):
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", tmp_path / "nope"])
    assert_clean_error(result, tmp_path / "nope", "not found")


def test_sensitivity_images_folder_empty(tiny_run, tmp_path):
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", tmp_path])
    assert_clean_error(result, tmp_path, "no images")


def test_sensitivity_bad_noise_list(tiny_run):
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", tiny_run["data"], "--noise", "0.1,abc"])
    assert_clean_error(result, "--noise")


def test_data_refuses_nonempty_folder(tiny_run):
    result = invoke(cyclegan_cli, ["data", "photo2gray", tiny_run["data"]])
    assert_clean_error(result, tiny_run["data"], "not empty")


def test_data_photo2mosaic_writes_layout(tmp_path):
    result = invoke(cyclegan_cli, ["data", "photo2mosaic", tmp_path / "mosaic", "--size", "16", "--n-train", "2", "--n-test", "1"])

    assert result.exit_code == 0, result.output
    for folder, count in (("trainA", 2), ("trainB", 2), ("testA", 1), ("testB", 1), ("testA_truth", 1)):
        assert len(list((tmp_path / "mosaic" / folder).glob("*.png"))) == count, folder


def test_data_photo2mosaic_rejects_size(tmp_path):
    result = invoke(cyclegan_cli, ["data", "photo2mosaic", tmp_path / "mosaic", "--size", "18", "--block", "4"])

    assert_clean_error(result, "--size 18 must be a multiple of --block 4")


def test_data_photo2mosaic_rejects_block(tmp_path):
    result = invoke(cyclegan_cli, ["data", "photo2mosaic", tmp_path / "mosaic", "--size", "16", "--block", "1"])

    assert_clean_error(result, "--block 1 must be an integer between 2 and --size 16")


def test_reveal_same_stem_keeps_both(tiny_run, tmp_path):
    first = tiny_run["data"] / "testA" / "00000.png"
    second = tiny_run["data"] / "testB" / "00000.png"
    result = invoke(stegdetect_cli, ["reveal", first, second, "--out", tmp_path])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "testA_00000_reveal.png").is_file()
    assert (tmp_path / "testB_00000_reveal.png").is_file()


def test_train_zero_steps_rejected(tiny_run, tmp_path):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tmp_path / "run", "--steps", "0"])
    assert_clean_error(result, "steps")


def test_resume_below_reached_step(tiny_run):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tiny_run["run"], "--resume", "--steps", "1"])
    assert_clean_error(result, "--steps 1", "already reached")


def test_export_refuses_existing_target(tiny_run, tmp_path):
    target = tmp_path / "slim.pt"
    assert invoke(cyclegan_cli, ["export", tiny_run["checkpoint"], target]).exit_code == 0
    result = invoke(cyclegan_cli, ["export", tiny_run["checkpoint"], target])
    assert_clean_error(result, target, "--force")
    assert invoke(cyclegan_cli, ["export", tiny_run["checkpoint"], target, "--force"]).exit_code == 0


def test_export_refuses_own_source(tiny_run):
    result = invoke(cyclegan_cli, ["export", tiny_run["checkpoint"], tiny_run["checkpoint"], "--force"])
    assert_clean_error(result, "own source")
    assert torch.load(tiny_run["checkpoint"], weights_only=True)["D_A"]


def test_translate_refuses_overwriting_inputs(tiny_run):
    folder = tiny_run["data"] / "testA"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = invoke(cyclegan_cli, ["translate", "--checkpoint", tiny_run["checkpoint"], "--images", folder, "--out", folder])
    assert_clean_error(result, "--out must differ")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_translate_unreadable_image_mid_folder(tiny_run, tmp_path):
    import shutil

    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(tiny_run["data"] / "testA" / "00000.png", images / "a.png")
    (images / "b.png").write_text("not an image")

    result = invoke(cyclegan_cli, ["translate", "--checkpoint", tiny_run["checkpoint"], "--images", images, "--out", tmp_path / "out"])

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error:"), result.output
    assert "b.png" in last


def test_translate_warns_about_resized_images(tiny_run, tmp_path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    photo = cv2.imread(str(tiny_run["data"] / "testA" / "00000.png"))
    cv2.imwrite(str(images / "a.png"), photo)
    cv2.imwrite(str(images / "b.png"), cv2.resize(photo, (24, 20)))

    with caplog.at_level("WARNING", logger="cyclegan.data"):
        result = invoke(cyclegan_cli, ["translate", "--checkpoint", tiny_run["checkpoint"], "--images", images, "--out", tmp_path / "out"])

    assert result.exit_code == 0, result.output
    assert f"{images}: resized 1 of 2 images to 16 x 16 px" in caplog.text
    assert cv2.imread(str(tmp_path / "out" / "b.png")).shape == (16, 16, 3)


def test_train_saves_state_on_sigterm(tiny_run, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    sizes = TINY_TRAIN[:TINY_TRAIN.index("--steps")]
    args = [*sizes, "--steps", "100000", "--checkpoint-every", "100000", "--log-every", "1", "--threads", "1", "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "cyclegan.cli", "train", str(tiny_run["data"]), "--out", str(run), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        log = run / "losses.csv"
        # Wait for two logged steps, so that the saved state is past step 0.
        while process.poll() is None and time.monotonic() < deadline:
            if log.exists() and len(log.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated; state saved" in stderr
    assert "Traceback" not in stderr
    assert torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["step"] >= 2


def test_translate_size_not_multiple(tiny_run, tmp_path):
    result = invoke(cyclegan_cli, ["translate", "--checkpoint", tiny_run["checkpoint"],
                                   "--images", tiny_run["data"] / "testA", "--out", tmp_path, "--size", "30"])
    assert_clean_error(result, "--size 30", "multiple of 4")


def test_train_rejects_unreadable_image(tiny_run, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_run["data"], data)
    (data / "trainA" / "zz.png").write_text("not an image")
    result = invoke(cyclegan_cli, ["train", data, "--out", tmp_path / "run", *TINY_TRAIN])
    assert_clean_error(result, "zz.png", "not a readable image")


def test_train_residual_flag_reaches_config(tiny_run, tmp_path):
    run = tmp_path / "run"

    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", run, *TINY_TRAIN, "--residual-g"])

    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["residual_g"] is True
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", run, "--resume", "--residual-g", "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["residual_g"] is True


def test_resume_rejects_changed_options(tiny_run):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tiny_run["run"], "--resume", "--cycle-noise", "0.1"])
    assert_clean_error(result, "--cycle-noise 0.1 (saved: 0.0)", "cannot change when resuming")


def test_resume_rejects_no_flip(tiny_run):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tiny_run["run"], "--resume", "--no-flip"])
    assert_clean_error(result, "--no-flip (saved: flips)", "cannot change when resuming")


def test_resume_accepts_repeated_command(tiny_run, tmp_path):
    run = tmp_path / "run"
    assert invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", run, *TINY_TRAIN]).exit_code == 0
    repeated = [*TINY_TRAIN[:TINY_TRAIN.index("--steps")], "--steps", "5", *TINY_TRAIN[TINY_TRAIN.index("--steps") + 2:]]

    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", run, "--resume", *repeated, "--threads", "2"])

    assert result.exit_code == 0, result.output
    assert torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["step"] == 5
    config = json.loads((run / "config.json").read_text())
    assert config["threads"] == 2
    assert config["size"] == 16


def test_resume_with_moved_data(tiny_run, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_run["data"], data)
    run = tmp_path / "run"
    assert invoke(cyclegan_cli, ["train", data, "--out", run, *TINY_TRAIN]).exit_code == 0
    moved = tmp_path / "moved"
    data.rename(moved)
    result = invoke(cyclegan_cli, ["train", moved, "--out", run, "--resume", "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["dataroot"] == str(moved.resolve())


def test_train_bad_device(tiny_run, tmp_path):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tmp_path / "run", "--device", "bogus"])
    assert_clean_error(result, "--device 'bogus'")


def test_train_nan_cycle_noise(tiny_run, tmp_path):
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", tmp_path / "run", "--cycle-noise", "nan"])
    assert_clean_error(result, "cycle_noise", "finite")


def test_train_out_under_a_file(tiny_run, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = invoke(cyclegan_cli, ["train", tiny_run["data"], "--out", blocker / "run", *TINY_TRAIN])
    assert_clean_error(result, "afile")


def test_sensitivity_limit_zero(tiny_run):
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", tiny_run["data"], "--limit", "0"])
    assert result.exit_code == 2
    assert "--limit" in result.output


@pytest.mark.parametrize("levels", ["nan", "1e38", "1e-320", "0.01,3"])
def test_sensitivity_noise_out_of_range(tiny_run, levels):
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", tiny_run["data"], "--noise", levels])
    assert_clean_error(result, "--noise", "between 1e-06 and 2")


def test_sensitivity_adds_probe_level(tiny_run):
    out = tiny_run["root"] / "sensitivity_probe"
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", tiny_run["data"],
                                     "--direction", "AB", "--noise", "0.1", "--out", out])

    assert result.exit_code == 0, result.output
    payload = json.loads((out / "sensitivity.json").read_text())
    assert payload["directions"]["AB"]["noise_levels"] == [0.01, 0.1]
    assert any("at std 0.01" in reason for reason in payload["directions"]["AB"]["reasons"])


def test_sensitivity_out_is_images_folder(tiny_run, tmp_path):
    import shutil

    images = tmp_path / "images"
    shutil.copytree(tiny_run["data"] / "testA", images)
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", images, "--out", images])
    assert_clean_error(result, "--out is the folder of test images")
    assert not (images / "sensitivity.png").exists()


def test_sensitivity_device_auto(tiny_run):
    out = tiny_run["root"] / "sensitivity_auto"
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", tiny_run["data"],
                                     "--noise", "0.01", "--device", "auto", "--out", out])
    assert result.exit_code == 0, result.output


def test_sensitivity_malformed_dataset_json(tiny_run, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_run["data"], data)
    (data / "dataset.json").write_text('{"kind": "photo2map", "palette": [[1, 2], [3]]}')
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", data])
    assert_clean_error(result, "dataset.json", "invalid data set description")


@pytest.mark.parametrize("content", ["[1, 2]", '{"kind": 5}', "{not json", b"\xff\xfe\x00"])
def test_sensitivity_unreadable_dataset_json(tiny_run, tmp_path, content):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_run["data"], data)
    path = data / "dataset.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", tiny_run["checkpoint"], "--images", data])
    assert_clean_error(result, "dataset.json", "invalid data set description")


def test_sensitivity_oversized_config_rejected(tiny_run, tmp_path):
    state = torch.load(tiny_run["checkpoint"], weights_only=True)
    state["config"]["ngf"] = 20000
    bomb = tmp_path / "bomb.pt"
    torch.save(state, bomb)
    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", bomb, "--images", tiny_run["data"]])
    assert_clean_error(result, bomb, "ngf 20000")


def test_sensitivity_help_matches_thresholds():
    """The help writes the verdict's thresholds out, so it must follow the constants."""
    from stegdetect.sensitivity import MIN_GAIN, MIN_INFORMATION_DB, MIN_PSNR_DROP_DB, PROBE_NOISE, SATURATION

    result = invoke(stegdetect_cli, ["sensitivity", "--help"])
    text = " ".join(result.output.split())

    assert result.exit_code == 0
    assert f"At noise std {PROBE_NOISE:g} the verdict requires a gain of at least {MIN_GAIN:g}" in text
    assert f"a PSNR drop of at least {MIN_PSNR_DROP_DB:g} dB" in text
    assert f"by at least {MIN_INFORMATION_DB:g} dB" in text
    assert f"The noise of std {PROBE_NOISE:g} is also applied" in text
    assert f"(magnitude {SATURATION:g} or more" in text


def test_sensitivity_diverged_checkpoint(tiny_run, tmp_path):
    state = torch.load(tiny_run["checkpoint"], weights_only=True)
    # Finite but huge weights pass the load checks and overflow in the forward pass.
    state["G_AB"] = {key: value * 1e30 if value.is_floating_point() else value for key, value in state["G_AB"].items()}
    diverged = tmp_path / "diverged.pt"
    torch.save(state, diverged)

    result = invoke(stegdetect_cli, ["sensitivity", "--checkpoint", diverged, "--images", tiny_run["data"],
                                     "--direction", "AB", "--out", tmp_path / "out"])

    assert result.exit_code == 1
    assert f"{diverged}: the AB cycle's translation contains NaN or infinite values" in result.output
    assert "Traceback" not in result.output
