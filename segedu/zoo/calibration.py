"""Calibration and test-time augmentation of the zoo's semantic models, measured and written into
their cards: ``python -m segedu.zoo.calibration [names...]``.

For each shipped semantic model (or the ``names`` given):

1. its logits on a **validation split** (the first ``VALIDATION_SCENES`` scenes of seed 2: never
   trained on, never scored) fit a temperature
   (:func:`segedu.models.semantic.temperature.fit_temperature`);
2. on the zoo's **held-out split** (500 scenes of seed 1, :mod:`segedu.zoo.scores`), four
   read-outs are scored, each by its mIoU (one confusion matrix over the split) and its per-pixel
   expected calibration error (:mod:`segedu.metrics.calibration`, 15 bins): the model as it is,
   with the temperature, with test-time augmentation
   (:class:`~segedu.models.semantic.tta.TestTimeAugmentation`: horizontal flips and scales
   ``TTA_SCALES``), and with both (a temperature fitted anew on the validation split's TTA
   output);
3. the results replace the section ``## Calibration and test-time augmentation`` of the model's
   card (the rest of the card is kept), with the command and the time it took.

A retrained checkpoint gets a new card without the section: run this command again.
"""

from __future__ import annotations

import argparse
import re
import time

import torch

from ..data import SyntheticScenes
from ..metrics import iou_per_class
from ..metrics.calibration import ReliabilityBins, reliability_bins
from ..models import get_model
from ..models.semantic.temperature import fit_temperature
from ..models.semantic.tta import TestTimeAugmentation
from . import ZOO, Task
from .cards import replace_card_section, where
from .scores import TEST_SCENES, scene_tensors

__all__ = ["VALIDATION_SEED", "VALIDATION_SCENES", "TTA_SCALES", "N_BINS", "SECTION",
           "Readout", "temperature_readouts", "calibrate", "card_section", "card_readouts", "main"]

VALIDATION_SEED, VALIDATION_SCENES = 2, 200
TTA_SCALES, TTA_MULTIPLE = (0.75, 1.0, 1.25), 32  # 96, 128 and 160 pixels: every model's stride
N_BINS = 15
SECTION = "## Calibration and test-time augmentation"
READOUTS = ("as trained", "temperature", "TTA", "TTA + temperature")
NUM_CLASSES = len(SyntheticScenes.classes)


class Readout:
    """One read-out's scores on the held-out split: ``miou``, ``ece``, ``bins`` and the fitted
    ``temperature`` (1 when none is applied)."""

    def __init__(self, iou: torch.Tensor, bins: ReliabilityBins, temperature: float = 1.0):
        self.iou, self.bins, self.temperature = iou, bins, temperature

    @property
    def miou(self) -> float:
        return float(self.iou.nanmean())

    @property
    def ece(self) -> float:
        return self.bins.ece


@torch.no_grad()
def _logits(model: torch.nn.Module, images: torch.Tensor, batch: int = 50) -> torch.Tensor:
    return torch.cat([model(images[i:i + batch])["out"] for i in range(0, len(images), batch)])


@torch.no_grad()
def _scores(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
            temperatures: tuple[float, ...] = (1.0,), batch: int = 50) -> list[Readout]:
    """mIoU and reliability bins over the split of ``softmax(logits / t)`` for each temperature
    ``t`` (what :class:`~segedu.models.semantic.temperature.TemperatureScaled` gives), from one
    forward pass, batch by batch (the logits of 500 scenes would take 200 MB)."""
    preds = [[] for _ in temperatures]
    bins: list[ReliabilityBins | None] = [None for _ in temperatures]
    for i in range(0, len(images), batch):
        logits = model(images[i:i + batch])["out"]
        for k, temperature in enumerate(temperatures):
            scaled = logits / temperature
            preds[k].append(scaled.argmax(1))
            part = reliability_bins(scaled.softmax(1), labels[i:i + batch], n_bins=N_BINS)
            bins[k] = part if bins[k] is None else bins[k] + part
    return [Readout(iou_per_class(torch.cat(pred), labels, NUM_CLASSES), part, temperature)
            for pred, part, temperature in zip(preds, bins, temperatures, strict=True)]


def temperature_readouts(net: torch.nn.Module, *, test_scenes: int = TEST_SCENES,
                         validation_scenes: int = VALIDATION_SCENES) -> tuple[Readout, Readout]:
    """``net`` (a semantic model in eval mode) as it is and with its temperature: the temperature
    fitted on the first ``validation_scenes`` validation scenes, both read-outs scored on the
    first ``test_scenes`` held-out scenes (the check scores, :mod:`segedu.zoo.check_scores`,
    score the first tenth of each)."""
    return _fit_and_score(net, scene_tensors(seed=VALIDATION_SEED, length=validation_scenes),
                          scene_tensors(seed=1, length=test_scenes))


def _fit_and_score(net: torch.nn.Module, validation: tuple[torch.Tensor, torch.Tensor],
                   test: tuple[torch.Tensor, torch.Tensor]) -> tuple[Readout, Readout]:
    """The temperature fitted on ``validation`` (images, labels), then ``net``'s read-outs on
    ``test`` without it and with it."""
    temperature = fit_temperature(_logits(net, validation[0]), validation[1])
    plain, scaled = _scores(net, *test, temperatures=(1.0, temperature))
    return plain, scaled


def calibrate(name: str, *, test_scenes: int = TEST_SCENES,
              validation_scenes: int = VALIDATION_SCENES) -> dict[str, Readout]:
    """The four read-outs of zoo model ``name`` (module docstring), keyed by :data:`READOUTS`."""
    model = get_model(name, weights="zoo").eval()
    tta = TestTimeAugmentation(model, flips=(False, True), scales=TTA_SCALES,
                               multiple=TTA_MULTIPLE).eval()
    validation = scene_tensors(seed=VALIDATION_SEED, length=validation_scenes)
    test = scene_tensors(seed=1, length=test_scenes)  # drawn once for both networks
    out = {}
    for plain, scaled, net in (("as trained", "temperature", model),
                               ("TTA", "TTA + temperature", tta)):
        # the temperature from the validation split's logits, then the held-out scores
        out[plain], out[scaled] = _fit_and_score(net, validation, test)
    return {k: out[k] for k in READOUTS}


def card_section(readouts: dict[str, Readout], *, command: str, minutes: float) -> list[str]:
    """The card's section: the command, the splits, and the table of the four read-outs."""
    lines = [
        SECTION, "",
        f"- measured {time.strftime('%Y-%m-%d')} with `{command}` on {where('cpu')} in "
        f"{minutes:.1f} min",
        f"- temperature fitted on {VALIDATION_SCENES} validation scenes of seed "
        f"{VALIDATION_SEED} (never trained on, never scored); scores on the held-out split "
        f"above; ECE per pixel with {N_BINS} equal bins; TTA: horizontal flips x scales "
        f"{', '.join(f'{s:g}' for s in TTA_SCALES)}, probabilities averaged",
        "",
        "| read-out | temperature | mIoU | ECE |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, r in readouts.items():
        lines.append(f"| {key} | {r.temperature:.3f} | {r.miou:.4f} | {r.ece:.4f} |")
    return lines + [""]


def card_readouts(name: str) -> dict[str, tuple[float, float, float]]:
    """What zoo model ``name``'s card records: ``{read-out: (temperature, mIoU, ECE)}`` for the
    four read-outs of :data:`READOUTS`; ``ValueError`` when the card has no section yet."""
    text = ZOO[name].card.read_text()
    if SECTION not in text:
        raise ValueError(f"the card of {name!r} has no calibration section: "
                         f"run `python -m segedu.zoo.calibration {name}`")
    rows = re.findall(r"^\| ([^|]+?) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$",
                      text.split(SECTION)[1], re.M)
    return {key: (float(t), float(m), float(e)) for key, t, m, e in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.calibration",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="zoo models (default: every semantic one)")
    args = parser.parse_args(argv)
    semantic = [n for n, e in ZOO.items() if e.task is Task.SEMANTIC and e.checkpoint.is_file()]
    names = args.names or semantic
    unknown = sorted(set(names) - set(semantic))
    if unknown:
        parser.error(f"not a shipped semantic zoo model: {', '.join(unknown)}; "
                     f"they are: {', '.join(semantic)}")
    for name in names:
        start = time.perf_counter()
        readouts = calibrate(name)
        minutes = (time.perf_counter() - start) / 60
        section = card_section(readouts, command=f"python -m segedu.zoo.calibration {name}",
                               minutes=minutes)
        replace_card_section(ZOO[name].card, section)
        print(f"{name}:", *section, sep="\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
