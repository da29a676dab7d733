"""``python -m segedu.zoo.train <name> [--steps N] [--out DIR]``: train a zoo model, write its card.

The recipe, the same for every zoo model:

- data: 8000 ``SyntheticScenes`` of 128 x 128 pixels from seed 0, drawn once and kept in memory
  (an epoch is 500 steps); the held-out split (:mod:`segedu.zoo.scores`, 500 scenes from seed 1)
  is never seen in training;
- the entry's ``steps`` (5000 for U-Net and DeepLabv3+, 3000 for the others) of batch 16, Adam
  from the entry's ``lr`` (3e-3 unless the entry says otherwise) with a cosine decay to 0, AMP on
  a GPU;
- loss: cross-entropy plus soft Dice; a model that returns a dict with an auxiliary output (FCN,
  PSPNet) adds 0.4 times the same loss on ``"aux"``, the PSPNet paper's weight.

The checkpoint is saved in float16 with the model card (the command, the steps, the time, the
machine, per-class IoU and mIoU on the held-out split).

Instance segmentation entries (``task="instances"``: Mask R-CNN, YOLACT; ``task="panoptic"``:
Panoptic FPN, scored by PQ with :mod:`segedu.zoo.panoptic`) follow
:func:`segedu.zoo.instances.train` instead (their own losses, AdamW, warm-up and cosine decay) and
their card gives mask and box mAP; ``--minutes M`` there lets the warm-up's speed decide how many
steps fit in ``M`` minutes (the card then records the steps, to reproduce with ``--steps``).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from ..config import device as best_device
from ..config import seed_everything
from ..data import SyntheticScenes
from ..engine import fit
from ..losses import ce_dice_loss
from ..models import get_model
from . import FOLDER, ZOO
from .scores import SIZE, TEST_SCENES, evaluate, logits, scene_tensors

TRAIN_SCENES, BATCH = 8000, 16


def zoo_loss(outputs: torch.Tensor | dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + soft Dice on the scores, plus 0.4 times it on ``"aux"`` when there is one."""
    loss = ce_dice_loss(logits(outputs).float(), target)
    if isinstance(outputs, dict) and "aux" in outputs:
        loss = loss + 0.4 * ce_dice_loss(outputs["aux"].float(), target)
    return loss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.train", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(ZOO))
    parser.add_argument("--steps", type=int, help="default: the zoo entry's steps")
    parser.add_argument("--scenes", type=int, default=TRAIN_SCENES, help=argparse.SUPPRESS)  # for the tests
    parser.add_argument("--images", type=int, help=argparse.SUPPRESS)  # cell models, for the tests
    parser.add_argument("--test-images", type=int, help=argparse.SUPPRESS)  # cell models, for the tests
    parser.add_argument("--out", type=Path, default=FOLDER)
    parser.add_argument("--minutes", type=float, help="instance models: train as many steps as fit")
    parser.add_argument("--workers", type=int, default=0, help="instance models: DataLoader workers")
    parser.add_argument("--batch", type=int, help="instance and cell models: the batch size (default: the entry's)")
    parser.add_argument("--lr", type=float, help="instance and cell models: the (peak) learning rate (default: the entry's)")
    parser.add_argument("--init-from", type=Path, help="instance models: continue from this zoo checkpoint "
                        "(its card, beside it, is quoted in the new card)")
    args = parser.parse_args(argv)
    entry, device = ZOO[args.name], best_device()
    seed_everything(0)
    if entry.model == "mask2former":
        return _train_mask2former(args, entry, device, argv)
    if entry.model == "sam_tiny":
        from .sam import train_entry as train_sam_entry

        return train_sam_entry(args, entry, device, argv)
    if entry.task == "features":
        from .dino import train_entry as train_features_entry

        return train_features_entry(args, entry, device, argv)
    if entry.task in ("instances", "panoptic"):
        return _train_instances(args, entry, device, argv)
    if entry.task == "cells":
        return _train_cells(args, entry, device, argv)
    args.steps = args.steps or entry.steps
    model = get_model(entry.model, **entry.kwargs)
    start = time.perf_counter()
    images, labels = scene_tensors(seed=0, length=args.scenes)  # drawn once: (L, 3, S, S), (L, S, S)
    data_minutes = (time.perf_counter() - start) / 60
    optimizer = torch.optim.Adam(model.parameters(), lr=entry.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    with torch.no_grad():  # does the model have an auxiliary output? (eval: BN on one image)
        outputs = model.eval()(images[:1])
        auxiliary = isinstance(outputs, dict) and "aux" in outputs
    start = time.perf_counter()
    fit(model, DataLoader(TensorDataset(images, labels), batch_size=BATCH, shuffle=True), loss_fn=zoo_loss,
        optimizer=optimizer, scheduler=scheduler, max_steps=args.steps, device=device,
        amp=device.type == "cuda", progress=False, live_plot=False)
    minutes = (time.perf_counter() - start) / 60
    iou = evaluate(model, device)
    _save(model, args.out / entry.checkpoint.name)
    classes = SyntheticScenes.classes
    command, where = _command(argv), _where(device)
    card = [
        *_card_head(f"Zoo model `{args.name}` on synthetic scenes", entry, model),
        f"- trained {datetime.date.today()} with `{command}` on {where}: {args.steps} steps in {minutes:.1f} min "
        f"(and {data_minutes:.1f} min to draw the data)",
        f"- recipe: batch {BATCH} from {args.scenes} scenes of {SIZE}x{SIZE} (seed 0, drawn once), "
        f"Adam {entry.lr:g} with cosine decay, cross-entropy + soft Dice"
        f"{', plus 0.4 x the same on the auxiliary output' if auxiliary else ''}",
        f"- held-out split: {TEST_SCENES} scenes from seed 1, never seen in training",
        "",
        "| class | IoU |",
        "| --- | ---: |",
        *[f"| {name} | {value:.3f} |" for name, value in zip(classes, iou.tolist(), strict=True)],
        f"| **mIoU** | **{float(iou.nanmean()):.3f}** |",
        "",
    ]
    _write_card(args.out / entry.card.name, card)
    return 0


def _save(model: torch.nn.Module, path: Path) -> None:
    """The state dict in float16, on the CPU (wherever the model was trained)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}, path)


def _metric_table(score: dict[str, float], names: dict[str, str] | None = None) -> list[str]:
    """The card's ``| metric | value |`` table, 3 decimals (a test re-scores the checkpoint against it);
    ``names`` adds what a metric means after its key."""
    names = names or {}
    rows = [f"| {key}{f' ({names[key]})' if key in names else ''} | {value:.3f} |" for key, value in score.items()]
    return ["| metric | value |", "| --- | ---: |", *rows, ""]


def _write_card(path: Path, card: list[str]) -> None:
    """Write the model card beside the checkpoint, and print it."""
    path.write_text("\n".join(card))
    print("\n".join(card))


def _command(argv: list[str] | None) -> str:
    return "python -m segedu.zoo.train " + " ".join(argv if argv is not None else sys.argv[1:])


def _card_head(title: str, entry, model: torch.nn.Module) -> list[str]:
    """The card's title and the line that says how to build the model."""
    count = sum(p.numel() for p in model.parameters())
    arguments = "".join(f", {k}={v!r}" for k, v in entry.kwargs.items())
    return [f"# {title}", "", f"- model: `get_model({entry.model!r}{arguments})`, {count:,} parameters, "
            "stored in float16"]


def _where(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} thread(s)"


def _train_instances(args: argparse.Namespace, entry, device: torch.device, argv: list[str] | None) -> int:
    """Train a detection-API zoo model, score it on the held-out scenes, write checkpoint and card.

    A panoptic entry (Panoptic FPN) trains on its own targets and is scored by PQ; ``--init-from``
    a Mask R-CNN checkpoint starts its instance branch (the semantic branch starts at random)."""
    from .instances import THING_NAMES, evaluate_instances, train
    from .panoptic import evaluate_panoptic, panoptic_fpn_target, panoptic_scenes

    panoptic = entry.task == "panoptic"
    model = get_model(entry.model, **entry.kwargs)
    earlier = []
    if args.init_from is not None:  # a second run: start from the first one's weights
        state = torch.load(args.init_from, map_location="cpu", weights_only=True)
        missing, unexpected = model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=not panoptic)
        if unexpected or any(not k.startswith("semantic_head.") for k in missing):
            raise ValueError(f"{args.init_from} does not fit {entry.model}: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
        card = args.init_from.with_suffix(".md")
        lines = card.read_text().splitlines() if card.is_file() else []
        quoted = [line[2:] for line in lines if line.startswith(("- trained", "- recipe"))]
        fresh = " (the semantic branch from random weights)" if missing else ""
        earlier = [f"- started from the weights of an earlier run{fresh} "
                   f"({args.init_from.name}: {'; '.join(quoted) or 'no card'})"]
    if args.minutes is None:
        args.steps = args.steps or entry.steps
    lr = args.lr or entry.lr
    dataset = panoptic_scenes(seed=0, length=args.scenes, target=panoptic_fpn_target) if panoptic else None
    run = train(model, steps=args.steps if args.minutes is None else None, minutes=args.minutes, lr=lr,
                batch=args.batch or entry.batch, scenes=args.scenes, device=device, workers=args.workers,
                dataset=dataset)
    if panoptic:
        model.eval()
        score = evaluate_panoptic(lambda images: [d["panoptic"] for d in model([im.to(device) for im in images])])
        scored = (f"held-out split: {TEST_SCENES} scenes from seed 1, never seen in training; PQ, SQ, RQ over the split "
                  "(`segedu.metrics.panoptic_quality`, panopticapi's rules)")
    else:
        score = evaluate_instances(model, device)
        scored = (f"held-out split: {TEST_SCENES} scenes from seed 1, never seen in training; things only "
                  f"({', '.join(THING_NAMES[1:])}); COCO mAP (`segedu.metrics.mean_average_precision`)")
    _save(model, args.out / entry.checkpoint.name)
    kind = "panoptic segmentation" if panoptic else "instance segmentation"
    card = [
        *_card_head(f"Zoo model `{args.name}` on synthetic scenes ({kind})", entry, model),
        f"- trained {datetime.date.today()} with `{_command(argv)}` on {_where(device)}: {run['steps']} steps in "
        f"{run['minutes']:.1f} min (reproduce with `--steps {run['steps']}`)",
        *earlier,
        f"- recipe: batch {args.batch or entry.batch} from {args.scenes} scenes of {SIZE}x{SIZE} (seed 0), the model's own losses, "
        f"AdamW {lr:g} (weight decay 1e-4), 300 warm-up steps then cosine decay, gradients clipped at "
        f"norm 10{', bfloat16 autocast' if device.type == 'cuda' else ''}",
        f"- {scored}",
        "",
        *_metric_table(score),
    ]
    _write_card(args.out / entry.card.name, card)
    return 0


def _train_mask2former(args: argparse.Namespace, entry, device: torch.device, argv: list[str] | None) -> int:
    """Train the zoo's Mask2Former with its set criterion, score PQ on the held-out scenes, write
    checkpoint and card (:func:`segedu.zoo.panoptic.train_mask2former`)."""
    from .panoptic import evaluate_panoptic, mask2former_panoptic, train_mask2former

    model = get_model(entry.model, **entry.kwargs)
    steps, lr, batch = args.steps or entry.steps, args.lr or entry.lr, args.batch or entry.batch
    run = train_mask2former(model, steps=steps, lr=lr, batch=batch, scenes=args.scenes, device=device)
    model.eval()
    score = evaluate_panoptic(lambda images: mask2former_panoptic(model, images))
    _save(model, args.out / entry.checkpoint.name)
    card = [
        *_card_head(f"Zoo model `{args.name}` on synthetic scenes (panoptic segmentation)", entry, model),
        f"- trained {datetime.date.today()} with `{_command(argv)}` on {_where(device)}: {steps} steps in "
        f"{run['minutes']:.1f} min",
        f"- recipe: batch {batch} from {args.scenes} scenes of {SIZE}x{SIZE} (seed 0), one target per segment "
        f"(stuff classes and things), Mask2Former's set criterion (class 2, mask BCE 5, Dice 5 on 1024 "
        f"importance-sampled points per mask, no-object 0.1, every decoder layer), AdamW {lr:g} (weight decay "
        f"0.05), 300 warm-up steps then cosine decay, gradient norm clipped at 0.01"
        f"{', bfloat16 autocast' if device.type == 'cuda' else ''}",
        f"- held-out split: {TEST_SCENES} scenes from seed 1, never seen in training; panoptic inference of the "
        "paper (queries kept above 0.8, segments kept when 0.8 of their mask is theirs); PQ, SQ, RQ over the split "
        "(`segedu.metrics.panoptic_quality`, panopticapi's rules)",
        "",
        *_metric_table(score),
    ]
    _write_card(args.out / entry.card.name, card)
    return 0


def _train_cells(args: argparse.Namespace, entry, device: torch.device, argv: list[str] | None) -> int:
    """Train a bottom-up cell model on synthetic nuclei, score it by object matching, write checkpoint and card."""
    from .cells import SIZE, TEST_IMAGES, TRAIN_IMAGES, evaluate_cells, train_cells

    model = get_model(entry.model, **entry.kwargs)
    steps, batch, lr = args.steps or entry.steps, args.batch or entry.batch, args.lr or entry.lr
    images, test_images = args.images or TRAIN_IMAGES, args.test_images or TEST_IMAGES
    run = train_cells(model, steps=steps, lr=lr, batch=batch, images=images, device=device)
    score = evaluate_cells(model, length=test_images, device=device)
    _save(model, args.out / entry.checkpoint.name)
    card = [
        *_card_head(f"Zoo model `{args.name}` on synthetic cells", entry, model),
        f"- trained {datetime.date.today()} with `{_command(argv)}` on {_where(device)}: {steps} steps in "
        f"{run['minutes']:.1f} min (and {run['data_minutes']:.1f} min to draw the images)",
        f"- recipe: batch {batch} from {images} `SyntheticCells` images of {SIZE}x{SIZE} (seed 0, targets computed "
        f"once), the model's own loss, Adam {lr:g} with cosine decay",
        f"- held-out split: {test_images} images from seed 1, never seen in training; object matching "
        "(`segedu.metrics.matching`) with the counts added over the split",
        "",
        "| IoU threshold | accuracy | F1 |",
        "| --- | ---: | ---: |",
        *[f"| {t / 100:.1f} | {score[f'accuracy_{t}']:.3f} | {score[f'f1_{t}']:.3f} |" for t in (50, 60, 70, 80, 90)],
        "",
        f"Prediction took {score['seconds_per_image'] * 1000:.0f} ms per image ({_where(device)}, batches of 16, "
        "post-processing included).",
        "",
    ]
    _write_card(args.out / entry.card.name, card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
