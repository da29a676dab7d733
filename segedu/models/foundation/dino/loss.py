r"""DINO's self-distillation loss: cross-entropy between a centred, sharpened teacher and
the student.

Caron et al., ICCV 2021, Sec. 3.1, Eq. (3) and Algorithm 1. Each image gives ``V`` crops: 2 global
ones (seen by teacher and student) and ``V - 2`` local ones (student only). With outputs
``t_i (B, K)`` of the teacher on global crop ``i`` and ``s_v (B, K)`` of the student on crop ``v``:

.. math::
    P_t^{(i)} = \operatorname{softmax}\Bigl(\frac{t_i - c}{\tau_t}\Bigr), \qquad
    \log P_s^{(v)} = \operatorname{log\,softmax}\Bigl(\frac{s_v}{\tau_s}\Bigr), \qquad
    L = \frac{1}{2(V - 1)} \sum_{i=1}^{2} \sum_{\substack{v=1 \\ v \ne i}}^{V}
        \frac{1}{B} \sum_{b} -P_t^{(i)}[b] \cdot \log P_s^{(v)}[b]

- *centring* (subtract ``c``) keeps one prototype from dominating; *sharpening* (a low teacher
  temperature ``tau_t = 0.04``, against ``tau_s = 0.1``) keeps the teacher from becoming uniform.
  Together they avoid collapse; the teacher's distribution gets no gradient.
- every pair of *different* crops counts once (``v != i``): a crop is never compared with itself.
- after the loss, the centre follows the teacher's batch mean by an exponential moving average,
  :math:`c \leftarrow m c + (1 - m) \frac{1}{2B} \sum_{i, b} t_i[b]` with ``m = 0.9``.

Relation to the references: the same numbers as DINO's ``DINOLoss`` (which takes the crops
concatenated along the batch, and all-reduces the centre across processes) and lightly's
``DINOLoss`` (tested equal, and against an explicit loop over crop pairs). Argument order is DINO's
``(student, teacher)``; lightly's is ``(teacher, student)``. DINO warms the teacher temperature up
linearly from 0.04 to its final value over the first 30 epochs: :func:`teacher_temperature`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DINOLoss", "teacher_temperature"]


def teacher_temperature(epoch: int, *, warmup_temp: float = 0.04, final_temp: float = 0.04,
                        warmup_epochs: int = 30) -> float:
    """DINO's teacher temperature at ``epoch``: linear from ``warmup_temp`` (epoch 0) to
    ``final_temp`` (epoch ``warmup_epochs - 1``), then constant (``np.linspace`` then ``np.ones``,
    as DINO)."""
    if epoch < 0:
        raise ValueError(f"epoch must be non-negative, got {epoch}")
    if epoch >= warmup_epochs:
        return float(final_temp)
    if warmup_epochs == 1:
        return float(final_temp)
    return float(warmup_temp + (final_temp - warmup_temp) * epoch / (warmup_epochs - 1))


def _check_outputs(name: str, outputs: Sequence[torch.Tensor]) -> None:
    """Each crop's output must be a ``(B, K)`` tensor, all of the same shape."""
    if isinstance(outputs, torch.Tensor) or not len(outputs):
        raise TypeError(f"{name} must be a non-empty list of (B, K) tensors, one per crop")
    shape = outputs[0].shape
    for out in outputs:
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape != shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"{name}: every crop's output must be (B, K) = {tuple(shape)}, got "
                             f"{got}")


class DINOLoss(nn.Module):
    """The loss of DINO, with its centre ``(1, K)`` kept as a buffer.

    Args:
        out_dim: number of prototypes ``K`` (the head's output size).
        teacher_temp: ``tau_t`` when ``forward`` is given none (0.04).
        student_temp: ``tau_s`` (0.1).
        center_momentum: ``m`` of the centre's moving average (0.9).
    """

    def __init__(
        self, *, out_dim: int, teacher_temp: float = 0.04, student_temp: float = 0.1,
        center_momentum: float = 0.9
    ) -> None:
        super().__init__()
        self.teacher_temp = teacher_temp
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(
        self,
        student_outputs: Sequence[torch.Tensor],
        teacher_outputs: Sequence[torch.Tensor],
        *,
        teacher_temp: float | None = None,
    ) -> torch.Tensor:
        """Scalar loss; updates the centre afterwards.

        Args:
            student_outputs: ``V`` tensors ``(B, K)``, the student's outputs on all crops, the
                global crops first, in the teacher's order.
            teacher_outputs: tensors ``(B, K)``, the teacher's outputs on the global crops.
            teacher_temp: ``tau_t`` for this step (e.g. :func:`teacher_temperature`).
        """
        _check_outputs("student_outputs", student_outputs)
        _check_outputs("teacher_outputs", teacher_outputs)
        if student_outputs[0].shape != teacher_outputs[0].shape:
            raise ValueError(
                f"student outputs {tuple(student_outputs[0].shape)} and teacher outputs "
                f"{tuple(teacher_outputs[0].shape)} must have the same shape (B, K)"
            )
        if len(student_outputs) < 2 or len(teacher_outputs) > len(student_outputs):
            raise ValueError(
                f"need at least 2 student crops and no more teacher crops than student crops, "
                f"got {len(student_outputs)} and {len(teacher_outputs)}"
            )
        tau_t = self.teacher_temp if teacher_temp is None else teacher_temp
        # 1. teacher: centre, sharpen (low temperature), softmax; no gradient flows into it
        teacher_probs = [F.softmax((t - self.center) / tau_t, dim=-1).detach()
                         for t in teacher_outputs]
        # 2. student: log-softmax at its (higher) temperature
        student_log_probs = [F.log_softmax(s / self.student_temp, dim=-1) for s in student_outputs]
        # 3. cross-entropy for every pair of different crops, averaged over the batch and the pairs
        total, pairs = student_outputs[0].new_zeros(()), 0
        for i, p_t in enumerate(teacher_probs):
            for v, log_p_s in enumerate(student_log_probs):
                if v == i:  # the same crop: skipped
                    continue
                total = total + (-p_t * log_p_s).sum(dim=-1).mean()
                pairs += 1
        loss = total / pairs
        # 4. the centre follows the teacher's batch mean
        self.update_center(teacher_outputs)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_outputs: Sequence[torch.Tensor]) -> None:
        """``c <- m c + (1 - m) * mean over crops and batch of the teacher outputs``."""
        batch_mean = torch.cat(list(teacher_outputs)).mean(dim=0, keepdim=True)
        self.center.mul_(self.center_momentum).add_((1 - self.center_momentum) * batch_mean)
