"""Omnipose: a U-Net that predicts flows, a distance field and a boundary, and its masks.

Reference: K. J. Cutler, C. Stringer, T. W. Lo, L. Rappez, N. Stroustrup, S. Brook Peterson,
P. A. Wiggins, J. D. Mougous, "Omnipose: a high-precision morphology-independent solution for
bacterial cell segmentation", Nature Methods 19, 1438-1448 (2022),
https://doi.org/10.1038/s41592-022-01639-4; code: https://github.com/kevinjohncutler/omnipose
(reference here: omnipose 1.1.4).

Omnipose keeps Cellpose's idea (predict a flow field, follow it, group the pixels) and changes
what the flows point to: up the smooth *distance* field (:mod:`.distance_field`, :mod:`.flows`) to
the cell's skeleton rather than down a heat gradient to its centre. The network maps an image
``(N, C, H, W)`` to four maps per pixel, in Omnipose's order: the flows ``(dy, dx)`` (regressing
5x the unit flows), the distance field (the foreground is where it is > 0) and a boundary logit;
:func:`.reconstruction.compute_masks` turns them into masks.

The network is the one Omnipose shares with Cellpose (:class:`..flow_network.FlowNetwork`, a padded
residual U-Net; Omnipose's own network is Cellpose's residual U-Net with the style vector, and the
paper's point is the representation, not the network). What Omnipose adds is here: its targets
(flows up the distance field, the boundary), its loss and its mask reconstruction.
"""

from __future__ import annotations

import torch

from ...registry import register_model
from ..base import check_instances
from ..flow_network import FlowNetwork
from .flows import FLOW_SCALE, masks_to_flows
from .loss import omnipose_loss, omnipose_targets
from .neighbours import boundary
from .reconstruction import compute_masks

__all__ = ["Omnipose", "omnipose"]


class Omnipose(FlowNetwork):
    """Omnipose network: ``(N, in_channels, H, W)`` -> flows ``(N, 2, H, W)``, distance
    ``(N, 1, H, W)`` and boundary logits ``(N, 1, H, W)`` (:class:`..flow_network.FlowNetwork`'s
    arguments); the bottom-up family's ``targets``, ``loss``, ``postprocess`` and
    ``predict_instances`` (:mod:`segedu.models.bottom_up.base`).

    H and W must be multiples of ``2**depth``.
    """

    # 4 outputs per pixel: dy, dx (flows), the distance field, the boundary logit
    maps = (("flows", 2), ("distance", 1), ("boundary", 1))

    def targets(self, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training targets of one ``(H, W)`` label image (CPU): ``flows (2, H, W)`` = 5 x unit
        flows, ``distance``, ``boundary`` and ``weight`` ``(1, H, W)`` (see :mod:`.loss`)."""
        check_instances(instances)
        unit_flows, field = masks_to_flows(instances)
        return omnipose_targets(unit_flows, field, boundary(instances), instances, FLOW_SCALE)

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted MSE of the flows and of the distance, plus the boundary's BCE
        (:func:`.loss.omnipose_loss`)."""
        return omnipose_loss(outputs, targets)

    def postprocess(self, outputs: dict[str, torch.Tensor], *, mask_threshold: float = 0.0,
                    n_iter: int = 200, min_size: int = 9) -> list[torch.Tensor]:
        """Network outputs of a batch -> one ``(H, W)`` int64 label image per image.

        Omnipose's defaults: distance > 0 (hysteresis down to -1), 200 suppressed Euler steps,
        masks >= 9 pixels (:func:`.reconstruction.compute_masks`).
        """
        return [
            compute_masks(flows, distance[0], bd[0], mask_threshold=mask_threshold,
                          n_iter=n_iter, min_size=min_size)
            for flows, distance, bd in zip(outputs["flows"], outputs["distance"],
                                           outputs["boundary"], strict=True)
        ]


@register_model("omnipose")
def omnipose(**kwargs) -> Omnipose:
    """Slim Omnipose for 128x128 synthetic cells: residual U-Net, depth 3, width 16.

    504,724 parameters with ``in_channels=1`` (checked in the tests).
    """
    config = dict(in_channels=1, depth=3, width=16, residual=True)
    return Omnipose(**{**config, **kwargs})
