"""Retrain a zoo family with several seeds, resumably, and ship the median seed:
``python -m segedu.zoo.seeds <task> [--seeds 0 1 2] [--runs DIR] [--names ...] [--steps N]``.

A score of one training run says little: another seed moves it. For each model of the family
(the zoo entries of one :class:`~segedu.zoo.Task`, e.g. ``semantic``) and each seed, this command

1. trains the entry's recipe with ``seed`` (the model's initialisation and the data order) into
   ``<runs>/<name>/seed<k>/`` (the recipe writes its checkpoint and card there), unless that run
   is already complete: an interrupted family run is started again with the same command and
   goes on where it stopped, and a run stopped in the middle goes on from its resume file
   ``<run>/<model>_resume.pt`` (a semantic or cell run of an older segedu from
   ``<run>/resume/last.pt``);
2. scores each run with the recipe's ``evaluate`` on the held-out split and keeps the scores in
   ``<run>/scores.json`` and the settings it was trained with in ``<run>/settings.json``; a
   finished run asked for again with other settings (another ``--steps``, ...) is refused, not
   reused;
3. when every seed of a model is done, ships the run of the **median seed** (by the family's
   headline score, :data:`HEADLINE`) into the package's checkpoint and card, and adds to the card
   the section ``## Seeds``: the per-seed scores, their mean and sample standard deviation, and
   which seed was shipped.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import copy_atomically
from ..models import get_model
from . import FOLDER, ZOO, Task
from .cards import card_section_text, replace_card_section, trained_steps
from .float16 import load_float32
from .train import config_for, recipe_for

__all__ = ["HEADLINE", "SECTION", "SETTINGS_FILE", "run_seed", "seed_scores", "summarise",
           "ship_median", "Spread", "card_spread", "read_spread", "spreads", "main"]

# the score that ranks the seeds of a family (a key of its recipe's evaluate)
HEADLINE = {Task.SEMANTIC: "miou", Task.INSTANCES: "mask_map_50",
            Task.DETECTION: "box_map_50", Task.PANOPTIC: "pq", Task.SET_PREDICTION: "pq",
            Task.PROMPTABLE: "miou_point",
            Task.FEATURES: "kmeans_miou", Task.CELLS: "accuracy_50", Task.VIDEO: "jf",
            Task.TEXT_PROMPTS: "miou"}
SECTION = "## Seeds"
# beside a finished run's scores.json: the settings it was trained with (the command's overrides)
SETTINGS_FILE = "settings.json"
NOT_DECISIVE = frozenset({"workers", "device"})  # where and how fast, not the result


def _run_dir(runs: Path, name: str, seed: int) -> Path:
    return runs / name / f"seed{seed}"


def run_seed(name: str, seed: int, runs: Path, *, length: int | None = None,
             **settings) -> dict[str, float]:
    """Train zoo entry ``name`` with ``seed`` into its run folder (unless done), score it on the
    held-out split (its first ``length`` items; ``None``: the recipe's whole split) and return
    its scores (read back from ``scores.json`` when the run was done before). ``settings`` are
    fields of the recipe's configuration (``steps``, ...)."""
    folder = _run_dir(runs, name, seed)
    scores_file = folder / "scores.json"
    asked = {key: str(value) if isinstance(value, Path) else value
             for key, value in settings.items() if key not in NOT_DECISIVE}
    if scores_file.is_file():
        _check_same_settings(name, folder, asked)
        return json.loads(scores_file.read_text())
    entry, recipe = ZOO[name], recipe_for(name)
    checkpoint = folder / entry.checkpoint.name
    options = "".join(f" --{key.replace('_', '-')} {value}" for key, value in settings.items())
    command = (f"python -m segedu.zoo.seeds {entry.task.value} --names {name} --seeds {seed} "
               f"--runs {runs}{options}")
    config = config_for(name, seed=seed, out=folder, resume_dir=folder / "resume",
                        command=command, **settings)
    if not checkpoint.is_file():  # not trained yet, or interrupted: (re)start, resuming if it can
        folder.mkdir(parents=True, exist_ok=True)
        recipe.train(config)
    model = get_model(entry.model, **entry.kwargs)
    model.load_state_dict(load_float32(checkpoint))
    # scored where it trained (a GPU when there is one), as the card's own table was
    model.to(config.torch_device())
    scores = recipe.evaluate(model.eval(), device=config.torch_device(),
                             **({} if length is None else {"length": length}))
    (folder / SETTINGS_FILE).write_text(json.dumps(asked, indent=1, sort_keys=True))
    scores_file.write_text(json.dumps(scores, indent=1))
    return scores


def _check_same_settings(name: str, folder: Path, asked: dict) -> None:
    """Refuse a finished run of ``folder`` trained with other settings than ``asked`` (a
    ``ValueError`` naming both): reusing it would put another budget's scores among the seeds.
    A run finished before :data:`SETTINGS_FILE` was written is checked by its card's steps."""
    recorded_file = folder / SETTINGS_FILE
    if recorded_file.is_file():
        recorded = json.loads(recorded_file.read_text())
        if recorded != asked:
            raise ValueError(f"{folder} holds a finished run of {name} trained with settings "
                             f"{recorded}, not {asked}: give another --runs folder, or remove "
                             "that run to train it again")
        return
    card = folder / ZOO[name].card.name
    trained = trained_steps(card.read_text()) if card.is_file() else None
    if trained is None or "minutes" in asked:  # no card to read, or a budget in minutes
        return
    steps = config_for(name, **asked).steps
    if trained != steps:
        raise ValueError(f"{folder} holds a finished run of {name} of {trained} steps "
                         f"(its card), not {steps}: give another --runs folder, or remove that "
                         "run to train it again")


def seed_scores(name: str, seeds: list[int], runs: Path) -> dict[int, dict[str, float]]:
    """The scores of the finished runs of ``name`` among ``seeds``."""
    out = {}
    for seed in seeds:
        scores_file = _run_dir(runs, name, seed) / "scores.json"
        if scores_file.is_file():
            out[seed] = json.loads(scores_file.read_text())
    return out


def summarise(scores: dict[int, dict[str, float]], headline: str) -> tuple[int, list[str]]:
    """The median seed by ``headline`` (the lower-scoring of the two middle ones for an even
    count) and the card's section: per-seed scores, mean and sample standard deviation."""
    if len(scores) < 2:
        raise ValueError(f"a spread needs at least two seeds, got {sorted(scores)}")
    ranked = sorted(scores, key=lambda s: (scores[s][headline], s))
    median = ranked[(len(ranked) - 1) // 2]
    # the scores, not the timings (``seconds_*``: they measure the machine's load, not the seed)
    keys = [k for k in next(iter(scores.values()))
            if isinstance(scores[median][k], float) and not k.startswith("seconds")]
    seeds = sorted(scores)
    lines = [SECTION, "",
             f"- {len(seeds)} training seeds ({', '.join(map(str, seeds))}), each the same recipe "
             f"and budget; the shipped checkpoint is seed {median}'s, the median by `{headline}`; "
             "sd is the sample standard deviation over the seeds", "",
             "| metric | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd |",
             "| --- |" + " ---: |" * (len(seeds) + 1)]
    for key in keys:
        values = [scores[s][key] for s in seeds]
        lines.append(f"| {key} | " + " | ".join(f"{v:.3f}" for v in values)
                     + f" | {statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} |")
    return median, lines + [""]


def ship_median(name: str, seeds: list[int], runs: Path, *, folder: Path = FOLDER) -> int:
    """Copy the median seed's checkpoint and card of ``name`` into ``folder`` (the package's
    ``checkpoints/``) and add the ``## Seeds`` section to the card; return that seed."""
    scores = seed_scores(name, seeds, runs)
    missing = sorted(set(seeds) - set(scores))
    if missing:
        raise ValueError(f"{name}: seeds {missing} are not finished; run them first")
    entry = ZOO[name]
    median, section = summarise(scores, HEADLINE[entry.task])
    run = _run_dir(runs, name, median)
    folder.mkdir(parents=True, exist_ok=True)
    copy_atomically(run / entry.checkpoint.name, folder / entry.checkpoint.name)
    shutil.copyfile(run / entry.card.name, folder / entry.card.name)
    replace_card_section(folder / entry.card.name, section)
    return median


@dataclass(frozen=True)
class Spread:
    """A shipped model's scores over its training seeds, as its card's ``## Seeds`` section gives
    them (3 decimals): ``scores[metric]`` holds one value per seed of ``seeds``; ``shipped`` is the
    seed whose checkpoint ships; ``printed[metric]`` is the card's "mean ± sd" cell, computed from
    the unrounded scores (a mean of the rounded ones may differ in its last digit)."""

    seeds: tuple[int, ...]
    shipped: int
    scores: dict[str, tuple[float, ...]]
    printed: dict[str, str] = field(default_factory=dict)

    def mean(self, metric: str) -> float:
        return statistics.mean(self.scores[metric])

    def sd(self, metric: str) -> float:
        """The sample standard deviation over the seeds."""
        return statistics.stdev(self.scores[metric])

    def text(self, metric: str) -> str:
        """``"0.912 ± 0.004"``: the mean and sd of ``metric``, as the card prints them."""
        return self.printed.get(metric) or f"{self.mean(metric):.3f} ± {self.sd(metric):.3f}"


def card_spread(name: str, *, folder: Path = FOLDER) -> Spread:
    """The ``## Seeds`` section of zoo entry ``name``'s card in ``folder``, read back (what
    :func:`ship_median` wrote), for the chapters that compare models with their spread. A card
    of a single training run has no such section: a ``ValueError`` says how to add one."""
    entry = ZOO[name]
    return read_spread(folder / entry.card.name,
                       retrain=f"python -m segedu.zoo.seeds {entry.task.value} --names {name}")


def read_spread(path: Path, *, retrain: str) -> Spread:
    """The ``## Seeds`` section of the card at ``path`` read back (any card :func:`summarise`'s
    section was added to: a zoo entry's, :func:`card_spread`, or a few-label run's); a card
    without one is a ``ValueError`` naming the command ``retrain`` that adds it."""
    section = card_section_text(path, SECTION)
    if section is None:
        raise ValueError(f"{path} has no '{SECTION}' section: it was trained with one seed; "
                         f"`{retrain}` retrains it with three")
    shipped = int(re.search(r"the shipped checkpoint is seed (\d+)'s", section).group(1))
    header = next(line for line in section.splitlines() if line.startswith("| metric |"))
    seeds = tuple(int(cell) for cell in re.findall(r"seed (\d+)", header))
    scores, printed = {}, {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == len(seeds) + 2 and re.fullmatch(r"-?\d+\.\d+", cells[1]):
            scores[cells[0]] = tuple(float(cell) for cell in cells[1:-1])
            printed[cells[0]] = cells[-1]
    return Spread(seeds=seeds, shipped=shipped, scores=scores, printed=printed)


def spreads(names: list[str], *, folder: Path = FOLDER) -> dict[str, Spread]:
    """:func:`card_spread` of those of ``names`` whose cards have a ``## Seeds`` section (a model
    not yet retrained with several seeds is left out), for a table that marks the others."""
    return {name: card_spread(name, folder=folder) for name in names
            if card_section_text(folder / ZOO[name].card.name, SECTION) is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.seeds",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=[t.value for t in Task])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", type=Path, default=Path("zoo_runs"),
                        help="folder of the runs (one per model and seed)")
    parser.add_argument("--names", nargs="+", help="only these entries of the family")
    parser.add_argument("--steps", type=int, help="default: the entry's (the family's budget)")
    parser.add_argument("--minutes", type=float,
                        help="instance and detection models: instead of --steps, train as many "
                             "steps as fit in this many minutes (timed on the warm-up)")
    parser.add_argument("--workers", type=int,
                        help="instance and panoptic models: DataLoader worker processes")
    parser.add_argument("--init-from", type=Path,
                        help="instance and panoptic models: start every seed from this zoo "
                             "checkpoint (Panoptic FPN: the zoo's Mask R-CNN)")
    parser.add_argument("--ship-to", type=Path, default=FOLDER,
                        help="where the median seed's checkpoint and card go")
    args = parser.parse_args(argv)
    task = Task(args.task)
    family = [n for n, e in ZOO.items() if e.task is task]
    names = args.names or family
    if set(names) - set(family):
        parser.error(f"not {task.value} models: {sorted(set(names) - set(family))}")
    settings = {key: value for key, value in (("steps", args.steps), ("minutes", args.minutes),
                                              ("workers", args.workers),
                                              ("init_from", args.init_from))
                if value is not None}
    for name in names:
        for seed in args.seeds:
            scores = run_seed(name, seed, args.runs, **settings)
            print(f"{name} seed {seed}: {HEADLINE[task]} {scores[HEADLINE[task]]:.4f}",
                  flush=True)
        if len(args.seeds) > 1:
            median = ship_median(name, args.seeds, args.runs, folder=args.ship_to)
            print(f"{name}: shipped seed {median} to {args.ship_to}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
