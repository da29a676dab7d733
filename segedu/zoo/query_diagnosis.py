"""Why does a query model miss things? ``python -m segedu.zoo.query_diagnosis mask2former``.

A query model (Mask2Former, EoMT) answers with ``Q`` (mask, class) pairs; panoptic inference
keeps a query whose top class is not "no object" with probability above
``object_mask_threshold`` (0.8), and a segment when ``overlap_threshold`` (0.8) of its mask is
its own. A thing can then be lost at three places, and this diagnosis measures each on the
held-out scenes (seed 1):

1. **localisation**: no query's mask (sigmoid > 0.5, at the image's size) overlaps the thing
   with IoU >= 0.5 (``localised``: the share of things that some query does find; ``best_iou``:
   the mean of each thing's best IoU);
2. **recognition**: the query that localises it best gives it the wrong class or "no object"
   (``best_query_right_class``, ``best_query_no_object``, ``best_query_p_true``: the mean
   probability of the true class); and whether *any* localising query (IoU >= 0.5) names it
   (``some_query_right_class``; ``localising_queries``: how many queries localise a thing, on
   average): a thing whose best mask says "no object" while a duplicate query names it is a
   choice between queries, not a thing that no query recognises;
3. **inference**: the query is right but its probability is under the threshold, or its mask
   loses its pixels to another query (``pq_things`` for the thresholds of :data:`THRESHOLDS`).

The results replace the card's section ``## Why things are missed``, with the command. With
``--checkpoint PATH --title TITLE`` (a run of the same entry that is not shipped, e.g. a longer
budget) the same measures of that run go into the card's section ``## Why things are missed:
TITLE``, beside the shipped model's, so that the card shows what the run changed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.synthetic_scenes import SCENE_THINGS
from ..models import get_model
from . import FOLDER, ZOO
from .cards import card_section_text, replace_card_section, where
from .float16 import load_float32
from .panoptic import evaluate_panoptic, held_out_panoptic, mask2former_panoptic

__all__ = ["THRESHOLDS", "SECTION", "diagnose", "section_title", "card_section", "card_diagnosis",
           "load_run", "add_run_options", "check_run_options", "run_option_text", "main"]

THRESHOLDS = ((0.8, 0.8), (0.5, 0.8), (0.25, 0.8), (0.5, 0.5), (0.25, 0.5))
SECTION = "## Why things are missed"
LENGTH = 200


@torch.no_grad()
def _thing_answers(model: torch.nn.Module, images: list[torch.Tensor], truth: torch.Tensor,
                   batch: int = 16) -> dict[str, float]:
    """Localisation and recognition of every ground-truth thing (module docstring, 1 and 2)."""
    best_iou, right, no_object, p_true, some_right, localising = [], [], [], [], [], []
    for start in range(0, len(images), batch):
        outputs = model(torch.stack(images[start:start + batch]))
        size = images[0].shape[-2:]
        masks = F.interpolate(outputs["pred_masks"].float(), size=size, mode="bilinear",
                              align_corners=False).sigmoid() > 0.5  # (B, Q, H, W)
        probs = outputs["pred_logits"].float().softmax(-1)  # (B, Q, K + 1), K + 1: no object
        for b, panoptic in enumerate(truth[start:start + batch]):
            category, instance = panoptic[..., 0], panoptic[..., 1]
            for c in SCENE_THINGS:
                for i in instance[(category == c) & (instance > 0)].unique().tolist():
                    thing = (category == c) & (instance == i)
                    inter = (masks[b] & thing).flatten(1).sum(1).float()
                    union = (masks[b] | thing).flatten(1).sum(1).float()
                    iou = inter / union.clamp(min=1)
                    q = int(iou.argmax())
                    best_iou.append(float(iou[q]))
                    top = int(probs[b, q].argmax())
                    right.append(top == c)
                    no_object.append(top == probs.shape[-1] - 1)
                    p_true.append(float(probs[b, q, c]))
                    found = iou >= 0.5  # every query that localises the thing
                    localising.append(int(found.sum()))
                    some_right.append(bool((probs[b, found].argmax(-1) == c).any()))
    n = len(best_iou)
    return {"things": n,
            "localised": sum(v >= 0.5 for v in best_iou) / n,
            "best_iou": sum(best_iou) / n,
            "best_query_right_class": sum(right) / n,
            "best_query_no_object": sum(no_object) / n,
            "best_query_p_true": sum(p_true) / n,
            "some_query_right_class": sum(some_right) / n,
            "localising_queries": sum(localising) / n}


def diagnose(model: torch.nn.Module, *, length: int = LENGTH) -> dict[str, float]:
    """The three measures of the module docstring on the first ``length`` held-out scenes; the
    PQ keys are ``pq_things@<object threshold>/<overlap threshold>``."""
    model.eval()
    images, truth = held_out_panoptic(length)
    out = _thing_answers(model, images, truth)
    for objects, overlap in THRESHOLDS:
        score = evaluate_panoptic(
            lambda batch, o=objects, v=overlap: mask2former_panoptic(
                model, batch, object_mask_threshold=o, overlap_threshold=v), length=length)
        out[f"pq_things@{objects:g}/{overlap:g}"] = score["pq_things"]
        out[f"pq_stuff@{objects:g}/{overlap:g}"] = score["pq_stuff"]
    return out


def section_title(title: str | None = None) -> str:
    """The heading of the shipped model's section, or of the run ``title``'s."""
    return SECTION if title is None else f"{SECTION}: {title}"


def card_section(name: str, result: dict[str, float], *, minutes: float,
                 length: int, checkpoint: Path | None = None,
                 title: str | None = None, num_queries: int | None = None) -> list[str]:
    """The card's section: the command, the measures and the threshold sweep (of the run
    ``checkpoint`` under ``title``, when given, instead of the shipped model; ``num_queries``
    where that run had another number of queries than the entry's model)."""
    option = run_option_text(checkpoint, title, num_queries)
    rows = [
        ("things in the scenes", f"{int(result['things'])}"),
        ("localised: some query's mask has IoU >= 0.5", f"{result['localised']:.3f}"),
        ("mean best IoU of a query's mask", f"{result['best_iou']:.3f}"),
        ("best-localising query gives the right class", f"{result['best_query_right_class']:.3f}"),
        ("best-localising query says 'no object'", f"{result['best_query_no_object']:.3f}"),
        ("its mean probability of the true class", f"{result['best_query_p_true']:.3f}"),
        ("some localising query gives the right class",
         f"{result['some_query_right_class']:.3f}"),
        ("queries localising a thing (mean)", f"{result['localising_queries']:.3f}"),
    ]
    lines = [section_title(title), "",
             f"- measured {time.strftime('%Y-%m-%d')} with `python -m segedu.zoo.query_diagnosis "
             f"{name}{option}` on {where('cpu')} in {minutes:.1f} min, on the first {length} "
             "held-out scenes (seed 1)", "",
             "| measure | value |", "| --- | ---: |",
             *[f"| {k} | {v} |" for k, v in rows], "",
             "| object threshold | overlap threshold | PQ things | PQ stuff |",
             "| ---: | ---: | ---: | ---: |"]
    for objects, overlap in THRESHOLDS:
        key = f"{objects:g}/{overlap:g}"
        lines.append(f"| {objects:g} | {overlap:g} | {result['pq_things@' + key]:.3f} | "
                     f"{result['pq_stuff@' + key]:.3f} |")
    return lines + [""]


# the card's row names -> the keys of diagnose()
_ROWS = {"things in the scenes": "things",
         "localised: some query's mask has IoU >= 0.5": "localised",
         "mean best IoU of a query's mask": "best_iou",
         "best-localising query gives the right class": "best_query_right_class",
         "best-localising query says 'no object'": "best_query_no_object",
         "its mean probability of the true class": "best_query_p_true",
         "some localising query gives the right class": "some_query_right_class",
         "queries localising a thing (mean)": "localising_queries"}


def card_diagnosis(name: str, *, folder: Path = FOLDER,
                   title: str | None = None) -> dict[str, float]:
    """The section that :func:`card_section` wrote into zoo model ``name``'s card (in
    ``folder``; the run ``title``'s when given), read back with :func:`diagnose`'s keys (3
    decimals), for a chapter to quote."""
    section = measured_section(name, section_title(title), folder=folder,
                               command="query_diagnosis", run=title is not None)
    out = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] in _ROWS:
            out[_ROWS[cells[0]]] = float(cells[1])
        elif len(cells) == 4 and cells[0].replace(".", "").isdigit():
            key = f"{float(cells[0]):g}/{float(cells[1]):g}"
            out[f"pq_things@{key}"], out[f"pq_stuff@{key}"] = float(cells[2]), float(cells[3])
    return out


def load_run(name: str, checkpoint: Path | None = None, *,
             num_queries: int | None = None) -> torch.nn.Module:
    """Zoo entry ``name``'s shipped model, or (``checkpoint``, a float16 file of a run not
    shipped) the entry's architecture with that run's weights, built with ``num_queries`` where
    the run had another number of queries than the entry's model; in eval mode."""
    if checkpoint is None:
        return get_model(name, weights="zoo").eval()
    queries = {} if num_queries is None else {"num_queries": num_queries}
    model = get_model(ZOO[name].model, **{**ZOO[name].kwargs, **queries})
    model.load_state_dict(load_float32(checkpoint))
    return model.eval()


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The command-line options that name a run not shipped (``--checkpoint``, ``--title``,
    ``--num-queries``), shared by the measurements that write a card section per run."""
    parser.add_argument("--checkpoint", type=Path, help="measure this float16 checkpoint of "
                        "the model (a run not shipped), into the card's section of --title")
    parser.add_argument("--title", help="with --checkpoint: what the run is, e.g. '6000 steps, "
                        "one run, not shipped'")
    parser.add_argument("--num-queries", type=int, help="with --checkpoint: the run's number of "
                        "queries, where it was trained with another than the entry's")


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what :func:`add_run_options`' options cannot mean, naming the problem."""
    if args.name not in ZOO or not ZOO[args.name].checkpoint.is_file():
        parser.error(f"{args.name!r} is not a shipped zoo model")
    if (args.checkpoint is None) != (args.title is None):
        parser.error("--checkpoint and --title go together")
    if args.num_queries is not None and args.checkpoint is None:
        parser.error("--num-queries describes a --checkpoint's run")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        parser.error(f"no checkpoint at {args.checkpoint}")


def measured_section(name: str, heading: str, *, folder: Path, command: str, run: bool) -> str:
    """The section under ``heading`` of zoo model ``name``'s card in ``folder``; a card without
    it raises a ``ValueError`` naming ``python -m segedu.zoo.<command>`` (with the run's options
    when ``run``), which writes it."""
    path = folder / ZOO[name].card.name
    section = card_section_text(path, heading)
    if section is None:
        raise ValueError(f"{path} has no '{heading}' section: run "
                         f"`python -m segedu.zoo.{command} {name}`"
                         + (" --checkpoint <the run> --title ..." if run else ""))
    return section


def run_option_text(checkpoint: Path | None, title: str | None,
                    num_queries: int | None) -> str:
    """The options of :func:`add_run_options` as the card's command repeats them."""
    option = "" if checkpoint is None else f" --checkpoint {checkpoint} --title '{title}'"
    return option + ("" if num_queries is None else f" --num-queries {num_queries}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.query_diagnosis",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a query model of the zoo (mask2former, eomt_...)")
    parser.add_argument("--length", type=int, default=LENGTH, help="held-out scenes")
    add_run_options(parser)
    args = parser.parse_args(argv)
    check_run_options(parser, args)
    return measure_into_card(
        args, lambda model: diagnose(model, length=args.length),
        lambda result, minutes: card_section(
            args.name, result, minutes=minutes, length=args.length, checkpoint=args.checkpoint,
            title=args.title, num_queries=args.num_queries))


def measure_into_card(args: argparse.Namespace, measure, section) -> int:
    """The measurement commands' end: the run of :func:`add_run_options`'s ``args``
    (:func:`load_run`), ``measure(model) -> result`` timed, ``section(result, minutes)`` (the
    card's lines) written into the entry's card in place of its earlier section, and printed."""
    model = load_run(args.name, args.checkpoint, num_queries=args.num_queries)
    start = time.perf_counter()
    result = measure(model)
    lines = section(result, (time.perf_counter() - start) / 60)
    replace_card_section(FOLDER / ZOO[args.name].card.name, lines)
    print(*lines, sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
