"""Helpers of the one-stage detectors' reference tests (RetinaNet, SSD): record what a detector
computes in one evaluation forward, compare bitwise, build the ground truth of a case."""

from __future__ import annotations

import torch


def images():
    """Two non-square images of different sizes: resized by different factors (and padded)."""
    g = torch.Generator().manual_seed(1)
    return [torch.rand(3, 100, 140, generator=g), torch.rand(3, 130, 90, generator=g)]


def record(model, batch) -> dict:
    """One evaluation forward of a torchvision-style one-stage detector (ours or torchvision's),
    recording with forward hooks the transformed ``batch`` (an ImageList), the backbone's
    ``maps``, the ``head``'s outputs and the ``anchors``; ``detections`` is the result."""
    seen = {}

    def keep(key, pick):
        return lambda module, args, out: seen.__setitem__(key, pick(args, out))

    hooks = [model.transform.register_forward_hook(keep("batch", lambda a, out: out[0])),
             model.backbone.register_forward_hook(keep("maps", lambda a, out: list(out.values()))),
             model.head.register_forward_hook(keep("head", lambda a, out: out)),
             model.anchor_generator.register_forward_hook(keep("anchors", lambda a, out: out))]
    try:
        with torch.no_grad():
            seen["detections"] = model(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def assert_bitwise(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Same dtype, shape and values: the same operations in the same order give the same bits,
    so near ties in top-k and NMS resolve alike and no tolerance is needed."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def targets(case: list[tuple[list, list]]) -> list[dict[str, torch.Tensor]]:
    """One target dict per ``(boxes, labels)`` pair; ``([], [])`` is an image without objects."""
    return [{"boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
             "labels": torch.tensor(labels, dtype=torch.int64)} for b, labels in case]


def their_matches(model, batch_targets, anchors) -> list[torch.Tensor]:
    """torchvision's matching as its forward does it (all background for an image without
    objects)."""
    from torchvision.ops import box_iou

    return [model.proposal_matcher(box_iou(t["boxes"], a)) if len(t["boxes"])
            else torch.full((len(a),), -1, dtype=torch.int64)
            for t, a in zip(batch_targets, anchors, strict=True)]
