"""A query model's object threshold, chosen on validation scenes, then scored on the held-out ones:
``python -m segedu.zoo.query_threshold mask2former [--checkpoint PATH --title TITLE]``.

Mask2Former's panoptic inference keeps a query only when its top class is not "no object" and its
probability is above ``object_mask_threshold``: 0.8 in the paper's configuration for COCO. A small
model trained briefly on the synthetic scenes is less sure of itself (the query diagnosis,
:mod:`segedu.zoo.query_diagnosis`, measures the best query's mean probability of the true class),
so another threshold may suit it. Picking the threshold that scores best on the held-out scenes
would flatter the model: the held-out split would both choose and judge. So:

1. every threshold of :data:`CANDIDATES` (the overlap threshold stays the paper's 0.8) is scored on
   the **validation split**: the first :data:`~segedu.zoo.calibration.VALIDATION_SCENES` scenes
   of seed :data:`~segedu.zoo.calibration.VALIDATION_SEED`, never trained on, never scored;
2. the threshold with the best validation **PQ over all segments** is chosen (the task's score:
   things alone would trade the stuff away unseen); a tie goes to the higher threshold, the
   nearer to the paper's;
3. the **held-out split** (seed 1, :data:`~segedu.zoo.scores.TEST_SCENES` scenes, as the card's
   own table) scores the paper's threshold and the chosen one, once each.

The result goes into the card's section ``## Object threshold chosen on validation scenes``
(``...: TITLE`` for a run not shipped, as the diagnosis does), which :func:`card_threshold`
reads back for a chapter.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import FOLDER
from .calibration import VALIDATION_SCENES, VALIDATION_SEED
from .cards import where
from .panoptic import evaluate_panoptic, held_out_panoptic, mask2former_panoptic
from .query_diagnosis import (
    add_run_options,
    check_run_options,
    measure_into_card,
    measured_section,
    run_option_text,
)
from .scores import TEST_SCENES

__all__ = ["CANDIDATES", "PAPER", "OVERLAP", "SECTION", "ThresholdChoice", "choose_threshold",
           "section_title", "card_section", "card_threshold", "main"]

CANDIDATES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
PAPER, OVERLAP = 0.8, 0.8  # Mask2Former's object and overlap thresholds (its COCO configuration)
SECTION = "## Object threshold chosen on validation scenes"
KEYS = ("pq", "pq_things", "pq_stuff")


@dataclass(frozen=True)
class ThresholdChoice:
    """``validation[t]`` and ``held_out[t]``: PQ, PQ of things and of stuff (:data:`KEYS`) at
    object threshold ``t``; ``chosen``: the threshold picked on the validation split;
    ``held_out`` has the paper's threshold and the chosen one."""

    validation: dict[float, dict[str, float]]
    chosen: float
    held_out: dict[float, dict[str, float]]


class _OnePass:
    """A query model's outputs (class and mask logits) for each batch of scenes it was shown,
    computed once: every threshold of a sweep reads the same forward pass. A batch is known by
    its pixels' bytes, so a different batch is never answered from the store. Each split of
    scenes is made once as well."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.device = model, next(model.parameters()).device
        self.stored: dict[bytes, dict[str, torch.Tensor]] = {}
        self.splits: dict[tuple[int, int], tuple[list[torch.Tensor], torch.Tensor]] = {}

    def outputs(self, images: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = torch.stack(images)
        key = hashlib.sha1(batch.numpy().tobytes()).digest()
        if key not in self.stored:
            outputs = self.model(batch.to(self.device))
            self.stored[key] = {k: outputs[k] for k in ("pred_logits", "pred_masks")}
        return self.stored[key]

    def scores(self, threshold: float, *, length: int, seed: int) -> dict[str, float]:
        """:data:`KEYS` of the panoptic inference at object ``threshold`` on a split."""
        if (length, seed) not in self.splits:
            self.splits[length, seed] = held_out_panoptic(length, seed=seed)
        score = evaluate_panoptic(
            lambda batch: mask2former_panoptic(self.model, batch, object_mask_threshold=threshold,
                                               overlap_threshold=OVERLAP,
                                               outputs=self.outputs(batch)),
            length=length, seed=seed, scenes=self.splits[length, seed])
        return {key: score[key] for key in KEYS}


@torch.no_grad()
def choose_threshold(model: torch.nn.Module, *, candidates: tuple[float, ...] = CANDIDATES,
                     validation: int = VALIDATION_SCENES, length: int = TEST_SCENES
                     ) -> ThresholdChoice:
    """Steps 1-3 of the module docstring for a query ``model`` (Mask2Former's outputs and
    ``postprocess``): ``validation`` scenes choose among ``candidates``, the first ``length``
    held-out scenes score the paper's threshold and the chosen one."""
    if not candidates or not all(0 <= t < 1 for t in candidates):
        raise ValueError(f"candidates must be thresholds in [0, 1), got {candidates!r}")
    model.eval()
    one_pass = _OnePass(model)
    on_validation = {t: one_pass.scores(t, length=validation, seed=VALIDATION_SEED)
                     for t in candidates}
    chosen = max(candidates, key=lambda t: (on_validation[t]["pq"], t))
    held_out = {t: one_pass.scores(t, length=length, seed=1) for t in sorted({PAPER, chosen})}
    return ThresholdChoice(validation=on_validation, chosen=chosen, held_out=held_out)


def section_title(title: str | None = None) -> str:
    """The heading of the shipped model's section, or of the run ``title``'s."""
    return SECTION if title is None else f"{SECTION}: {title}"


def card_section(name: str, choice: ThresholdChoice, *, minutes: float, validation: int,
                 length: int, checkpoint: Path | None = None, title: str | None = None,
                 num_queries: int | None = None) -> list[str]:
    """The card's section: the command, the validation sweep, the choice and the held-out
    scores (of the run ``checkpoint`` under ``title`` when given)."""
    option = run_option_text(checkpoint, title, num_queries)
    lines = [section_title(title), "",
             f"- measured {time.strftime('%Y-%m-%d')} with `python -m segedu.zoo.query_threshold "
             f"{name}{option}` on {where('cpu')} in {minutes:.1f} min; overlap threshold "
             f"{OVERLAP:g} throughout",
             f"- validation: the first {validation} scenes of seed {VALIDATION_SEED} (never "
             f"trained on, never scored); chosen: object threshold {choice.chosen:g}, the best "
             "validation PQ (a tie to the higher threshold)",
             f"- held-out: the first {length} scenes of seed 1, scored once at the paper's "
             f"{PAPER:g} and once at the chosen threshold", "",
             "| split | object threshold | PQ | PQ things | PQ stuff |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for split, rows in (("validation", choice.validation), ("held-out", choice.held_out)):
        for t, score in rows.items():
            lines.append(f"| {split} | {t:g} | " + " | ".join(f"{score[k]:.3f}" for k in KEYS)
                         + " |")
    return lines + [""]


def card_threshold(name: str, *, folder: Path = FOLDER,
                   title: str | None = None) -> ThresholdChoice:
    """The section :func:`card_section` wrote into zoo model ``name``'s card (in ``folder``; the
    run ``title``'s when given) read back (3 decimals), for a chapter to quote."""
    section = measured_section(name, section_title(title), folder=folder,
                               command="query_threshold", run=title is not None)
    rows: dict[str, dict[float, dict[str, float]]] = {"validation": {}, "held-out": {}}
    chosen = None
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in rows:
            rows[cells[0]][float(cells[1])] = dict(zip(KEYS, map(float, cells[2:]), strict=True))
        elif line.startswith("- validation:"):
            chosen = float(line.split("chosen: object threshold ")[1].split(",")[0])
    return ThresholdChoice(validation=rows["validation"], chosen=chosen, held_out=rows["held-out"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.query_threshold",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a query model of the zoo (mask2former, eomt)")
    parser.add_argument("--validation", type=int, default=VALIDATION_SCENES,
                        help="validation scenes that choose the threshold")
    parser.add_argument("--length", type=int, default=TEST_SCENES, help="held-out scenes")
    add_run_options(parser)
    args = parser.parse_args(argv)
    check_run_options(parser, args)
    return measure_into_card(
        args, lambda model: choose_threshold(model, validation=args.validation,
                                             length=args.length),
        lambda choice, minutes: card_section(
            args.name, choice, minutes=minutes, validation=args.validation, length=args.length,
            checkpoint=args.checkpoint, title=args.title, num_queries=args.num_queries))


if __name__ == "__main__":
    raise SystemExit(main())
