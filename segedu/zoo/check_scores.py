"""The zoo's check scores: each shipped checkpoint scored on the first tenth of its held-out split.

A card's numbers score the whole held-out split (500 scenes for most entries). Scoring all of it
again takes from seconds to over a minute of CPU per model, too much for every test run. The
check scores are the card's own evaluation (``recipe_for(name).evaluate``) on the split's first
:func:`check_length` items, recorded beside the checkpoint's sha256 in
``checkpoints/check_scores.json`` by::

    python -m segedu.zoo.check_scores            # every entry
    python -m segedu.zoo.check_scores unet yolact
    python -m segedu.zoo.check_scores unet_fewlabels_cam unet_calibration   # EXTRA entries

The tests (``tests/test_zoo.py``) score that subset on every run and compare it with the record:
a checkpoint that changed without its record, or an evaluation that changed, fails there. The
whole split against the cards is scored with ``SEGEDU_FULL_RESCORE=1``. A retrained checkpoint
needs its record written again (the test says so, naming this command).

The record also holds :data:`EXTRA` entries, scored the same way from checkpoints whose cards
the zoo's entries do not cover: chapter 19's few-label runs ``unet_fewlabels_<run>`` of
:data:`FEW_LABEL_RUNS` (:mod:`segedu.zoo.few_labels`, the U-Net's evaluation) and
``unet_calibration``, U-Net's temperature and its "as trained" and "temperature" read-outs
(:mod:`segedu.zoo.calibration`: the temperature fitted on the first tenth of the validation
split, the read-outs on the first tenth of the held-out split).

An evaluation that trains on scenes of its own, DINO's linear probe, trains on the first tenth of
them here (10 of its 100 training scenes: 0.7 CPU s instead of 10).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from ..data.download import sha256_of
from ..models import get_model
from . import FOLDER, TO_TRAIN, ZOO, zoo_model
from .calibration import VALIDATION_SCENES, temperature_readouts
from .few_labels import checkpoint_path, load_few_label_model
from .scores import TEST_SCENES
from .train import recipe_for

__all__ = ["RECORD", "EXTRA", "FEW_LABEL_RUNS", "check_length", "check_scores", "checkpoint_of",
           "read_record", "write_record", "main"]

RECORD = FOLDER / "check_scores.json"
# The share of the held-out split that is scored on every test run: a tenth, at least
# MIN_CHECK_ITEMS items (the whole split if it is smaller)
SHARE, MIN_CHECK_ITEMS = 10, 10
# Scores that measure the machine, not the model.
TIMINGS = ("seconds_per_image",)
# The few-label runs whose cards tests/zoo/test_few_labels.py checks: the baseline, the ceiling
# and the weakly supervised run, and the three runs with 2 labelled scenes that chapter 19's
# reading of scarce labels rests on (the baseline, the pseudo-labels and the mean teacher)
FEW_LABEL_RUNS = ("supervised", "full", "cam", "supervised_2scenes", "pseudo_labels_2scenes",
                  "mean_teacher_2scenes")
# The record's entries that are not zoo entries (module docstring)
EXTRA = (*(f"unet_fewlabels_{method}" for method in FEW_LABEL_RUNS), "unet_calibration")


def _split_length(name: str) -> int:
    """The length of ``name``'s held-out split (the extra entries: the zoo's 500 scenes)."""
    if name in EXTRA:
        return TEST_SCENES
    return inspect.signature(recipe_for(name).evaluate).parameters["length"].default


def checkpoint_of(name: str) -> Path:
    """The checkpoint that ``name``'s check scores come from."""
    if name == "unet_calibration":
        return ZOO["unet"].checkpoint
    if name in EXTRA:
        return checkpoint_path(name.removeprefix("unet_fewlabels_"))
    return ZOO[name].checkpoint


def _check_share(length: int) -> int:
    """The first tenth of a split of ``length`` items, at least :data:`MIN_CHECK_ITEMS` (the whole
    split if it is smaller)."""
    return min(length, max(MIN_CHECK_ITEMS, math.ceil(length / SHARE)))


def check_length(name: str) -> int:
    """How many held-out items of ``name``'s split are scored: its check share."""
    return _check_share(_split_length(name))


def _scorer(name: str) -> Callable[[int], dict[str, float]]:
    """``name``'s evaluation on the CPU: the first ``length`` held-out items -> its scores."""
    if name == "unet_calibration":
        def calibration(length: int) -> dict[str, float]:
            # the temperature fitted on the first tenth of the validation split as well
            plain, scaled = temperature_readouts(
                get_model("unet", weights="zoo").eval(), test_scenes=length,
                validation_scenes=_check_share(VALIDATION_SCENES))
            return {"temperature": scaled.temperature, "miou": plain.miou, "ece": plain.ece,
                    "ece_temperature": scaled.ece}
        return calibration
    # a few-label run is a U-Net on the zoo's held-out split: the U-Net's evaluation
    model = (load_few_label_model(name.removeprefix("unet_fewlabels_")) if name in EXTRA
             else zoo_model(name))
    evaluate = recipe_for("unet" if name in EXTRA else name).evaluate
    # an evaluation that trains on scenes of its own (DINO's linear probe) uses their first tenth
    probe = inspect.signature(evaluate).parameters.get("probe_scenes")
    extra = {} if probe is None else {"probe_scenes": _check_share(probe.default)}
    return lambda length: evaluate(model, torch.device("cpu"), length=length, **extra)


def check_scores(name: str) -> dict[str, float]:
    """The scores of ``name``'s shipped checkpoint (on the CPU) on its first
    :func:`check_length` held-out items, timings left out."""
    with torch.no_grad():
        scores = _scorer(name)(check_length(name))
    return {key: float(value) for key, value in scores.items() if key not in TIMINGS}


def read_record(path: Path = RECORD) -> dict[str, dict]:
    """``{name: {"checkpoint_sha256", "length", "scores"}}`` as written by :func:`write_record`."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segedu.zoo.check_scores`")
    return json.loads(Path(path).read_text(encoding="utf8"))


def write_record(names: list[str], path: Path = RECORD) -> dict[str, dict]:
    """Score ``names`` (:func:`check_scores`) and write their entries into ``path`` (the other
    entries are kept); the file is replaced atomically."""
    unknown = sorted(set(names) - set(ZOO) - set(EXTRA))
    if unknown:
        raise ValueError(f"segedu.zoo has no entry {', '.join(unknown)}; the record's other "
                         f"entries are {', '.join(EXTRA)}")
    record = read_record(path) if Path(path).exists() else {}
    for name in names:
        scores = check_scores(name)
        record[name] = {"checkpoint_sha256": sha256_of(checkpoint_of(name)),
                        "length": check_length(name),
                        "scores": {k: round(v, 6) for k, v in sorted(scores.items())}}
        print(f"{name}: {len(scores)} scores on {check_length(name)} held-out items", flush=True)
    text = json.dumps(dict(sorted(record.items())), indent=1) + "\n"
    partial = Path(path).with_suffix(".json.partial")
    partial.write_text(text, encoding="utf8")
    partial.replace(path)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.check_scores",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*",
                        help="zoo entries or EXTRA entries (default: every entry but those "
                             "awaiting training, and the EXTRA ones)")
    args = parser.parse_args(argv)
    write_record(args.names or [*sorted(set(ZOO) - TO_TRAIN), *EXTRA])
    return 0


if __name__ == "__main__":
    sys.exit(main())
