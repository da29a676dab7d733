"""Lab 00's graded cells catch the plausible wrong answers, and pass on the solution.

Each mutant below is an answer a student could plausibly write: RLE walked row by row instead of
down the columns, a flip that moves the mask but not its image, boxes left where they were, void
pixels counted as a class, ... For each one the test runs the solution's code cells in this process
(the training cell at the end is left out), replaces the student's function by the mutant, and runs
the graded cell of that exercise: it must fail with a ✗ message. The same cells, unchanged, must
all pass.

The mutants were written before the checks, so the checks answer them, not the other way round.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import nbformat
import pytest

from segedu.grading import CheckFailed

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "00_masks.ipynb"

# the end of the solution's augmentation, for the mutants that get only another part wrong
REPAIR = '''
def repair(target, size):
    masks = target["masks"].as_subclass(torch.Tensor)
    keep = masks.flatten(1).any(dim=1)
    boxes = tv_tensors.BoundingBoxes(boxes_from_masks(masks[keep]), format="XYXY",
                                     canvas_size=(size, size))
    return {**target, "masks": tv_tensors.Mask(masks[keep]), "labels": target["labels"][keep],
            "boxes": boxes}
'''

# (name, graded cell id that must fail, source that replaces the student's function)
MUTANTS = [
    # --- section 1: boxes from masks
    ("boxes with torchvision's inclusive x2, y2", "boxes", '''
def boxes_from_masks(masks):
    from torchvision.ops import masks_to_boxes
    return masks_to_boxes(masks)
'''),
    ("boxes as (y1, x1, y2, x2)", "boxes", '''
def boxes_from_masks(masks):
    boxes = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        if len(rows):
            boxes[k] = torch.tensor([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1])
    return boxes
'''),
    # --- section 2: RLE
    ("RLE encoded in row-major (C) order", "rle", '''
def rle_encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten()  # row by row: not COCO's order
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"size": list(np.shape(mask)), "counts": counts}
'''),
    ("RLE decoded in row-major (C) order", "rle", '''
def rle_decode(rle):
    height, width = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    return np.repeat(values, rle["counts"]).reshape(height, width).astype(bool)
'''),
    ("RLE without the leading 0-run when the first pixel is 1", "rle", '''
def rle_encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    return {"size": list(np.shape(mask)), "counts": np.diff(bounds).tolist()}
'''),
    # --- section 2: polygons
    ("polygon read as (row, col) instead of (x, y)", "polygons", '''
def polygons_to_mask(polygons, height, width):
    mask = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        points = np.asarray(polygon, dtype=float).reshape(-1, 2)
        mask |= polygon2mask((height, width), points - 0.5)
    return mask
'''),
    ("polygon without the half-pixel shift", "polygons", '''
def polygons_to_mask(polygons, height, width):
    mask = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        points = np.asarray(polygon, dtype=float).reshape(-1, 2)
        mask |= polygon2mask((height, width), points[:, ::-1])
    return mask
'''),
    ("only the first polygon of an object", "polygons", '''
def polygons_to_mask(polygons, height, width):
    points = np.asarray(polygons[0], dtype=float).reshape(-1, 2)
    return polygon2mask((height, width), points[:, ::-1] - 0.5)
'''),
    # --- section 3: the flip by hand
    ("mask flipped but not its image", "flip", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    return image, {"semantic": target["semantic"].flip(-1), "masks": target["masks"].flip(-1),
                   "boxes": boxes, "labels": target["labels"]}
'''),
    ("boxes not moved", "flip", '''
def hflip_sample(image, target):
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": target["boxes"],
                            "labels": target["labels"]}
'''),
    ("boxes mirrored without swapping x1 and x2", "flip", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [0, 2]]
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"]}
'''),
    ("boxes mirrored as pixel indices (W - 1 - x)", "flip", '''
def hflip_sample(image, target):
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - 1 - target["boxes"][:, [2, 0]]
    return image.flip(-1), {"semantic": target["semantic"].flip(-1),
                            "masks": target["masks"].flip(-1), "boxes": boxes,
                            "labels": target["labels"]}
'''),
    # --- section 3: tv_tensors and the v2 pipeline
    ("boxes left a plain tensor (v2 does not move them)", "augment", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image(image), {
        "semantic": tv_tensors.Mask(target["semantic"]), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": target["boxes"].clone(), "labels": target["labels"]}
'''),
    ("semantic map left a plain tensor", "augment", '''
def as_tv_sample(image, target):
    height, width = image.shape[-2:]
    return tv_tensors.Image(image), {
        "semantic": target["semantic"].clone(), "masks": tv_tensors.Mask(target["masks"]),
        "boxes": tv_tensors.BoundingBoxes(target["boxes"], format="XYXY",
                                          canvas_size=(height, width)),
        "labels": target["labels"]}
'''),
    ("image and target augmented by two separate calls (crashes)", "augment", REPAIR + '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image = geometry(image)  # a draw of its own: another flip and window than the target's
        return image, repair(geometry(target), size)
    return augment
'''),
    ("image and annotations augmented by two separate calls", "augment", REPAIR + '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image = geometry(image)  # a draw of its own: another flip and window than the masks'
        semantic, masks, boxes = geometry(target["semantic"], target["masks"], target["boxes"])
        moved = {"semantic": semantic, "masks": masks, "boxes": boxes, "labels": target["labels"]}
        return image, repair(moved, size)
    return augment
'''),
    ("objects cropped away kept as empty masks", "augment", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        boxes = boxes_from_masks(target["masks"].as_subclass(torch.Tensor))
        boxes = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(size, size))
        return image, {**target, "boxes": boxes}
    return augment
'''),
    ("boxes only clipped by the crop, not recomputed from the masks", "augment", '''
def make_augmentation(size):
    geometry = v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomCrop(size)])

    def augment(image, target):
        image, target = geometry(image, target)
        keep = target["masks"].flatten(1).any(dim=1)
        return image, {**target, "labels": target["labels"][keep],
                       **{key: tv_tensors.wrap(target[key][keep], like=target[key])
                          for key in ("masks", "boxes")}}
    return augment
'''),
    ("no random flip", "augment", REPAIR + '''
def make_augmentation(size):
    geometry = v2.RandomCrop(size)

    def augment(image, target):
        image, target = geometry(image, target)
        return image, repair(target, size)
    return augment
'''),
    # --- section 4: void pixels
    ("void relabelled as class 0 in the loss", "void", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    target = target.masked_fill(target == ignore_index, 0)
    log_p = F.log_softmax(logits, dim=1)
    return -log_p.gather(1, target[:, None])[:, 0].mean()
'''),
    ("loss summed over valid pixels but divided by all pixels", "void", '''
def masked_cross_entropy(logits, target, ignore_index=255):
    valid = target != ignore_index
    log_p = F.log_softmax(logits, dim=1)
    nll = -log_p.gather(1, target.masked_fill(~valid, 0)[:, None])[:, 0]
    return (nll * valid).sum() / target.numel()
'''),
    ("void pixels counted in the IoU", "void", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    iou = torch.full((num_classes,), float("nan"))
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
    ("IoU 0 instead of NaN for a class absent from both", "void", '''
def class_iou(pred, target, num_classes, ignore_index=255):
    valid = target != ignore_index
    pred, target = pred[valid], target[valid]
    iou = torch.zeros(num_classes)
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum()
        if union > 0:
            iou[c] = ((pred == c) & (target == c)).sum() / union
    return iou
'''),
]


def _cells() -> list[nbformat.NotebookNode]:
    """The solution's code cells up to its last graded cell (the training cell is left out)."""
    code = [c for c in nbformat.read(SOLUTION, as_version=4).cells if c.cell_type == "code"]
    last_graded = max(i for i, c in enumerate(code) if c.metadata.get("segedu", {}).get("grade"))
    return code[: last_graded + 1]


def _graded_id(cell: nbformat.NotebookNode) -> str | None:
    segedu = cell.metadata.get("segedu", {})
    return segedu.get("id") if segedu.get("grade") else None


def _run(source: str, namespace: dict) -> str:
    """Run a cell's source in ``namespace``; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<lab 00 cell>", "exec"), namespace)
    return out.getvalue()


@pytest.fixture(scope="module")
def solved():
    """The namespace after every cell of the solution ran, and each graded cell's source by id;
    every graded cell, hidden tests included, must pass on the way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded, namespace = {}, {"__name__": "__main__"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGEDU_FAST", "1")
        patch.delitem(os.sys.modules, "google.colab", raising=False)
        for cell in _cells():
            printed = _run(cell.source, namespace)
            if (name := _graded_id(cell)) is not None:
                graded[name] = cell.source
                assert "✓" in printed, f"graded cell {name!r} printed no ✓:\n{printed}"
        plt.close("all")
    return namespace, graded


def test_every_graded_cell_passes_on_the_solution(solved):
    _, graded = solved
    assert set(graded) == {"boxes", "boxes-hidden", "rle", "rle-hidden", "polygons",
                           "polygons-hidden", "flip", "flip-hidden", "augment", "augment-hidden",
                           "void", "void-hidden"}


@pytest.mark.parametrize(("name", "cell_id", "mutant"), MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_fails_its_graded_cell(solved, name, cell_id, mutant):
    namespace, graded = solved
    mutated = dict(namespace)  # the mutant's function replaces the student's in a copy
    exec(compile(mutant, f"<mutant: {name}>", "exec"), mutated)
    with pytest.raises(CheckFailed, match="✗") as failure:
        _run(graded[cell_id], mutated)
    assert "not done yet" not in str(failure.value)
