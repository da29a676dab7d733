r"""Frozen batch normalisation: batch norm as a fixed per-channel affine map.

Detection models fine-tune an ImageNet backbone on batches of one or two large images per GPU;
batch statistics of two images are too noisy to normalise with, let alone to learn running
averages from. Detectron (and torchvision after it) therefore *freeze* the backbone's batch norms:
the running mean :math:`\mu`, variance :math:`\sigma^2`, scale :math:`\gamma` and shift
:math:`\beta` are constants, and each layer computes

.. math:: y = x \cdot s + (\beta - \mu s), \qquad s = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}

in training and evaluation alike. The four tensors are buffers, not parameters: no optimiser
touches them. This equals :class:`torchvision.ops.FrozenBatchNorm2d` (same buffers, same
arithmetic), and loads a ``BatchNorm2d`` state dict (its ``num_batches_tracked`` is dropped).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FrozenBatchNorm2d", "freeze_batch_norm"]


class FrozenBatchNorm2d(nn.Module):
    """``BatchNorm2d`` with fixed statistics and affine parameters:
    ``(N, C, H, W) -> (N, C, H, W)``.

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance (torchvision's COCO detection checkpoints use 0).
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys,
                              error_msgs) -> None:
        # a BatchNorm2d checkpoint also counts its batches: nothing to freeze there
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys,
                                      error_msgs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != len(self.weight):
            raise ValueError(f"expected (N, {len(self.weight)}, H, W), got {tuple(x.shape)}")
        # fold the four constants into one scale and one shift per channel: (1, C, 1, 1)
        scale = (self.weight.reshape(1, -1, 1, 1)
                 * (self.running_var.reshape(1, -1, 1, 1) + self.eps).rsqrt())
        shift = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + shift

    def extra_repr(self) -> str:
        return f"{len(self.weight)}, eps={self.eps}"


def freeze_batch_norm(module: nn.Module, *, eps: float | None = None) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` inside ``module`` by a :class:`FrozenBatchNorm2d` holding
    its current statistics and affine parameters (``eps``: the batch norm's own unless given).
    Returns ``module``, changed in place (or the frozen layer when ``module`` is a batch norm)."""
    if isinstance(module, nn.BatchNorm2d):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps if eps is None else eps)
        with torch.no_grad():
            if module.affine:
                frozen.weight.copy_(module.weight)
                frozen.bias.copy_(module.bias)
            if module.track_running_stats:
                frozen.running_mean.copy_(module.running_mean)
                frozen.running_var.copy_(module.running_var)
        return frozen.to(module.running_mean.device if module.running_mean is not None else "cpu")
    for name, child in module.named_children():
        replaced = freeze_batch_norm(child, eps=eps)
        if replaced is not child:
            setattr(module, name, replaced)
    return module
