"""Bottom-up instance segmentation: per-pixel maps grouped into objects (Part IV, cells).

- :mod:`.unet_weight_map`: ``unet_weight_map`` (U-Net's gaps and border weight map, then
  connected components; Ronneberger et al. 2015);
- :mod:`.stardist`: ``stardist`` (star-convex polygons; Schmidt et al. 2018);
- :mod:`.cellpose`: ``cellpose`` (flows from heat diffusion; Stringer et al. 2021);
- :mod:`.spatial_embedding`: ``spatial_embedding`` (offsets to the centre with a learned
  bandwidth; Neven et al. 2019).
"""

from . import cellpose, spatial_embedding, stardist, unet_weight_map

__all__ = ["cellpose", "spatial_embedding", "stardist", "unet_weight_map"]
