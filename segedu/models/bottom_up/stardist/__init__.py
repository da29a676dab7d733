"""StarDist (Schmidt et al., MICCAI 2018): cell detection with star-convex polygons.

One concept per module:

- :mod:`.rays`: the star distances ``(R, H, W)`` of a label image (training target);
- :mod:`.probability`: the normalised distance transform ``(H, W)`` (training target);
- :mod:`.polygons`: polygons from distances, and polygons painted into a label image;
- :mod:`.nms`: greedy polygon NMS by intersection over the smaller area;
- :mod:`.model`: :class:`StarDist`, its loss and the registered builder ``stardist``.
"""

from . import model
from .model import StarDist, stardist, stardist_loss
from .nms import polygon_area, polygon_intersection_area, polygon_nms
from .polygons import rays_to_polygons, render_polygons, render_star_polygons
from .probability import object_probability
from .rays import ray_angles, ray_directions, star_distances

__all__ = ["model", "StarDist", "stardist", "stardist_loss", "polygon_area",
           "polygon_intersection_area",
           "polygon_nms", "rays_to_polygons", "render_polygons", "render_star_polygons",
           "object_probability",
           "ray_angles", "ray_directions", "star_distances"]
