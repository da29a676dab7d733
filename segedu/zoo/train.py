"""``python -m segedu.zoo.train <name> [--steps N] [--out DIR]``: train a zoo model, write its card.

The recipe, the same for every zoo model: ``SyntheticScenes`` of 64x64 pixels (training scenes
from seed 0, a held-out split of 500 scenes from seed 1 that training never sees), Adam with a
cosine learning-rate decay, cross-entropy plus soft Dice, batch 32, AMP on a GPU. The checkpoint
is saved in float16 with the model card (the command, the steps, the time, per-class IoU and mIoU
on the held-out split).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..config import device as best_device
from ..config import seed_everything
from ..data import SyntheticScenes
from ..engine import fit
from ..losses import ce_dice_loss
from ..metrics import iou_per_class
from ..models import get_model
from . import FOLDER, ZOO

SIZE, TRAIN_SCENES, TEST_SCENES = 64, 8000, 500


def _semantic(image, target):
    return image.as_subclass(torch.Tensor), target["semantic"]


def evaluate(model: torch.nn.Module, device: torch.device) -> torch.Tensor:
    """Per-class IoU (6,) on the held-out split (seed 1)."""
    test = SyntheticScenes(size=SIZE, length=TEST_SCENES, seed=1, transforms=_semantic)
    model.eval()
    preds, labels = [], []
    with torch.no_grad():
        for images, target in DataLoader(test, batch_size=64):
            preds.append(model(images.to(device)).argmax(1).cpu())
            labels.append(target)
    return iou_per_class(torch.cat(preds), torch.cat(labels), len(SyntheticScenes.classes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.train", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(ZOO))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=FOLDER)
    args = parser.parse_args(argv)
    entry, device = ZOO[args.name], best_device()
    seed_everything(0)
    model = get_model(entry.model, **entry.kwargs)
    train = SyntheticScenes(size=SIZE, length=TRAIN_SCENES, seed=0, transforms=_semantic)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    start = time.perf_counter()
    fit(model, DataLoader(train, batch_size=32, shuffle=True), loss_fn=lambda out, y: ce_dice_loss(out.float(), y),
        optimizer=optimizer, scheduler=scheduler, max_steps=args.steps, device=device,
        amp=device.type == "cuda", progress=False, live_plot=False)
    minutes = (time.perf_counter() - start) / 60
    iou = evaluate(model, device)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()},
               args.out / entry.checkpoint.name)
    classes = SyntheticScenes.classes
    command = "python -m segedu.zoo.train " + " ".join(argv if argv is not None else sys.argv[1:])
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} CPU"
    count = sum(p.numel() for p in model.parameters())
    card = [
        f"# Zoo model `{args.name}` on synthetic scenes",
        "",
        f"- model: `get_model({entry.model!r}, {', '.join(f'{k}={v!r}' for k, v in entry.kwargs.items())})`, "
        f"{count:,} parameters, stored in float16",
        f"- trained {datetime.date.today()} with `{command}` on {where}, {args.steps} steps in {minutes:.1f} min "
        f"(batch 32, {SIZE}x{SIZE} scenes from seed 0, Adam 3e-3 with cosine decay, cross-entropy + soft Dice)",
        f"- held-out split: {TEST_SCENES} scenes from seed 1, never seen in training",
        "",
        "| class | IoU |",
        "| --- | ---: |",
        *[f"| {name} | {value:.3f} |" for name, value in zip(classes, iou.tolist(), strict=True)],
        f"| **mIoU** | **{float(iou.nanmean()):.3f}** |",
        "",
    ]
    (args.out / entry.card.name).write_text("\n".join(card))
    print("\n".join(card))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
