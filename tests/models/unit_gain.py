"""Random weights of unit gain for the equality tests against a reference implementation.

``N(0, 1 / fan_in)`` for every matrix and convolution kernel (the inputs' scale passes through a
layer unchanged), ``U(0.5, 1.5)`` for the scales of the normalisations, ``U(0.5, 2)`` for batch
norms' running variances and ``N(0, 0.2)`` for every other floating tensor (biases, running
means). Larger weights (``N(0, 0.3)`` everywhere, DETR's first try) saturate the attention, so
that a converter which swaps queries and keys can pass; PyTorch's own initialisation leaves the
LayerNorms at exactly 1 and the biases at 0, so that a converter swapping two of those passes too.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["unit_gain_"]


def unit_gain_(model: nn.Module) -> nn.Module:
    """Draw every tensor of ``model``'s state dict in place (see the module docstring), from
    PyTorch's global generator (seed it first); return the model."""
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if key.endswith("running_var"):
                value.uniform_(0.5, 2.0)
            elif value.ndim >= 2:
                value.normal_(0.0, 1 / math.sqrt(value[0].numel()))
            elif "norm" in key and key.endswith("weight"):
                value.uniform_(0.5, 1.5)
            elif value.is_floating_point():
                value.normal_(0.0, 0.2)
    return model
