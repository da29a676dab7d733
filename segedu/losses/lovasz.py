r"""Lovász-softmax and Lovász hinge (Berman, Rannen Triki & Blaschko, CVPR 2018).

These losses optimise the IoU itself, through a convex surrogate.

**The set function.** For one class :math:`c`, let :math:`G` be its true pixels and :math:`M`
a set of mispredicted pixels (pixels of :math:`G` missed, plus pixels wrongly given to
:math:`c`). The Jaccard loss of that prediction depends only on :math:`M`:

.. math:: \Delta(M) = 1 - \mathrm{IoU} = \frac{|M|}{|G \cup M|} .

(:math:`I = |G \setminus M|` and :math:`U = |G \cup M|`, so
:math:`1 - I/U = (U - I)/U = |M|/|G \cup M|`.) :math:`\Delta` is submodular.

**The Lovász extension** turns a set function into a piecewise-linear convex function of a
vector of errors :math:`m \in [0, 1]^P`. Sort the errors decreasingly,
:math:`m_{\pi_1} \ge \dots \ge m_{\pi_P}`, and let :math:`M_k = \{\pi_1, \dots, \pi_k\}`:

.. math::
    \bar\Delta(m) = \sum_{k=1}^P m_{\pi_k}\, g_k, \qquad
    g_k = \Delta(M_k) - \Delta(M_{k-1}) .

On a 0/1 vector (the indicator of a set :math:`M`) it equals :math:`\Delta(M)`: the sum
telescopes to :math:`\Delta(M_{|M|}) = \Delta(M)` because the errors after the first
:math:`|M|` are 0. In between it interpolates linearly.

**Lovász-softmax.** With softmax probabilities :math:`p_{i,c}`, the error of pixel :math:`i`
for class :math:`c` is :math:`m_i = |[y_i = c] - p_{i,c}|`; the loss is
:math:`\bar\Delta_c(m)` averaged over classes. For a hard (one-hot) prediction each
:math:`m_i` is 0 or 1 and marks exactly the mispredicted pixels, so the loss is
:math:`1 - \mathrm{IoU}_c` averaged over the classes: the mean-IoU loss itself.

**Lovász hinge** (binary): errors are the hinge margins :math:`\max(0, 1 - x_i s_i)` with
:math:`s_i = \pm 1` the sign of the label, fed to the extension of the foreground's
:math:`\Delta`.

Conventions (those of the authors' code and of segmentation-models-pytorch's
``LovaszLoss``):

- ``classes="present"`` averages over the classes present in the (non-ignored) target;
  ``"all"`` over all ``C``; a list over those classes. With ``per_image=False`` the pixels of
  the whole batch are pooled; with ``per_image=True`` the loss is computed per image and
  averaged over images.
- Pixels equal to ``ignore_index`` are dropped. If nothing is left (or no class is present),
  the loss is 0, with zero gradient (with ``per_image=True`` such an image counts as a 0 in
  the mean over images; smp's code returns an empty tensor there).
- The loss is an average by construction, so there is no ``reduction`` argument.
- Ties among the errors are ordered arbitrarily by the sort; the *value* of the extension does
  not depend on that order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._checks import _check_binary, _check_logits_target

__all__ = ["lovasz_grad", "lovasz_softmax", "lovasz_hinge"]


def lovasz_grad(truth_sorted: torch.Tensor) -> torch.Tensor:
    r"""The weights :math:`g_k = \Delta(M_k) - \Delta(M_{k-1})` for errors sorted decreasingly.

    Args:
        truth_sorted: ``(P,)`` 0/1 foreground indicator of the pixels, in the order of
            decreasing error.

    Returns:
        ``(P,)`` float tensor :math:`g`.
    """
    truth_sorted = truth_sorted.float() if not truth_sorted.is_floating_point() else truth_sorted
    n_true = truth_sorted.sum()  # |G|
    # Taking the k first pixels as errors: the true pixels among them are missed, so
    # I_k = |G| - (true pixels among the first k); the false ones enlarge the union,
    # U_k = |G| + (false pixels among the first k).
    intersection = n_true - truth_sorted.cumsum(0)
    union = n_true + (1.0 - truth_sorted).cumsum(0)
    jaccard_loss = 1.0 - intersection / union  # Delta(M_k) for k = 1..P (U_k >= 1)
    # g_1 = Delta(M_1) - Delta(empty set) = Delta(M_1); g_k = Delta(M_k) - Delta(M_{k-1})
    return torch.cat([jaccard_loss[:1], jaccard_loss[1:] - jaccard_loss[:-1]])


def _lovasz_extension(errors: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``sum_k m_(k) g_k`` for errors ``(P,)`` and 0/1 truth ``(P,)``."""
    errors_sorted, order = torch.sort(errors, descending=True)
    return torch.dot(errors_sorted, lovasz_grad(truth[order]).to(errors.dtype))


def _mean_or_zero(values: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """The mean of a list of scalar losses; 0 (connected to ``like`` for autograd) if empty."""
    if not values:
        return like.sum() * 0.0
    return torch.stack(values).mean()


def _lovasz_softmax_flat(
    probs: torch.Tensor, labels: torch.Tensor, classes: str | Sequence[int]
) -> torch.Tensor:
    """Lovász-softmax of pooled pixels: ``probs (P, C)``, ``labels (P,)``."""
    num_classes = probs.shape[1]
    chosen = range(num_classes) if isinstance(classes, str) else classes
    losses = []
    for c in chosen:
        truth = (labels == c).to(probs.dtype)  # 1 on the pixels of class c
        if classes == "present" and truth.sum() == 0:
            continue  # an absent class is left out of the average
        errors = (truth - probs[:, c]).abs()  # m_i = |[y_i = c] - p_{i,c}|
        losses.append(_lovasz_extension(errors, truth))
    return _mean_or_zero(losses, probs)


def lovasz_softmax(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    classes: str | Sequence[int] = "present",
    per_image: bool = False,
    ignore_index: int | None = None,
    from_logits: bool = True,
) -> torch.Tensor:
    """Lovász-softmax loss, the convex surrogate of 1 - IoU averaged over classes.

    Args:
        logits: class scores ``(N, C, ...)``, floats (probabilities if ``from_logits=False``).
        target: class labels ``(N, ...)``, integers in ``[0, C)`` or ``ignore_index``.
        classes: ``"present"``, ``"all"`` or a sequence of class indices to average over.
        per_image: average per-image losses (``True``) or pool the batch (``False``).
        ignore_index: label of the pixels to drop.
        from_logits: apply the softmax over ``C`` first.

    Returns:
        A scalar tensor.
    """
    _check_logits_target(logits, target, ignore_index)
    num_classes = logits.shape[1]
    if isinstance(classes, str):
        if classes not in ("present", "all"):
            raise ValueError(f"classes must be 'present', 'all' or a list, got {classes!r}")
    elif not classes or min(classes) < 0 or max(classes) >= num_classes:
        raise ValueError(f"classes must be indices in [0, {num_classes - 1}], got {classes!r}")

    # 1. probabilities, pixels as rows: (N, C, ...) -> (N, P, C)
    probs = F.softmax(logits, dim=1) if from_logits else logits
    probs = probs.reshape(*probs.shape[:2], -1).transpose(1, 2)
    labels = target.reshape(target.shape[0], -1)  # (N, P)

    def flat(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # 2. drop the ignored pixels, then the loss of the pooled pixels
        if ignore_index is not None:
            keep = y != ignore_index
            p, y = p[keep], y[keep]
        if y.numel() == 0:
            return probs.sum() * 0.0
        return _lovasz_softmax_flat(p, y, classes)

    if per_image:
        return torch.stack([flat(p, y) for p, y in zip(probs, labels, strict=True)]).mean()
    return flat(probs.reshape(-1, num_classes), labels.reshape(-1))


def _lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lovász hinge of pooled pixels: ``logits (P,)``, 0/1 ``labels (P,)``."""
    if labels.numel() == 0:
        return logits.sum() * 0.0
    truth = labels.to(logits.dtype)
    signs = 2.0 * truth - 1.0  # +1 on the foreground, -1 on the background
    errors = 1.0 - logits * signs  # hinge margins (negative: correct with margin to spare)
    errors_sorted, order = torch.sort(errors, descending=True)
    # only positive margins count as errors: relu, then the Lovász extension
    return torch.dot(F.relu(errors_sorted), lovasz_grad(truth[order]).to(logits.dtype))


def lovasz_hinge(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    per_image: bool = False,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Binary Lovász hinge loss, a convex surrogate of the foreground's 1 - IoU.

    Args:
        logits: foreground scores ``(N, ...)`` or ``(N, 1, ...)``, floats (not probabilities).
        target: 0/1 labels ``(N, ...)`` (integers or bools), or ``ignore_index``.
        per_image: average per-image losses (``True``; the paper's default for this loss) or
            pool the batch (``False``, smp's ``LovaszLoss`` default).
        ignore_index: label of the pixels to drop.

    Returns:
        A scalar tensor.
    """
    logits, target = _check_binary(logits, target, ignore_index)
    logits = logits.reshape(logits.shape[0], -1)  # (N, P)
    target = target.reshape(target.shape[0], -1)

    def flat(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if ignore_index is not None:
            keep = y != ignore_index
            x, y = x[keep], y[keep]
        return _lovasz_hinge_flat(x, y)

    if per_image:
        return torch.stack([flat(x, y) for x, y in zip(logits, target, strict=True)]).mean()
    return flat(logits.reshape(-1), target.reshape(-1))
