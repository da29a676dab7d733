"""Pictures of images, labels and predictions, with matplotlib.

- ``palette.py``: class colours (:func:`palette`), instance colours (:func:`instance_colors`),
  shades of a class colour (:func:`shades`);
- ``image.py``: tensors and arrays to matplotlib's ``(H, W, 3)`` layout (:func:`to_numpy_image`);
- ``overlays.py``: label maps blended over their image (:func:`overlay_semantic`,
  :func:`overlay_instances`, :func:`overlay_panoptic`);
- ``boxes.py``: boxes with ``"name 0.93"`` captions (:func:`draw_boxes`);
- ``flows.py``: vector fields (Cellpose's flows, offsets to the centre) as colours
  (:func:`flow_to_rgb`) and as arrows over an image (:func:`draw_arrows`);
- ``anchors.py``: one level's feature cells over the image, its anchor positions and the
  anchors of a few positions (:func:`draw_anchor_grid`);
- ``grid.py``: figures (:func:`show_grid`, :func:`show_sample`);
- ``pr_curve.py``: COCO precision-recall curves (:func:`plot_precision_recall`);
- ``reliability.py``: reliability diagrams of calibration (:func:`reliability_diagram`);
- ``predictions.py``: label maps in colour (:func:`colorize`) and several models' predictions
  next to the ground truth (:func:`show_predictions`);
- ``conv_grid.py``: the input pixels that feed one output pixel of a dilated and of a
  transposed convolution, on a grid (:func:`draw_dilated_conv`, :func:`draw_transposed_conv`);
- ``unpooling.py``: max pooling's indices and max unpooling on a grid of numbers
  (:func:`draw_max_unpooling`);
- ``receptive_field.py``: the cone of cells one output depends on, through a stack of layers
  (:func:`draw_receptive_field`);
- ``roi_sampling.py``: RoIPool's rounded bins against RoIAlign's sampling points, from the
  ops' own functions (:func:`draw_roi_sampling`);
- ``rays.py``: StarDist's rays from one pixel and its star-convex polygon
  (:func:`draw_star_rays`);
- ``set_matching.py``: a one-to-one matching of predictions to objects, as boxes and as the
  cost matrix (:func:`draw_set_matching`);
- ``video.py``: a clip frame by frame, with rows of object masks (ground truth, predictions),
  each object in one colour throughout (:func:`show_clip`);
- ``diagram.py``: a network's block diagram, every shape recorded by running the model
  (:func:`draw_architecture`, or :func:`record_architecture` then :func:`draw_diagram`;
  :func:`svg_figure` for the book's vector output); ``architectures.py`` declares each family's
  structure (:func:`architecture`) with the types of ``diagram_structure.py``;
- ``sam_demo.py``: a Jupyter widget where a click prompts SAM and its three masks and scores are
  shown (:class:`~segedu.viz.sam_demo.SamClickDemo`; imported from its module, as it needs a
  notebook's widgets).
"""

from .anchors import AnchorGrid, draw_anchor_grid
from .architectures import architecture
from .boxes import box_caption, draw_boxes
from .conv_grid import ConvGrid, draw_dilated_conv, draw_transposed_conv, feeding_pixels
from .diagram import draw_architecture, draw_diagram, record_architecture, svg_figure
from .flows import draw_arrows, flow_to_rgb
from .grid import show_grid, show_sample
from .image import to_numpy_image, to_numpy_labels
from .overlays import (
    masks_from_labels,
    overlay_instances,
    overlay_panoptic,
    overlay_semantic,
    split_panoptic,
)
from .palette import BASE_COLORS, check_colors, instance_colors, palette, shades
from .pr_curve import plot_precision_recall
from .predictions import colorize, show_predictions
from .rays import draw_star_rays
from .receptive_field import ReceptiveFieldDrawing, draw_receptive_field
from .reliability import reliability_diagram
from .roi_sampling import RoiSampling, draw_roi_sampling
from .set_matching import SetMatching, draw_set_matching
from .unpooling import MaxUnpooling, draw_max_unpooling
from .video import show_clip

__all__ = [
    "palette",
    "instance_colors",
    "shades",
    "check_colors",
    "BASE_COLORS",
    "to_numpy_image",
    "to_numpy_labels",
    "overlay_semantic",
    "overlay_instances",
    "overlay_panoptic",
    "masks_from_labels",
    "split_panoptic",
    "draw_boxes",
    "box_caption",
    "show_grid",
    "show_sample",
    "plot_precision_recall",
    "reliability_diagram",
    "colorize",
    "show_predictions",
    "draw_roi_sampling",
    "RoiSampling",
    "draw_max_unpooling",
    "MaxUnpooling",
    "draw_receptive_field",
    "ReceptiveFieldDrawing",
    "draw_set_matching",
    "SetMatching",
    "flow_to_rgb",
    "draw_arrows",
    "draw_dilated_conv",
    "draw_transposed_conv",
    "feeding_pixels",
    "ConvGrid",
    "draw_anchor_grid",
    "AnchorGrid",
    "draw_star_rays",
    "draw_architecture",
    "record_architecture",
    "draw_diagram",
    "architecture",
    "svg_figure",
    "show_clip",
]
