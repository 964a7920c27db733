"""Perturbation-sensitivity test for hidden information in a CycleGAN's translations.

A cycle A -> B -> A that reconstructs its input from a translation that has thrown information away
must read that information from somewhere. If it is hidden as a low-amplitude code, invisible
perturbations of the translation (8-bit rounding, weak Gaussian noise) destroy it, and the
reconstruction collapses. A reconstruction that rests on what the translation shows openly degrades
gently. Chu, Zhmoginov and Sandler, "CycleGAN, a Master of Steganography" (2017), describe the effect.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from tqdm import tqdm

Generator = Callable[[torch.Tensor], torch.Tensor]

DEFAULT_NOISE_LEVELS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
# Values of a translation at or beyond this magnitude count as saturated. A generator's output tanh
# has a slope of 0.0975 there, so a code carried before the tanh reaches the image at a tenth of
# its amplitude or less. A decoder that undoes the tanh, such as the atanh skip of
# ``--residual-g``, amplifies it back by ten or more.
SATURATION = 0.95


def psnr(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (data range 2), shape N x C x H x W -> N.

    Identical images give ``inf``.
    """
    mse = (reference - estimate).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse)


def quantize_8bit(images: torch.Tensor) -> torch.Tensor:
    """Round images in [-1, 1] to the 256 levels of an 8-bit file, as saving to PNG would."""
    return images.clamp(-1, 1).add(1).mul(127.5).round().div(127.5).sub(1)


class DivergedError(ValueError):
    """Error raised when a generator's output contains NaN or infinite values."""


@dataclass
class Condition:
    """Reconstruction quality with the translation perturbed in one way.

    ``psnr`` and ``l1`` are means over images (PSNR in dB; L1 on the [-1, 1] scale). ``gain`` is the
    RMS change of the reconstruction caused by the perturbation divided by the RMS of the
    perturbation itself: how strongly the reconstructing generator amplifies it.
    """

    name: str
    level: float
    psnr: float
    l1: float
    gain: float


@dataclass
class DirectionResult:
    """Sensitivity sweep of one cycle direction, e.g. ``"AB"`` for A -> B -> A.

    ``localized`` contains the probe noise (std ``PROBE_NOISE``) applied only to the saturated values
    of the translation (magnitude ``saturation`` or more) and only to the others. Their ``level`` is
    the RMS of that part of the noise over the whole translation, as for ``extra``, and their gain
    is relative to it. ``saturated_share`` is the share of saturated values. Together they show
    where a fragile code sits.
    """

    direction: str
    n_images: int
    clean: Condition
    rounded_8bit: Condition
    noise: list[Condition]
    extra: list[Condition] = field(default_factory=list)
    localized: list[Condition] = field(default_factory=list)
    saturated_share: float | None = None
    saturation: float | None = None
    mean_image_psnr: float | None = None
    hidden_information_detected: bool = False
    verdict: str = "not judged"
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict with the noise levels and PSNRs also listed as flat arrays."""
        out = asdict(self)
        out["noise_levels"] = [c.level for c in self.noise]
        out["noise_psnr"] = [c.psnr for c in self.noise]
        out["noise_l1"] = [c.l1 for c in self.noise]
        return _finite(out)

    @classmethod
    def from_dict(cls, values: dict) -> "DirectionResult":
        """Rebuild a result from :meth:`to_dict` output (a null PSNR becomes ``inf``)."""

        def condition(c: dict) -> Condition:
            return Condition(
                name=c["name"], level=c["level"],
                psnr=float("inf") if c["psnr"] is None else c["psnr"],
                l1=c["l1"], gain=float("nan") if c["gain"] is None else c["gain"],
            )

        return cls(
            direction=values["direction"],
            n_images=values["n_images"],
            clean=condition(values["clean"]),
            rounded_8bit=condition(values["rounded_8bit"]),
            noise=[condition(c) for c in values["noise"]],
            extra=[condition(c) for c in values.get("extra", [])],
            localized=[condition(c) for c in values.get("localized", [])],
            saturated_share=values.get("saturated_share"),
            saturation=values.get("saturation"),
            mean_image_psnr=values.get("mean_image_psnr"),
            hidden_information_detected=values["hidden_information_detected"],
            verdict=values.get("verdict", "not judged"),
            reasons=list(values.get("reasons", [])),
        )


def _finite(value):
    # JSON has no infinity; a perfect reconstruction's PSNR is reported as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def mean_image_psnr(images: torch.Tensor) -> float | None:
    """Compute the mean PSNR of each image against the mean of all the other images.

    The mean is taken pixel by pixel, and the per-image PSNRs are averaged as for the other
    conditions. The mean image is the best estimate in mean squared error, and so in PSNR, that uses
    no information about the image. A reconstruction is only informative by as much as it beats this
    PSNR. Returns ``None`` for fewer than 2 images.
    """
    n = len(images)
    if n < 2:
        return None
    others = (images.sum(0, keepdim=True) - images) / (n - 1)
    return float(psnr(images, others).mean())


@torch.no_grad()
def _apply(net: Generator, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([net(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def _measure(
    name: str, level: float, real: torch.Tensor, reconstructed: torch.Tensor,
    baseline: torch.Tensor | None, perturbation_rms: float,
) -> Condition:
    gain = float("nan")
    if baseline is not None and perturbation_rms > 0:
        change = (reconstructed - baseline).pow(2).mean().sqrt()
        gain = float(change / perturbation_rms)
    return Condition(
        name=name,
        level=level,
        psnr=float(psnr(real, reconstructed).mean()),
        l1=float((real - reconstructed).abs().mean()),
        gain=gain,
    )


def sweep(
    forward: Generator,
    backward: Generator,
    images: torch.Tensor,
    noise_levels: tuple[float, ...] = DEFAULT_NOISE_LEVELS,
    projections: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    direction: str = "AB",
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
    saturation: float = SATURATION,
) -> DirectionResult:
    """Measure how reconstruction quality falls as the translation is perturbed.

    Parameters
    ----------
    forward, backward : callable
        The translating and the reconstructing generator, tensors in [-1, 1] to tensors in [-1, 1].
    images : torch.Tensor
        Source-domain images, N x 3 x H x W in [-1, 1].
    noise_levels : tuple of float
        Standard deviations of Gaussian noise added to the translation, on the [-1, 1] scale.
    projections : dict, optional
        Extra named perturbations, such as snapping the translation to a map palette.
    direction : str
        Label stored in the result.
    seed : int
        Seed of the noise.
    batch_size : int
        Images per forward pass.
    progress : bool
        Show a progress bar over the perturbations.
    saturation : float
        Magnitude from which a value of the translation counts as saturated. If ``noise_levels``
        contains ``PROBE_NOISE``, its noise is applied again to the saturated values alone and to the
        other values alone, giving ``localized``.

    Returns
    -------
    DirectionResult
        The clean, 8-bit, noisy and localized conditions and the PSNR of the mean image
        (:func:`mean_image_psnr`); the verdict is left unset (see :func:`judge`).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be N x 3 x H x W, got shape {tuple(images.shape)}")
    if any(level <= 0 for level in noise_levels):
        raise ValueError(f"noise levels must be positive, got {noise_levels}")
    if not 0 < saturation <= 1:
        raise ValueError(f"saturation must be in (0, 1], got {saturation}")

    generator = torch.Generator().manual_seed(seed)
    translated = _apply(forward, images, batch_size)
    clean_rec = _apply(backward, translated, batch_size)
    for name, output in (("translation", translated), ("reconstruction", clean_rec)):
        if not torch.isfinite(output).all():
            raise DivergedError(
                f"the {direction} cycle's {name} contains NaN or infinite values, so a generator has "
                "diverged; use an earlier checkpoint"
            )
    clean = _measure("clean", 0.0, images, clean_rec, None, 0.0)

    probe_index = next((i for i, level in enumerate(noise_levels) if math.isclose(level, PROBE_NOISE, rel_tol=1e-9)), None)
    steps = 1 + len(noise_levels) + len(projections or {}) + (2 if probe_index is not None else 0)
    # The context closes the bar before an error is printed, so the message gets a line of its own.
    with tqdm(total=steps, desc=f"sensitivity {direction}", unit="test", disable=not progress, leave=False) as bar:
        rounded = quantize_8bit(translated)
        rounding_rms = float((rounded - translated).pow(2).mean().sqrt())
        rounded_8bit = _measure(
            "8-bit", 1 / 255, images, _apply(backward, rounded, batch_size), clean_rec, rounding_rms
        )
        bar.update()

        noise = []
        probe_field = None
        for index, level in enumerate(noise_levels):
            noise_field = torch.randn(translated.shape, generator=generator).to(translated.device) * level
            reconstructed = _apply(backward, translated + noise_field, batch_size)
            noise.append(_measure("gaussian", level, images, reconstructed, clean_rec, level))
            if index == probe_index:
                probe_field = noise_field
            bar.update()

        # The same draw as the probe condition, split in two parts that add up to it.
        localized = []
        saturated = translated.abs() >= saturation
        if probe_field is not None:
            for name, mask in (("saturated", saturated), ("unsaturated", ~saturated)):
                part = probe_field * mask
                rms = float(part.pow(2).mean().sqrt())
                reconstructed = _apply(backward, translated + part, batch_size)
                localized.append(_measure(f"gaussian, {name} values", rms, images, reconstructed, clean_rec, rms))
                bar.update()

        extra = []
        for name, project in (projections or {}).items():
            projected = project(translated)
            rms = float((projected - translated).pow(2).mean().sqrt())
            extra.append(_measure(name, rms, images, _apply(backward, projected, batch_size), clean_rec, rms))
            bar.update()

    return DirectionResult(
        direction, len(images), clean, rounded_8bit, noise, extra, localized,
        saturated_share=float(saturated.float().mean()), saturation=saturation,
        mean_image_psnr=mean_image_psnr(images),
    )


# Verdict thresholds. A reconstructing generator that reads what the translation shows openly maps
# a small perturbation of its input to a change of about the same size. Its gain is near 1 when it
# is well trained, and poorly trained ones in examples/README.md reached up to 5.3. One that
# decodes a hidden low-amplitude code has to amplify: to restore detail of amplitude D from a code
# of amplitude a, its gain for noise in the code's subspace is about D / a. The probe is white
# noise, so a decoder that averages a smooth code over many pixels shows less. A synthetic coded
# pair (a = 0.02) has a gain of 50 by construction, and undefended photo2mosaic models 14-25.
# Each condition matters. Open models at 42-82 dB lose 2.8-36 dB at std 0.01 with a gain of 1.
# Defended photo2mosaic models reach gains of 6-13 but lose 0.2 dB or less, while undefended ones
# lose 1.2-6.3 dB.
# A loss can only be measured where there is something to lose. The mean image of the other test
# images is what a reconstruction with no information about its input gives, and one that beats it
# by less than twice the drop threshold is "inconclusive". Trained models in examples/README.md
# beat it by 2.0-28.5 dB, and a collapsed one by 0.3 dB.
PROBE_NOISE = 0.01
MIN_GAIN = 3.0
MIN_PSNR_DROP_DB = 1.0
MIN_INFORMATION_DB = 2 * MIN_PSNR_DROP_DB
# A mean image this close (RMS difference 2e-5, far below one 8-bit level) means identical images.
IDENTICAL_IMAGES_PSNR_DB = 100.0


def judge(
    result: DirectionResult,
    probe_noise: float = PROBE_NOISE,
    min_gain: float = MIN_GAIN,
    min_drop_db: float = MIN_PSNR_DROP_DB,
    min_information_db: float = MIN_INFORMATION_DB,
) -> DirectionResult:
    """Decide whether a reconstruction relies on information hidden in the translation.

    Hidden information is reported when all three hold at the Gaussian noise level ``probe_noise``
    (about 1.3 levels of an 8-bit image, invisible to a viewer):

    1. the unperturbed reconstruction carries information about its input: its PSNR beats that of
       the mean of the other images (:func:`mean_image_psnr`) by at least ``min_information_db`` dB;
    2. the reconstructing generator amplifies the noise: gain of at least ``min_gain``;
    3. the reconstruction suffers measurably: PSNR falls by at least ``min_drop_db`` dB.

    Sets ``hidden_information_detected``, ``verdict`` and ``reasons`` on ``result`` and returns it.
    ``verdict`` is ``"detected"`` or ``"not detected"``. It is ``"inconclusive"`` when condition 1
    fails. A reconstruction with little information about its input has little to lose, as for a
    collapsed model. A single image has no mean of others to compare with, and identical images
    are reproduced exactly by their mean. ``hidden_information_detected`` is true only for
    ``"detected"``. The high-frequency energy of the translation is not used: an under-trained
    generator's transposed-convolution checkerboard raises it without carrying information.

    Raises ``ValueError`` if ``result`` has no noise condition at ``probe_noise``, because the
    thresholds hold for that std only.
    """
    probes = [c for c in result.noise if math.isclose(c.level, probe_noise, rel_tol=1e-9)]
    if not probes:
        levels = ", ".join(f"{c.level:g}" for c in result.noise)
        raise ValueError(f"the verdict needs noise std {probe_noise:g} among the noise levels, got {levels}")
    probe = probes[0]
    drop = result.clean.psnr - probe.psnr
    drop = 0.0 if abs(drop) < 5e-3 else drop
    baseline = result.mean_image_psnr
    if baseline is None and result.n_images < 2:
        information_check = (f"the information test needs at least 2 images, got {result.n_images}", False)
    elif baseline is None or baseline >= IDENTICAL_IMAGES_PSNR_DB:
        information_check = ("the information test needs different images, but the mean image reproduces each one", False)
    else:
        information = result.clean.psnr - baseline
        information_check = (
            f"clean PSNR {result.clean.psnr:.1f} dB beats the mean image ({baseline:.1f} dB) by {information:.1f} dB "
            f"(needs >= {min_information_db:g} dB)",
            information >= min_information_db,
        )
    checks = dict([
        information_check,
        (f"noise gain {probe.gain:.2f} at std {probe.level:g} (needs >= {min_gain:g})", probe.gain >= min_gain),
        (f"PSNR drop {drop:.2f} dB at std {probe.level:g} (needs >= {min_drop_db:g} dB)", drop >= min_drop_db),
    ])
    passed = list(checks.values())
    result.hidden_information_detected = all(passed)
    if result.hidden_information_detected:
        result.verdict = "detected"
    elif not passed[0]:
        result.verdict = "inconclusive"
    else:
        result.verdict = "not detected"
    result.reasons = [f"{text}: {'pass' if ok else 'fail'}" for text, ok in checks.items()]
    return result
