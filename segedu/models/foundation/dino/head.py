r"""DINO's projection head: MLP, L2 normalisation, weight-normalised last layer.

Caron et al., ICCV 2021, Sec. 3.1 and App. ("The projection head consists of a 3-layer
multi-layer perceptron (MLP) with hidden dimension 2048 followed by l2 normalization and a weight
normalized fully connected layer with K dimensions, which is similar to the design from SwAV"):

.. math::
    z = \mathrm{MLP}(x) \in \mathbb{R}^{256}, \qquad \hat z = z / \lVert z \rVert_2, \qquad
    g_k(x) = \hat z \cdot \frac{g_k\, v_k}{\lVert v_k \rVert_2}, \quad k = 1..K,

where the MLP is ``Linear(D, 2048) GELU Linear(2048, 2048) GELU Linear(2048, 256)`` (no GELU after
the bottleneck) and the last layer is a weight-normalised linear map without bias (Salimans &
Kingma, NeurIPS 2016): each output unit has a direction ``v_k`` and a length ``g_k``. With
``norm_last_layer=True`` (DINO's default for ViT-S) the lengths are frozen at 1, so every output
is a cosine similarity between :math:`\hat z` and a learned prototype, in ``[-1, 1]``; the
temperatures of the loss turn these into sharp distributions.

Relation to the references: DINO's ``DINOHead`` (``vision_transformer.py``) and lightly's
``DINOProjectionHead`` (same function; tested equal with copied weights). We write the weight
normalisation out in :class:`WeightNormLinear`, with the parameter names that
``torch.nn.utils.weight_norm`` gives (``weight_g (K, 1)``, ``weight_v (K, bottleneck)``), and the
MLP as ``mlp.0/2/4`` as DINO's, so DINO's full training checkpoints (``student``/``teacher`` with
``head.``) use the same key names. DINO's optional batch norm in the head (off for ViTs) is left
out. DINO also discards the last layer's gradients during the first epoch (``freeze_last_layer=1``):
see ``cancel_last_layer_gradients`` in
:func:`~segedu.models.foundation.dino.training.dino_training_step`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DINOHead", "WeightNormLinear"]


class WeightNormLinear(nn.Module):
    """Linear map without bias whose weight rows are ``g_k v_k / ||v_k||``: ``(*, in) -> (*, out)``.

    Equal to ``torch.nn.utils.weight_norm(nn.Linear(in, out, bias=False))``. ``weight_g`` starts
    at 1; with ``freeze_norm=True`` it does not learn (``requires_grad=False``).
    """

    def __init__(self, *, in_features: int, out_features: int, freeze_norm: bool = True) -> None:
        super().__init__()
        # lengths: all 1 (registered first, as torch.nn.utils.weight_norm does)
        self.weight_g = nn.Parameter(torch.ones(out_features, 1), requires_grad=not freeze_norm)
        # directions: nn.Linear's default initialisation (Kaiming uniform), as DINO's
        self.weight_v = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight ``(out, in)``: each row ``v_k`` rescaled to length ``g_k``."""
        return self.weight_g * self.weight_v / self.weight_v.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class DINOHead(nn.Module):
    """Backbone embeddings ``(B, D)`` -> ``K`` prototype scores ``(B, K)`` (logits of the loss).

    Args:
        in_dim: backbone embedding size ``D``.
        out_dim: number of prototypes ``K`` (65536 in DINO; a few hundred suffice for small data).
        hidden_dim: MLP width (2048).
        bottleneck_dim: size before the last layer (256).
        num_layers: linear layers of the MLP (3).
        norm_last_layer: freeze the lengths of the last layer's rows at 1 (DINO's default).
    """

    def __init__(
        self,
        *,
        in_dim: int,
        out_dim: int = 65536,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        num_layers: int = 3,
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        # MLP: (num_layers - 1) x [Linear, GELU], then Linear to the bottleneck
        sizes = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):  # DINO's initialisation
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        self.last_layer = WeightNormLinear(
            in_features=bottleneck_dim, out_features=out_dim, freeze_norm=norm_last_layer
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(f"the head takes embeddings (B, D), got shape {tuple(x.shape)}")
        # 1. MLP down to the bottleneck: (B, D) -> (B, 256)
        x = self.mlp(x)
        # 2. onto the unit sphere
        x = F.normalize(x, dim=-1, p=2)
        # 3. scores against the K (unit-length when frozen) prototypes: (B, K)
        return self.last_layer(x)
