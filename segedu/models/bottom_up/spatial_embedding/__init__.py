"""Spatial embeddings with learned bandwidth (Neven et al., CVPR 2019), and distance-map targets.

One concept per module:

- :mod:`.coordinates`: the pixel coordinate map :math:`x_i` (about 1/1023 per pixel, as
  the reference);
- :mod:`.bandwidth`: the raw bandwidth :math:`q`, its precision ``exp(10 q) = 1/(2 sigma^2)`` and
  the Gaussian score :math:`\\phi_k`;
- :mod:`.loss`: the Lovász-hinge instance term, the bandwidth smoothness and the seed regression;
- :mod:`.clustering`: inference, seed by seed;
- :mod:`.model`: :class:`SpatialEmbedding` and the registered builder ``spatial_embedding``;
- :mod:`.distance_maps`: signed distance maps and centre offsets of a label image (regression
  targets of bottom-up methods).
"""

from . import model
from .bandwidth import SIGMA_SCALE, bandwidth, gaussian_score, precision
from .clustering import cluster_embeddings
from .coordinates import PIXEL_SIZE, coordinate_map
from .distance_maps import center_offsets, signed_distance_map
from .loss import CENTERS, spatial_embedding_loss
from .model import SpatialEmbedding, spatial_embedding

__all__ = ["model", "SpatialEmbedding", "spatial_embedding", "spatial_embedding_loss",
           "cluster_embeddings",
           "signed_distance_map", "center_offsets", "coordinate_map", "PIXEL_SIZE", "SIGMA_SCALE",
           "CENTERS",
           "bandwidth", "precision", "gaussian_score"]
