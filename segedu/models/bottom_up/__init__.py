"""Bottom-up instance segmentation: per-pixel maps grouped into objects (Part IV, cells).

Every model here is a :class:`~.base.BottomUpModel`: ``forward`` gives a dict of per-pixel maps,
and ``targets(instances)``, ``loss(outputs, targets)``, ``postprocess(outputs, **options)`` and
``predict_instances(images, **options)`` have one signature for the family (:mod:`.base`).

- :mod:`.unet_weight_map`: ``unet_weight_map`` (U-Net's gaps and border weight map, then
  connected components; Ronneberger et al. 2015);
- :mod:`.stardist`: ``stardist`` (star-convex polygons; Schmidt et al. 2018);
- :mod:`.cellpose`: ``cellpose`` (flows from heat diffusion; Stringer et al. 2021);
- :mod:`.spatial_embedding`: ``spatial_embedding`` (offsets to the centre with a learned
  bandwidth; Neven et al. 2019);
- :mod:`.omnipose`: ``omnipose`` (flows up a smooth distance field to the skeleton; Cutler et al.
  2022);
- :mod:`.denoiseg`: ``denoiseg`` (Noise2Void denoising and three-class segmentation trained
  jointly; Buchholz et al. 2020).

:mod:`.flow_network` holds the network that Cellpose and Omnipose share (a U-Net whose output
channels are named maps); :mod:`.base` the contract, the label-image check and the renumbering.
"""

from . import (
    base,
    cellpose,
    denoiseg,
    flow_network,
    omnipose,
    spatial_embedding,
    stardist,
    unet_weight_map,
)

__all__ = ["base", "cellpose", "denoiseg", "flow_network", "omnipose", "spatial_embedding",
           "stardist", "unet_weight_map"]
