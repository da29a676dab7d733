"""Cellpose: a U-Net that predicts flows and cell probability, and the post-processing to masks.

Reference: C. Stringer, T. Wang, M. Michaelos, M. Pachitariu, "Cellpose: a generalist algorithm
for cellular segmentation", Nature Methods 18, 100-106 (2021),
https://doi.org/10.1038/s41592-020-01018-x;
code: https://github.com/MouseLand/cellpose (reference here: cellpose 4.2.1.1).

The network maps an image ``(N, C, H, W)`` to three maps per pixel: the flows ``(dy, dx)``
(regressing 5x the unit flows of :mod:`.flows`) and a cell-probability logit. At test time
:func:`.postprocess.compute_masks` follows the flows from the pixels with probability > 0.5,
clusters the end points and removes the masks whose flows disagree with the network's.

The network is the one Cellpose shares with Omnipose (:class:`..flow_network.FlowNetwork`: a
padded residual U-Net, a simplification of the 2021 network without its "style" vector; cellpose 4
replaced it with a vision transformer, Cellpose-SAM). The flows and the probability come out of
one final 1x1 convolution with 3 channels, as in Cellpose. What Cellpose adds is here: its
targets (flows from heat diffusion), its loss and its post-processing.
"""

from __future__ import annotations

import torch

from ...registry import register_model
from ..base import check_instances
from ..flow_network import FlowNetwork
from .flows import masks_to_flows
from .loss import FLOW_SCALE, cellpose_loss
from .postprocess import compute_masks

__all__ = ["Cellpose", "cellpose"]


class Cellpose(FlowNetwork):
    """Cellpose network: ``(N, in_channels, H, W)`` -> flows ``(N, 2, H, W)`` and cellprob
    ``(N, 1, H, W)`` logits (:class:`..flow_network.FlowNetwork`'s arguments); the bottom-up
    family's ``targets``, ``loss``, ``postprocess`` and ``predict_instances``
    (:mod:`segedu.models.bottom_up.base`).

    H and W must be multiples of ``2**depth``.
    """

    # 3 outputs per pixel: dy, dx (flows) and the cell-probability logit
    maps = (("flows", 2), ("cellprob", 1))

    def targets(self, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training targets of one ``(H, W)`` label image (CPU).

        ``{"flows": (2, H, W)`` float32 = 5 x unit flows (dy, dx), ``"cellprob": (1, H, W)`` float32
        in {0, 1}``}``.
        """
        check_instances(instances)
        return {
            "flows": FLOW_SCALE * masks_to_flows(instances),
            "cellprob": (instances > 0).float().unsqueeze(0),
        }

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """``MSE(flows, 5 u) / 2 + BCE(cellprob)`` (see :func:`.loss.cellpose_loss`)."""
        return cellpose_loss(outputs, targets)

    def postprocess(
        self,
        outputs: dict[str, torch.Tensor],
        *,
        cellprob_threshold: float = 0.0,
        flow_threshold: float | None = 0.4,
        n_iter: int = 200,
        min_size: int = 15,
    ) -> list[torch.Tensor]:
        """Network outputs of a batch -> one ``(H, W)`` int64 label image per image.

        Cellpose's defaults: probability logit > 0, flow error <= 0.4, 200 Euler steps, masks
        >= 15 pixels (:func:`.postprocess.compute_masks`).
        """
        return [
            compute_masks(
                flows, cellprob[0], n_iter=n_iter, cellprob_threshold=cellprob_threshold,
                flow_threshold=flow_threshold, min_size=min_size,
            )
            for flows, cellprob in zip(outputs["flows"], outputs["cellprob"], strict=True)
        ]


@register_model("cellpose")
def cellpose(**kwargs) -> Cellpose:
    """Slim Cellpose for 128x128 synthetic cells: residual U-Net, depth 3, width 16.

    504,707 parameters with ``in_channels=1`` (checked in the tests).
    """
    config = dict(in_channels=1, depth=3, width=16, residual=True)
    return Cellpose(**{**config, **kwargs})
