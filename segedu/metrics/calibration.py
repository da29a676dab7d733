r"""Calibration: is a pixel predicted with confidence 0.9 right 90 % of the time?

A segmentation network gives each pixel a probability per class; its **confidence** is the largest
one, its prediction that class. The network is *calibrated* when, among the pixels it predicts
with confidence about :math:`p`, a fraction :math:`p` is right (Guo, Pleiss, Sun and Weinberger,
"On Calibration of Modern Neural Networks", ICML 2017).

**Reliability bins.** The confidences are split into ``M`` equal bins
:math:`B_m = ((m-1)/M, m/M]` (the paper's, right-closed). In each bin, the mean confidence
:math:`\mathrm{conf}(B_m)` and the accuracy :math:`\mathrm{acc}(B_m)` (the fraction of its pixels
predicted right) are the two coordinates of one point of the *reliability diagram*
(:func:`segedu.viz.reliability_diagram`); a calibrated network puts every point on the diagonal.

**Expected calibration error** (ECE), the gap weighted by the share of pixels in each bin:

.. math::

    \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{n}\,
                   \bigl|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\bigr|

and the maximum calibration error :math:`\mathrm{MCE} = \max_m |\mathrm{acc}(B_m) -
\mathrm{conf}(B_m)|` over the bins that hold pixels. Here every counted pixel is a sample: the
bins of all images are added, then divided (dataset-level, as :mod:`segedu.metrics.iou`).

Reference: torchmetrics' ``MulticlassCalibrationError(n_bins=M, norm="l1")`` (ECE) and
``norm="max"`` (MCE) on the pixels flattened to ``(N, C)``. Its bins are left-closed,
``[(m-1)/M, m/M)``, with a bin of their own for confidence exactly 1: the two agree except for
confidences on a bin edge, and a float32 softmax often gives exactly 1.0 on easy pixels, which the
paper's bins put in the last bin and torchmetrics in a 16th (``tests/metrics/test_calibration.py``
shows both on such a case).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import _check_ignore_index, _check_labels

__all__ = ["ReliabilityBins", "reliability_bins", "expected_calibration_error"]


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin sums over the counted pixels, for ``n_bins`` equal bins of confidence.

    ``count`` ``(M,)`` pixels, ``confidence_sum`` ``(M,)`` their confidences added,
    ``correct_sum`` ``(M,)`` those predicted right; float64. Bins of two batches add up with
    ``+``, so a whole split is scored batch by batch.
    """

    count: torch.Tensor
    confidence_sum: torch.Tensor
    correct_sum: torch.Tensor

    def __add__(self, other: ReliabilityBins) -> ReliabilityBins:
        if self.count.shape != other.count.shape:
            raise ValueError(f"cannot add {self.count.numel()} bins to {other.count.numel()}")
        return ReliabilityBins(self.count + other.count, self.confidence_sum + other.confidence_sum,
                               self.correct_sum + other.correct_sum)

    @property
    def confidence(self) -> torch.Tensor:
        """Mean confidence per bin ``(M,)``; NaN for an empty bin."""
        return self.confidence_sum / self.count

    @property
    def accuracy(self) -> torch.Tensor:
        """Accuracy per bin ``(M,)``; NaN for an empty bin."""
        return self.correct_sum / self.count

    @property
    def ece(self) -> float:
        """Expected calibration error (module docstring); NaN when no pixel was counted."""
        total = float(self.count.sum())
        if total == 0:
            return float("nan")
        gap = (self.correct_sum - self.confidence_sum).abs()  # |acc - conf| * |B_m|
        return float(gap.sum() / total)

    @property
    def mce(self) -> float:
        """Maximum calibration error over the non-empty bins; NaN when every bin is empty."""
        filled = self.count > 0
        if not filled.any():
            return float("nan")
        return float((self.accuracy[filled] - self.confidence[filled]).abs().max())


def reliability_bins(probabilities: torch.Tensor, target: torch.Tensor, *, n_bins: int = 15,
                     ignore_index: int | None = None) -> ReliabilityBins:
    """The reliability bins of class probabilities against the true labels.

    Args:
        probabilities: ``(N, C, *)`` float, each pixel's probabilities (softmax of the logits;
            they are not renormalised); ``(N, C)`` for plain samples.
        target: ``(N, *)`` integer labels in ``[0, C)``.
        n_bins: ``M``, the number of equal confidence bins (15, as Guo et al.).
        ignore_index: a label whose pixels are left out.

    Returns the :class:`ReliabilityBins` of the counted pixels.
    """
    if not isinstance(probabilities, torch.Tensor) or not probabilities.is_floating_point():
        raise TypeError("probabilities must be a float tensor (N, C, ...) of class probabilities, "
                        f"got {getattr(probabilities, 'dtype', type(probabilities).__name__)}")
    _check_labels("target", target)
    _check_ignore_index(ignore_index)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if probabilities.ndim < 2 or target.shape != probabilities.shape[:1] + probabilities.shape[2:]:
        raise ValueError(f"probabilities (N, C, *) and target (N, *) do not match: "
                         f"{tuple(probabilities.shape)} and {tuple(target.shape)}")
    if probabilities.numel() and (probabilities.min() < 0 or probabilities.max() > 1):
        raise ValueError("probabilities must lie in [0, 1]: pass softmax(logits), not logits")
    # each pixel's confidence and prediction; (C, pixels) -> (pixels,)
    flat = probabilities.movedim(1, -1).reshape(-1, probabilities.shape[1]).double()
    labels = target.reshape(-1)
    if ignore_index is not None:
        keep = labels != ignore_index
        flat, labels = flat[keep], labels[keep]
    if labels.numel() and (labels.min() < 0 or labels.max() >= flat.shape[1]):
        raise ValueError(f"target has labels outside [0, {flat.shape[1] - 1}]")
    confidence, predicted = flat.max(dim=1)
    correct = (predicted == labels).double()
    # bin m (0-based) holds confidences in (edge[m], edge[m + 1]]; a confidence of 0 joins bin 0
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    index = (torch.bucketize(confidence, edges, right=False) - 1).clamp(0, n_bins - 1)
    count = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, torch.ones_like(correct))
    confidence_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, confidence)
    correct_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, correct)
    return ReliabilityBins(count, confidence_sum, correct_sum)


def expected_calibration_error(probabilities: torch.Tensor, target: torch.Tensor, *,
                               n_bins: int = 15, ignore_index: int | None = None) -> float:
    """ECE of ``probabilities`` ``(N, C, *)`` against ``target`` ``(N, *)``: the
    :attr:`ReliabilityBins.ece` of :func:`reliability_bins` (module docstring)."""
    return reliability_bins(probabilities, target, n_bins=n_bins, ignore_index=ignore_index).ece
