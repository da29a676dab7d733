"""Several seeds of a few-label run, the median shipped, the shipped networks loaded, and the
command ``python -m segedu.zoo.few_labels`` (:mod:`segedu.zoo.few_labels`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace as dataclass_replace
from pathlib import Path

from torch import nn

from ...data import SyntheticScenes
from ...engine import copy_atomically
from ...models import get_model
from ...semi import CAMClassifier
from .. import FOLDER
from ..cards import replace_card_section
from ..float16 import load_float32
from ..seeds import Spread, read_spread, summarise
from .config import LABELLED, METHODS, RUNS, UNET, FewLabelConfig, card_path
from .recipe import card_scores, card_settings, train

__all__ = ["run_seeds", "same_settings", "card_spread", "load_few_label_model",
           "load_cam_classifier", "main"]


def _run_files(config: FewLabelConfig) -> list[str]:
    """The files a run writes into ``config.out``: checkpoint, card, and the ``cam`` run's
    classifier or the ``pseudo_labels`` run's teacher (round 0) and models of the rounds before
    the last."""
    base = f"unet_fewlabels_{config.run_name}"
    extra = {"cam": ["_classifier.pt"],
             "pseudo_labels": [f"_round{r}.pt" for r in range(config.rounds)]}
    return [f"{base}.pt", f"{base}.md", *(base + e for e in extra.get(config.method, []))]


def same_settings(config: FewLabelConfig) -> None:
    """Check that the card at ``config.card_path`` was trained with ``config``'s settings: each
    settings line it records (:func:`~.recipe.card_settings`: the method, the labels, the budget,
    the held-out split and, in cards that have it, the line of every setting) must be the line
    ``config`` gives. A ``ValueError`` names the card and both lines of the first that differs,
    or says that the card records none of them."""
    path = config.card_path
    lines = path.read_text(encoding="utf8").splitlines()
    asked = card_settings(config)
    prefixes = {kind: line.split(": ", 1)[0] + ": " for kind, line in asked.items()}
    recorded = {kind: next((line for line in lines if line.startswith(prefix)), None)
                for kind, prefix in prefixes.items()}
    if all(line is None for line in recorded.values()):
        raise ValueError(f"{path} records no settings (none of the lines "
                         f"{', '.join(repr(p.strip()) for p in prefixes.values())}), so it cannot "
                         f"tell whether it was trained as asked:\n  asked: {asked['settings']}\n"
                         f"Move it away to train this run, or write its runs to another --runs "
                         f"folder")
    for kind, line in recorded.items():
        if line is not None and line != asked[kind]:
            raise ValueError(f"{path} was trained with other settings than asked for:\n"
                             f"  the card: {line}\n  asked:    {asked[kind]}\n"
                             f"Ask for the card's settings, or write the runs of these settings "
                             f"to another --runs folder (or give them another --suffix)")


def run_seeds(config: FewLabelConfig, seeds: list[int], runs: Path, *,
              folder: Path = FOLDER) -> int:
    """Train ``config``'s run once per seed of ``seeds`` into ``runs/seed<k>/`` (a seed whose
    card is there is done, if the card records ``config``'s settings: :func:`same_settings`
    refuses it otherwise; an interrupted one resumes from its work folder), then ship the
    median seed's files (by held-out mIoU) into ``folder`` and add the ``## Seeds`` section
    (:func:`segedu.zoo.seeds.summarise`) to its card; return that seed. ``pseudo_labels`` of
    seed k starts from ``supervised`` of seed k, in the same run folder."""
    scores = {}
    for seed in seeds:
        run = dataclass_replace(config, seed=seed, out=Path(runs) / f"seed{seed}")
        if card_path(run.run_name, run.out).is_file():
            same_settings(run)  # done before, with these settings: scored from its card
        else:
            train(run)
        scores[seed] = card_scores(run.run_name, run.out)
        print(f"{run.run_name} seed {seed}: mIoU {scores[seed]['miou']:.4f}", flush=True)
    median, section = summarise(scores, "miou")
    shipped = dataclass_replace(config, seed=median, out=Path(runs) / f"seed{median}")
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name in _run_files(shipped):
        copy_atomically(shipped.out / name, Path(folder) / name)
    replace_card_section(card_path(shipped.run_name, folder), section)
    return median


def card_spread(run_name: str, folder: Path = FOLDER) -> Spread:
    """The shipped run's scores over its seeds (its card's ``## Seeds`` section): one mIoU and
    one IoU per class per seed, for chapter 19's comparison with error bars."""
    method = next(m for m in METHODS if run_name.startswith(m))  # no method begins another
    suffix = run_name[len(method):]
    return read_spread(card_path(run_name, folder), retrain=(
        f"python -m segedu.zoo.few_labels {method} --seeds 0 1 2 --runs {RUNS}"
        + (f" --suffix {suffix} (and the other options of the command in its card)"
           if suffix else "")))


def load_few_label_model(name: str, folder: Path = FOLDER) -> nn.Module:
    """The U-Net of checkpoint ``unet_fewlabels_<name>.pt`` (a method, or
    ``pseudo_labels_round1``), in eval mode."""
    path = Path(folder) / f"unet_fewlabels_{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce it with "
                                f"`python -m segedu.zoo.few_labels {name.split('_round')[0]}`")
    model = get_model(UNET.model, **UNET.kwargs)
    model.load_state_dict(load_float32(path))
    return model.eval()


def load_cam_classifier(folder: Path = FOLDER) -> CAMClassifier:
    """The ``cam`` run's classifier (``unet_fewlabels_cam_classifier.pt``), in eval mode."""
    path = Path(folder) / "unet_fewlabels_cam_classifier.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce it with "
                                "`python -m segedu.zoo.few_labels cam`")
    classifier = CAMClassifier(num_classes=len(SyntheticScenes.classes))
    classifier.load_state_dict(load_float32(path))
    return classifier.eval()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.few_labels",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("--steps", type=int, default=800, help="steps of each network")
    parser.add_argument("--out", type=Path, default=FOLDER, help="folder of checkpoint and card")
    parser.add_argument("--work", type=Path, help="folder of the resumable states")
    parser.add_argument("--suffix", default="", help="added to the names of checkpoint and card "
                        "(a run at another budget: --steps 2400 --suffix _long)")
    parser.add_argument("--labelled", type=float, default=LABELLED, help="the fraction of the "
                        "training scenes whose masks are used (a run with labels scarcer than "
                        "the chapter's: --labelled 0.001 --suffix _2scenes)")
    parser.add_argument("--seed", type=int, default=0, help="the training seed of one run")
    parser.add_argument("--seeds", type=int, nargs="+", help="train once per seed into "
                        "--runs/seed<k>/ and ship the median seed to --out, with the spread")
    parser.add_argument("--runs", type=Path, default=RUNS,
                        help="with --seeds: the folder of the runs")
    args = parser.parse_args(argv)
    if args.seeds is not None and (len(set(args.seeds)) < 2 or "--seed" in argv):
        parser.error("--seeds takes two or more different seeds, and replaces --seed")
    extra = {"work": args.work} if args.work is not None else {}
    config = FewLabelConfig(args.method, steps=args.steps, out=args.out, device="cpu",
                            suffix=args.suffix, seed=args.seed, labelled=args.labelled,
                            command="python -m segedu.zoo.few_labels " + " ".join(argv), **extra)
    if args.seeds is None:
        train(config)
    else:
        median = run_seeds(config, args.seeds, args.runs, folder=args.out)
        print(f"{config.run_name}: shipped seed {median} to {args.out}")
    return 0

