"""The screening diagnostics in examples/screen_diagnostics.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cyclegan.checkpoint import CheckpointError, export_generators, save_checkpoint
from cyclegan.config import TrainConfig
from cyclegan.data import load_folder
from conftest import save_new_checkpoint
from stegdetect.sensitivity import psnr

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def diagnostics():
    # The script imports its sibling screen_eval, as it does when run from the examples folder.
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location("screen_diagnostics", EXAMPLES / "screen_diagnostics.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


class ChromaBoost(nn.Module):
    """Add twice the deviation of each channel from the mean of the channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 2 * (x - x.mean(dim=1, keepdim=True))


@pytest.fixture
def photos() -> torch.Tensor:
    return torch.rand((6, 3, 32, 32), generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_noise_kinds_have_requested_rms(diagnostics):
    generator = torch.Generator().manual_seed(1)
    for kind in diagnostics.NOISE_KINDS:
        noise = diagnostics.make_noise(torch.Size((4, 3, 32, 32)), kind, generator)

        assert float(noise.pow(2).mean().sqrt()) == pytest.approx(diagnostics.NOISE_STD, rel=1e-5)
        if kind.startswith("chroma"):
            assert float(noise.mean(dim=1).abs().max()) < 1e-8


def test_low_noise_is_smooth(diagnostics):
    generator = torch.Generator().manual_seed(2)
    white = diagnostics.make_noise(torch.Size((4, 3, 32, 32)), "white", generator)
    low = diagnostics.make_noise(torch.Size((4, 3, 32, 32)), "low", generator)

    # Neighbouring pixels of white noise are uncorrelated, and after a blur of sigma 3 px they nearly agree.
    def neighbour_correlation(noise: torch.Tensor) -> float:
        return float(np.corrcoef(noise[..., :-1].flatten(), noise[..., 1:].flatten())[0, 1])

    assert abs(neighbour_correlation(white)) < 0.05
    assert neighbour_correlation(low) > 0.9


def test_uniform_gain_for_scaled_decoder(diagnostics, photos):
    gains = diagnostics.subspace_gains(nn.Identity(), Scale(3.0), photos)

    expected_chroma = (photos - photos.mean(dim=1, keepdim=True)).abs().mean()
    assert gains["chroma"] == pytest.approx(float(expected_chroma))
    for kind in diagnostics.NOISE_KINDS:
        assert gains[kind] == pytest.approx(3.0, rel=1e-4)


def test_chroma_decoder_gains(diagnostics, photos):
    gains = diagnostics.subspace_gains(nn.Identity(), ChromaBoost(), photos)

    # Colour-only noise is tripled. White noise keeps its channel mean (a third of its energy in
    # expectation) and triples the rest, so its gain is sqrt(1/3 + 9 * 2/3).
    assert gains["chroma-white"] == pytest.approx(3.0, rel=1e-4)
    assert gains["chroma-low"] == pytest.approx(3.0, rel=1e-4)
    assert gains["white"] == pytest.approx(np.sqrt(1 / 3 + 6), rel=0.02)
    assert gains["low"] < 3.0


@pytest.fixture
def mosaic_data(tmp_path) -> Path:
    data = tmp_path / "data"
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "screen_renderings.py"), "mosaic", str(data), "--size", "16",
         "--n-train", "2", "--n-test", "3"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return data


def test_balance_on_identity_pair(diagnostics, mosaic_data, tmp_path):
    config = TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=1, residual_g=True)
    save_new_checkpoint(tmp_path / "identity.pt", config, step=0)

    values = diagnostics.loss_balance(tmp_path / "identity.pt", mosaic_data)

    # An untrained residual generator returns the photo (up to the clamp at 0.999), so the
    # discriminator scores the translation as it scores the photo.
    assert values["D_B(translation)"] == pytest.approx(values["D_B(photo)"], abs=1e-3)
    assert -1 <= values["adversarial cosine to domain"] <= 1
    assert -1 <= values["cycle cosine to domain"] <= 1
    assert values["adversarial gradient norm"] > 0


class ChromaCritic(nn.Module):
    """Score images by minus their mean chroma, so that a gray image scores highest."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(x - x.mean(dim=1, keepdim=True)).abs().mean(dim=(1, 2, 3))


def test_balance_adversarial_step_points_to_gray(diagnostics, photos):
    def channel_mean(images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=1, keepdim=True).expand_as(images)

    values = diagnostics.gradient_balance(
        nn.Identity(), Scale(0.5), ChromaCritic(), photos, photos, channel_mean, lambda_gan=1.0, lambda_cycle=10.0
    )

    # Descending (D - 1)^2 with D = -chroma lowers the chroma: each pixel moves towards its channel
    # mean, so the step agrees with the projection onto gray in sign everywhere.
    assert values["adversarial cosine to domain"] > 0.5
    # The reconstruction 0.5 x is too weak, so the cycle term moves every value of the translation
    # away from 0 (the sign of x). That step enlarges the chroma too, so it points away from gray.
    assert values["cycle cosine to domain"] < -0.3
    assert values["D_B(projected translation)"] == pytest.approx(0.0, abs=1e-6)
    assert values["D_B(translation)"] < -0.1


def test_balance_rejects_generators_only_file(mosaic_data, tmp_path):
    config = TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=1)
    save_new_checkpoint(tmp_path / "full.pt", config, step=0)
    export_generators(tmp_path / "full.pt", tmp_path / "generators.pt")

    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "screen_diagnostics.py"), "balance", str(tmp_path / "generators.pt"),
         "--data", str(mosaic_data)],
        capture_output=True, text=True, timeout=300,
    )

    assert completed.returncode != 0
    assert "has no discriminator D_B" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_floors_from_known_errors(diagnostics):
    generator = torch.Generator().manual_seed(3)
    truth = torch.rand((4, 3, 16, 16), generator=generator) - 0.5
    tint = torch.tensor([0.2, -0.1, 0.05]).view(1, 3, 1, 1)
    detail = 0.02 * torch.randn((4, 3, 16, 16), generator=generator)
    detail = detail - detail.mean(dim=(2, 3), keepdim=True)
    photos = truth + tint + detail

    floors = diagnostics.reconstruction_floors(photos, truth)

    # With the tint restored, only the zero-mean detail is left.
    without_tint = 10 * np.log10(4 / (tint + detail).pow(2).flatten(1).mean(1).numpy())
    with_tint = 10 * np.log10(4 / detail.pow(2).flatten(1).mean(1).numpy())
    assert floors["truth"] == pytest.approx(without_tint.mean(), rel=1e-5)
    assert floors["truth + tint"] == pytest.approx(with_tint.mean(), rel=1e-5)


def test_floor_rejects_checkpoint_argument(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "screen_diagnostics.py"), "floor", str(tmp_path / "x.pt"), "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )

    assert completed.returncode == 2
    assert "floor takes no checkpoint" in completed.stderr


def test_balance_rejects_diverged_discriminator(diagnostics, mosaic_data, tmp_path):
    config = TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=1)
    nets = save_new_checkpoint(tmp_path / "full.pt", config, step=0)
    state = {name: net.state_dict() for name, net in nets.items()}
    first_key = next(iter(state["D_B"]))
    state["D_B"][first_key].view(-1)[0] = float("nan")
    save_checkpoint(tmp_path / "diverged.pt", {**state, "config": config.to_dict(), "step": 0})

    with pytest.raises(CheckpointError, match="D_B has NaN or infinite weights"):
        diagnostics.loss_balance(tmp_path / "diverged.pt", mosaic_data)


def test_memorization_matches_direct_scores(diagnostics, mosaic_data, tmp_path):
    config = TrainConfig(size=16, ngf=4, ndf=4, n_blocks=1, n_layers_d=2, steps=1)
    nets = save_new_checkpoint(tmp_path / "full.pt", config, step=0)
    for _, net in nets.items():
        net.eval()

    values = diagnostics.memorization(tmp_path / "full.pt", mosaic_data, limit=2)

    def score(discriminator: nn.Module, folder: str, translate: bool = False) -> float:
        images = load_folder(mosaic_data / folder, 16, 2)
        with torch.no_grad():
            return float(discriminator(nets.G_AB(images) if translate else images).mean())

    expected = {}
    for split in ("train", "test"):
        expected[f"D_A({split}A)"] = score(nets.D_A, f"{split}A")
        expected[f"D_B({split}B)"] = score(nets.D_B, f"{split}B")
        expected[f"D_B(G_AB({split}A))"] = score(nets.D_B, f"{split}A", translate=True)
    assert values == pytest.approx(expected, abs=1e-6)
    # The two discriminators start from different random weights, so swapping them would show.
    assert values["D_A(trainA)"] != pytest.approx(score(nets.D_B, "trainA"), abs=1e-4)


def test_pre_tanh_noise_spares_atanh_code(diagnostics, photos):
    """A code squeezed into saturated values is destroyed by pixel noise and kept by pre-tanh noise."""

    def forward_pre_tanh(x):
        return -3 + 0.5 * x

    def backward(y):
        return (torch.atanh(y.clamp(-0.999, 0.999)) + 3) / 0.5

    values = diagnostics.pre_tanh_psnrs(forward_pre_tanh(photos), backward, photos)

    assert values["clean"] > 60
    # atanh divides pixel noise by 1 - y^2 (at most 0.027 here), and the decoder doubles it.
    assert values["pixel"] < 10
    # Pre-tanh noise of std 0.01 comes back as noise of std 0.02: PSNR 10 log10(4 / 0.02^2) = 40 dB.
    assert values["pre-tanh"] == pytest.approx(40.0, abs=0.5)


def test_pre_tanh_noise_near_zero_is_pixel_noise(diagnostics, photos):
    # Around 0 the tanh has slope 1, so both kinds of noise reach the decoder (x 20) alike.
    values = diagnostics.pre_tanh_psnrs(0.05 * photos, Scale(20.0), photos)

    assert values["pixel"] == pytest.approx(10 * np.log10(4 / 0.2**2), abs=0.3)
    assert values["pre-tanh"] == pytest.approx(values["pixel"], abs=0.1)


@pytest.mark.parametrize("input_skip", [False, True])
def test_decode_paths_same_input_is_forward(diagnostics, photos, input_skip):
    from cyclegan.models import ResnetGenerator

    torch.manual_seed(0)
    # Without init_weights the last convolution is not zero, so both paths shape the output.
    backward = ResnetGenerator(ngf=4, n_blocks=1, n_downsampling=1, input_skip=input_skip, residual=True).eval()
    translated = 0.9 * photos

    with torch.no_grad():
        decoded = diagnostics.decode_paths(backward, translated, translated)
        expected = backward(translated)
        changed = diagnostics.decode_paths(backward, translated, translated + 0.01)

    assert torch.allclose(decoded, expected, atol=1e-6)
    assert not torch.allclose(changed, expected, atol=1e-4)


def test_skip_paths_of_a_fresh_residual_generator(diagnostics, photos):
    """An initialized residual generator's last convolution is zero, so it passes its skip input through."""
    from cyclegan.models import RESIDUAL_CLAMP, ResnetGenerator, init_weights

    torch.manual_seed(0)
    backward = init_weights(ResnetGenerator(ngf=4, n_blocks=1, n_downsampling=1, residual=True)).eval()
    translated = 0.5 * photos

    values = diagnostics.skip_path_psnrs(translated, backward, photos)

    noise = diagnostics.NOISE_STD * torch.randn(photos.shape, generator=torch.Generator().manual_seed(0))
    clean = psnr(photos, translated).mean()
    noisy = psnr(photos, (translated + noise).clamp(-RESIDUAL_CLAMP, RESIDUAL_CLAMP)).mean()
    assert values["convolutions only"] == pytest.approx(float(clean), abs=1e-3)
    assert values["skip only"] == pytest.approx(float(noisy), abs=1e-3)
    assert values["skip only"] < values["convolutions only"]


def test_skip_paths_need_a_residual_generator(diagnostics, photos):
    from cyclegan.models import ResnetGenerator

    plain = ResnetGenerator(ngf=4, n_blocks=1, n_downsampling=1).eval()
    with pytest.raises(ValueError, match="no atanh skip"):
        diagnostics.skip_path_psnrs(photos, plain, photos)
