"""Speed of segedu's metrics against the references, on the same data in one run.

    python benchmarks/metric_speed.py                 # CPU, one thread
    python benchmarks/metric_speed.py --device cuda   # mean IoU on the GPU (mAP stays on the CPU)

* ``mean_iou`` against torchmetrics' ``MulticlassJaccardIndex`` (``average="macro"``): a batch of
  label maps, the whole metric from labels to the scalar, best of several repeats.
* ``mean_average_precision`` against pycocotools' ``COCOeval`` (``evaluate`` + ``accumulate`` +
  ``summarize``, plus building the ``COCO`` objects from the same lists of dicts that segedu takes,
  since a user of either starts from those), for boxes and for masks.

The ratio is segedu's time over the reference's: below 1 means segedu is faster. Both results are
also compared, so a fast but wrong metric cannot pass unnoticed. The table is printed and written to
``benchmarks/results/metric_speed.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "metric_speed.md"


def best_time(fn, repeats: int, device: torch.device) -> tuple[float, object]:
    """The shortest wall time of ``repeats`` calls of ``fn`` (after one warm-up), and its result."""
    result = fn()  # warm-up: first allocations, lazy imports, CUDA kernels
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), result


# --------------------------------------------------------------------------- semantic: mean IoU
def semantic_case(*, batch: int, size: int, num_classes: int, device: torch.device, seed: int = 0):
    """Labels ``(batch, size, size)`` where ~70 % of the predictions are right, 5 %
    ignored (255)."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, (batch, size, size), generator=g)
    noise = torch.randint(0, num_classes, (batch, size, size), generator=g)
    pred = torch.where(torch.rand(target.shape, generator=g) < 0.7, target, noise)
    target[torch.rand(target.shape, generator=g) < 0.05] = 255
    return pred.to(device), target.to(device)


def bench_mean_iou(device: torch.device, repeats: int) -> list[dict]:
    from torchmetrics.functional.classification import multiclass_jaccard_index

    from segedu.metrics import mean_iou

    rows = []
    for batch, size, num_classes in [(8, 256, 21), (8, 512, 21), (4, 512, 150)]:
        pred, target = semantic_case(batch=batch, size=size, num_classes=num_classes, device=device)
        ours_t, ours = best_time(partial(mean_iou, pred, target, num_classes, ignore_index=255),
                                 repeats, device)
        ref_t, ref = best_time(
            partial(multiclass_jaccard_index, pred, target, num_classes, average="macro",
                    ignore_index=255),
            repeats, device)
        # every class occurs in this data, so both conventions for absent classes agree
        agree = abs(float(ours) - float(ref)) < 1e-6
        rows.append({"metric": f"mean_iou {batch}x{size}x{size}, {num_classes} classes",
                     "reference": "torchmetrics multiclass_jaccard_index", "ours": ours_t,
                     "ref": ref_t, "agree": agree})
    return rows


# --------------------------------------------------------------------------- detection: mAP
def detection_case(*, images: int, size: int, num_classes: int, seed: int = 0):
    """Ground truth boxes/masks and noisy detections (moved, rescored, dropped, spurious)."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(images):
        n = int(rng.integers(3, 12))
        xy = rng.uniform(0, size * 0.7, (n, 2))
        wh = rng.uniform(4, size * 0.3, (n, 2))
        gt = np.concatenate([xy, np.minimum(xy + wh, size - 1)], axis=1).round()
        labels = rng.integers(0, num_classes, n)
        keep = rng.random(n) > 0.15  # some objects are missed
        shift = rng.normal(0, 3, (n, 4))
        dets = (gt + shift)[keep].clip(0, size - 1)
        dets[:, 2:] = np.maximum(dets[:, 2:], dets[:, :2] + 1)
        extra = int(rng.integers(0, 8))  # spurious detections
        exy = rng.uniform(0, size * 0.8, (extra, 2))
        spurious = np.concatenate([exy, exy + rng.uniform(4, size * 0.2, (extra, 2))], 1)
        dets = np.concatenate([dets, spurious])
        det_labels = np.concatenate([labels[keep], rng.integers(0, num_classes, extra)])
        scores = rng.random(len(dets)).round(2)  # rounded: some ties, as real detectors give
        targets.append({"boxes": torch.tensor(gt, dtype=torch.float32),
                        "labels": torch.tensor(labels), "masks": boxes_to_masks(gt, size)})
        preds.append({"boxes": torch.tensor(dets, dtype=torch.float32),
                      "scores": torch.tensor(scores, dtype=torch.float32),
                      "labels": torch.tensor(det_labels), "masks": boxes_to_masks(dets, size)})
    return preds, targets


def boxes_to_masks(boxes: np.ndarray, size: int) -> torch.Tensor:
    """Ellipses inscribed in the boxes, bool ``(N, size, size)``."""
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((len(boxes), size, size), dtype=bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, max((x2 - x1) / 2, 1), max((y2 - y1) / 2, 1)
        masks[i] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    return torch.from_numpy(masks)


def pycocotools_map(preds, targets, iou_type: str) -> dict[str, float]:
    """COCOeval on the same lists of dicts: build the COCO objects, evaluate,
    accumulate, summarize."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def annotation(i, j, box, label, mask, *, score=None):
        x1, y1, x2, y2 = box.tolist()
        ann = {"id": j, "image_id": i, "category_id": int(label), "iscrowd": 0,
               "bbox": [x1, y1, x2 - x1, y2 - y1]}
        if iou_type == "segm":
            rle = mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
            ann["segmentation"] = rle
            ann["area"] = float(mask.sum())
        else:
            ann["area"] = (x2 - x1) * (y2 - y1)
        if score is not None:
            ann["score"] = float(score)
        return ann

    size = targets[0]["masks"].shape[-1]
    images = [{"id": i, "height": size, "width": size} for i in range(len(targets))]
    categories = [{"id": c} for c in range(1 + max(int(t["labels"].max()) for t in targets))]
    gts, dts = [], []
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        for box, label, mask in zip(t["boxes"], t["labels"], t["masks"], strict=True):
            gts.append(annotation(i, len(gts) + 1, box, label, mask))
        for box, label, mask, score in zip(p["boxes"], p["labels"], p["masks"], p["scores"],
                                           strict=True):
            dts.append(annotation(i, len(dts) + 1, box, label, mask, score=score))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": gts, "categories": categories}
        coco_gt.createIndex()
        coco_dt = COCO()
        coco_dt.dataset = {"images": images, "annotations": dts, "categories": categories}
        coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {"map": float(evaluator.stats[0]), "map_50": float(evaluator.stats[1])}


def bench_map(repeats: int) -> list[dict]:
    from segedu.metrics import mean_average_precision

    rows = []
    for iou_type, images, size in [("bbox", 200, 256), ("segm", 50, 128)]:
        preds, targets = detection_case(images=images, size=size, num_classes=5)
        ours_t, ours = best_time(partial(mean_average_precision, preds, targets, iou_type=iou_type),
                                 repeats, torch.device("cpu"))
        ref_t, ref = best_time(partial(pycocotools_map, preds, targets, iou_type), repeats,
                               torch.device("cpu"))
        # segedu reports float32 tensors, pycocotools float64
        agree = all(abs(float(ours[k]) - ref[k]) < 1e-6 for k in ("map", "map_50"))
        rows.append({"metric": f"mean_average_precision {iou_type}, {images} images",
                     "reference": "pycocotools COCOeval", "ours": ours_t, "ref": ref_t,
                     "agree": agree})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="device for mean IoU (cpu or cuda)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls; the best is kept")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    rows = bench_mean_iou(device, args.repeats) + bench_map(max(1, args.repeats // 2))
    where = (torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
             or "CPU")
    lines = [
        "# Metric speed against the references",
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/metric_speed.py --device "
        f"{args.device} --threads {args.threads}` on {where} (torch {torch.__version__}). "
        "Best of several runs; ratio = segedu / reference (below 1: segedu is faster). "
        "mAP always runs on the CPU.",
        "",
        "| metric | reference | segedu (ms) | reference (ms) | ratio | same result |",
        "| --- | --- | ---: | ---: | ---: | :---: |",
    ]
    for r in rows:
        lines.append(f"| {r['metric']} | {r['reference']} | {1000 * r['ours']:.1f} | "
                     f"{1000 * r['ref']:.1f} | {r['ours'] / r['ref']:.2f} | "
                     f"{'yes' if r['agree'] else 'NO'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
