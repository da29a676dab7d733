r"""Test-time augmentation (TTA): average a model's answers over transformed copies of the image.

A trained network is not exactly invariant to a mirror image or to a change of scale, and its
errors on the copies are partly independent; averaging its class probabilities over a few copies,
each mapped back to the original frame, usually gives a slightly better and smoother answer at
the price of one forward pass per copy. For the copy transformed by :math:`g` (a horizontal flip,
a resize by a factor :math:`s`), with :math:`g^{-1}` mapping the answer back:

.. math::

    \bar p(x) = \frac{1}{|G|} \sum_{g \in G} g^{-1}\bigl(\mathrm{softmax}(f(g(x)))\bigr)

Horizontal flips and scales are the usual set for scenes (Chen et al.'s DeepLab evaluates with
scales 0.5-1.75 and flips; PSPNet likewise). Vertical flips are left out by default: a scene's sky
is at the top, and a model need not know an upside-down world. Probabilities, not logits, are
averaged (logits of different copies need not share a scale).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import SemanticOutput, SemanticSegmenter

__all__ = ["TestTimeAugmentation"]


class TestTimeAugmentation(SemanticSegmenter):
    """A semantic model answered on flipped and rescaled copies, the probabilities averaged.

    Args:
        model: a semantic model (``forward(x) -> {"out": (N, K, H, W)}``).
        flips: ``False`` (the image as it is), ``True`` (mirrored left-right), or both.
        scales: resize factors; each copy is resized (bilinear, ``align_corners=False``) to
            ``round(s * H) x round(s * W)``, rounded down to a multiple of ``multiple`` (the
            model's stride, e.g. 16 for a 4-level U-Net), and its logits resized back to
            ``H x W``.
        multiple: the side of every copy is a multiple of this.

    ``forward(images (N, C, H, W))`` returns ``{"out": log p̄}`` ``(N, K, H, W)``: the log of the
    averaged probabilities, so that ``softmax`` gives them back and ``argmax`` the prediction.
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, model: nn.Module, *, flips: Sequence[bool] = (False, True),
                 scales: Sequence[float] = (1.0,), multiple: int = 1) -> None:
        super().__init__()
        if not flips or any(not isinstance(f, bool) for f in flips):
            raise ValueError(f"flips must be a non-empty sequence of bools, got {flips!r}")
        if not scales or any(not s > 0 for s in scales):
            raise ValueError(f"scales must be positive factors, got {scales!r}")
        if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
            raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
        self.model = model
        self.flips, self.scales, self.multiple = tuple(flips), tuple(scales), multiple

    def _size(self, side: int, scale: float) -> int:
        sized = int(round(side * scale)) // self.multiple * self.multiple
        if sized < self.multiple:
            raise ValueError(f"scale {scale} leaves a side of {side * scale:.1f} pixels, "
                             f"less than the model's multiple {self.multiple}")
        return sized

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        if x.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        total = None
        for scale in self.scales:
            size = (self._size(h, scale), self._size(w, scale))
            # the copy at this scale (the image itself when the size is unchanged)
            scaled = x if size == (h, w) else F.interpolate(x, size=size, mode="bilinear",
                                                            align_corners=False)
            for flip in self.flips:
                copy = scaled.flip(-1) if flip else scaled
                logits = self.model(copy)["out"]
                # back to the original frame: un-flip, then resize the logits to H x W
                logits = logits.flip(-1) if flip else logits
                if logits.shape[-2:] != (h, w):
                    logits = F.interpolate(logits, size=(h, w), mode="bilinear",
                                           align_corners=False)
                probabilities = logits.softmax(dim=1)
                total = probabilities if total is None else total + probabilities
        mean = total / (len(self.scales) * len(self.flips))
        return {"out": mean.clamp_min(torch.finfo(mean.dtype).tiny).log()}
