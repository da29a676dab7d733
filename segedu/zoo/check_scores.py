"""The zoo's check scores: each shipped checkpoint scored on the first fifth of its held-out split.

A card's numbers score the whole held-out split (500 scenes for most entries). Scoring all of it
again takes from seconds to over a minute of CPU per model, too much for every test run. The
check scores are the card's own evaluation (``recipe_for(name).evaluate``) on the split's first
:func:`check_length` items, recorded beside the checkpoint's sha256 in
``checkpoints/check_scores.json`` by::

    python -m segedu.zoo.check_scores            # every entry
    python -m segedu.zoo.check_scores unet yolact

The tests (``tests/test_zoo.py``) score that subset on every run and compare it with the record:
a checkpoint that changed without its record, or an evaluation that changed, fails there. The
whole split against the cards is scored with ``SEGEDU_FULL_RESCORE=1``. A retrained checkpoint
needs its record written again (the test says so, naming this command).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
from pathlib import Path

import torch

from ..data.download import sha256_of
from . import FOLDER, TO_TRAIN, ZOO, zoo_model
from .train import recipe_for

__all__ = ["RECORD", "check_length", "check_scores", "read_record", "write_record", "main"]

RECORD = FOLDER / "check_scores.json"
# The share of the held-out split that is scored on every test run.
SHARE = 5
# Scores that measure the machine, not the model.
TIMINGS = ("seconds_per_image",)


def check_length(name: str) -> int:
    """How many held-out items of ``name``'s split are scored: the first fifth (at least one)."""
    split = inspect.signature(recipe_for(name).evaluate).parameters["length"].default
    return max(1, math.ceil(split / SHARE))


def check_scores(name: str) -> dict[str, float]:
    """The scores of ``name``'s shipped checkpoint (on the CPU) on its first
    :func:`check_length` held-out items, timings left out."""
    model = zoo_model(name)
    with torch.no_grad():
        scores = recipe_for(name).evaluate(model, torch.device("cpu"), length=check_length(name))
    return {key: float(value) for key, value in scores.items() if key not in TIMINGS}


def read_record(path: Path = RECORD) -> dict[str, dict]:
    """``{name: {"checkpoint_sha256", "length", "scores"}}`` as written by :func:`write_record`."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segedu.zoo.check_scores`")
    return json.loads(Path(path).read_text(encoding="utf8"))


def write_record(names: list[str], path: Path = RECORD) -> dict[str, dict]:
    """Score ``names`` (:func:`check_scores`) and write their entries into ``path`` (the other
    entries are kept); the file is replaced atomically."""
    unknown = sorted(set(names) - set(ZOO))
    if unknown:
        raise ValueError(f"segedu.zoo has no entry {', '.join(unknown)}")
    record = read_record(path) if Path(path).exists() else {}
    for name in names:
        scores = check_scores(name)
        record[name] = {"checkpoint_sha256": sha256_of(ZOO[name].checkpoint),
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
                        help="zoo entries (default: every entry but those awaiting training)")
    args = parser.parse_args(argv)
    write_record(args.names or sorted(set(ZOO) - TO_TRAIN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
