"""Speed of segedu's Mask R-CNN (ResNet-50 FPN) against torchvision's: inference, a training step.

    python benchmarks/mask_rcnn_speed.py                # CPU: 2 images of 480x640, min_size 480
    python benchmarks/mask_rcnn_speed.py --device cuda  # GPU: the same at min_size 800 (COCO's)

The two models are the same network with the same weights
(tests/models/top_down/test_rcnn_torchvision.py proves their outputs equal), given the same images.
**Inference**: ``model.eval()`` on a batch of two images, under ``torch.no_grad()``, masks pasted
into the images included. **Training step**: forward with targets, the sum of the losses, backward
and an SGD update (the same seed before each step, so both sample the same anchors and proposals).
Each library's steps alternate with the other's so that a change of load falls on both; each time is
the best of ``--repeats`` after one warm-up. The ratio is segedu's time over torchvision's (below 1:
segedu is faster).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch
import torchvision

import segedu.models.top_down.detection  # noqa: F401  (registers the models)
from segedu.models.registry import get_model

RESULTS = Path(__file__).parent / "results" / "mask_rcnn_speed.md"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def inference(model, images, device) -> float:
    model.eval()
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        model(images)
    _sync(device)
    return time.perf_counter() - start


def training_step(model, optimizer, images, targets, device) -> float:
    model.train()
    torch.manual_seed(0)
    _sync(device)
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    sum(model(images, targets).values()).backward()
    optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def best_alternating(run_ours, run_theirs, repeats: int) -> tuple[float, float]:
    """Best time of each, their runs alternating, after one warm-up run each."""
    times: list[list[float]] = [[], []]
    for i in range(1 + repeats):
        for run, kept in zip((run_ours, run_theirs), times, strict=True):
            elapsed = run()
            if i > 0:
                kept.append(elapsed)
    return min(times[0]), min(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--min-size", type=int, default=None,
                        help="default: 480 on the CPU, 800 on a GPU")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    min_size = args.min_size or (800 if device.type == "cuda" else 480)
    kwargs = {"min_size": min_size, "max_size": 1333}

    torch.manual_seed(0)
    theirs = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                                **kwargs)
    ours = get_model("maskrcnn_resnet50_fpn", **kwargs)
    ours.load_state_dict(theirs.state_dict())
    # confident class scores: inference then keeps 100 detections (and pastes 100 masks)
    with torch.no_grad():
        for model in (ours, theirs):
            model.roi_heads.box_predictor.cls_score.weight.mul_(50)
    ours, theirs = ours.to(device), theirs.to(device)

    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, 480, 640, generator=g).to(device) for _ in range(2)]
    targets = []
    for _ in images:
        corners = torch.rand(4, 2, generator=g) * torch.tensor([400.0, 300.0])
        boxes = torch.cat([corners, corners + 40 + torch.rand(4, 2, generator=g) * 160], dim=1)
        masks = torch.zeros(4, 480, 640, dtype=torch.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes.int().tolist(), strict=True):
            mask[y1:y2, x1:x2] = 1
        targets.append({"boxes": boxes.to(device),
                        "labels": torch.randint(1, 91, (4,), generator=g).to(device),
                        "masks": masks.to(device)})

    rows = []
    t_ours, t_theirs = best_alternating(lambda: inference(ours, images, device),
                                        lambda: inference(theirs, images, device), args.repeats)
    rows.append(("inference (eval, 2 images)", t_ours, t_theirs))
    print(f"inference: segedu {t_ours:.3f} s, torchvision {t_theirs:.3f} s, ratio "
          f"{t_ours / t_theirs:.2f}")
    optimizers = [torch.optim.SGD(m.parameters(), lr=1e-5, momentum=0.9) for m in (ours, theirs)]
    t_ours, t_theirs = best_alternating(lambda: training_step(ours, optimizers[0], images, targets,
                                                              device),
                                        lambda: training_step(theirs, optimizers[1], images,
                                                              targets, device),
                                        args.repeats)
    rows.append(("training step (SGD, 2 images)", t_ours, t_theirs))
    print(f"training step: segedu {t_ours:.3f} s, torchvision {t_theirs:.3f} s, ratio "
          f"{t_ours / t_theirs:.2f}")

    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    command = " ".join(["python benchmarks/mask_rcnn_speed.py", *sys.argv[1:]])
    lines = [
        "# Mask R-CNN (ResNet-50 FPN) speed: segedu vs torchvision",
        "",
        f"Measured {datetime.date.today()} with `{command}` on {where}; 2 images of 3x480x640 "
        f"resized to min_size {min_size}, the same weights in both, best of {args.repeats} "
        "alternating runs per library.",
        "",
        "| step | segedu s | torchvision s | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {name} | {a:.3f} | {b:.3f} | {a / b:.2f} |" for name, a, b in rows]
    RESULTS.parent.mkdir(exist_ok=True)
    text = "\n".join(lines) + "\n"
    if device.type == "cuda" and RESULTS.exists():  # keep the CPU table, add the GPU one
        text = RESULTS.read_text() + "\n" + "\n".join(lines[2:]) + "\n"
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
